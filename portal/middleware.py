"""Responses to signed-in people are theirs alone: no shared or browser cache keeps them."""

from django.conf import settings
from django.utils.cache import add_never_cache_headers


class PrivateWhenSignedInMiddleware:
    """Cache-Control: private, no-store (and no-cache) on every answer to a signed-in session.

    The API's endpoints do the same for every answer (portal.api.api_endpoint), Bearer calls and
    401s included.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        # Without the session cookie nobody is signed in: don't load a session to find out.
        if settings.SESSION_COOKIE_NAME in request.COOKIES and request.user.is_authenticated:
            add_never_cache_headers(response)
        return response
