"""Re-check signed-in browser sessions with the provider every OIDC_SESSION_REFRESH_SECONDS.

Also hands the roles synced at sign-in to `roles_of`, so pages need no query to learn them.
"""

from django.http import HttpResponseRedirect

from accounts import signin
from accounts.provider import ProviderError
from accounts.roles import remember_roles

# The sign-in flow itself and the API (which answers 401 instead) are never redirected.
EXEMPT_PREFIXES = ("/oidc/", "/api/", "/static/")


class SessionRefreshMiddleware:
    """Silent re-authentication (prompt=none): a user disabled at the provider loses access."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        roles = request.session.get(signin.SESSION_ROLES)
        if roles is not None and request.user.is_authenticated:
            remember_roles(request.user, roles)
        if (
            request.method == "GET"
            and request.user.is_authenticated
            and not request.path.startswith(EXEMPT_PREFIXES)
            and signin.session_needs_refresh(request)
        ):
            try:
                url = signin.authorization_redirect(
                    request, next_path=request.get_full_path(), prompt="none"
                )
            except ProviderError:
                # The provider is down: keep serving and try again on the next request.
                return self.get_response(request)
            return HttpResponseRedirect(url)
        return self.get_response(request)
