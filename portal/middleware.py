"""Responses to signed-in people are theirs alone: no shared or browser cache keeps them."""

from django.conf import settings
from django.utils.cache import patch_cache_control


class PrivateWhenSignedInMiddleware:
    """Cache-Control: private, no-store on every answer to a signed-in session.

    The API's endpoints mark every answer (portal.api.api_endpoint), Bearer calls and 401s
    included. Pages only get the header patched: add_never_cache_headers would also format an
    Expires date on every signed-in page, the busiest one included.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        # Without the session cookie nobody is signed in: don't load a session to find out.
        if settings.SESSION_COOKIE_NAME in request.COOKIES and request.user.is_authenticated:
            patch_cache_control(response, private=True, no_store=True)
        return response
