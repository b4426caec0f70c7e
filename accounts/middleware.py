"""Re-check signed-in browser sessions with the provider every OIDC_SESSION_REFRESH_SECONDS.

Also hands the roles synced at sign-in to `roles_of`, so pages need no query to learn them.
"""

from urllib.parse import urlsplit, urlunsplit

from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from accounts import provider, signin
from accounts.provider import ProviderError
from accounts.roles import remember_roles

# The sign-in flow itself and the API (which answers 401 instead) are never redirected.
EXEMPT_PREFIXES = ("/oidc/", "/api/", "/static/")
# Requests that change nothing may take the detour through the provider and come back.
SAFE_METHODS = ("GET", "HEAD")


class SessionRefreshMiddleware:
    """Silent re-authentication (prompt=none): a user disabled at the provider loses access.

    A due session may not change anything: a redirect would lose what a form sent, so a POST
    (or any unsafe method) gets a page that says nothing was saved, with a link back to the
    page the form was on, whose GET runs the check and returns there.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        roles = request.session.get(signin.SESSION_ROLES)
        if roles is not None and request.user.is_authenticated:
            remember_roles(request.user, roles)
        if (
            request.user.is_authenticated
            and not request.path.startswith(EXEMPT_PREFIXES)
            and signin.session_needs_refresh(request)
        ):
            if request.method not in SAFE_METHODS:
                return session_check_needed(request, provider_down=not _provider_answers())
            try:
                url = signin.authorization_redirect(
                    request, next_path=request.get_full_path(), prompt="none"
                )
            except ProviderError:
                # The provider is down: keep serving and try again on the next request.
                return self.get_response(request)
            return HttpResponseRedirect(url)
        return self.get_response(request)


def _provider_answers() -> bool:
    try:
        provider.check_reachable(provider.endpoint("authorization_endpoint"))
    except ProviderError:
        return False
    return True


def session_check_needed(request, *, provider_down: bool = False):
    """403 for a write on a due session: nothing done; the way back runs the check. 503 when
    the provider is down: the check can't run, so writes wait while pages keep being served."""
    context = {
        "continue_url": _page_the_form_was_on(request) or reverse("home"),
        "provider_down": provider_down,
    }
    status = 503 if provider_down else 403
    response = render(request, "accounts/session_check_needed.html", context, status=status)
    if provider_down:
        response["Retry-After"] = str(ProviderError.retry_after_seconds)
    return response


def _page_the_form_was_on(request) -> str | None:
    """The Referer's path when it is a page of this site (a form's target may be POST-only)."""
    referer = request.headers.get("Referer", "")
    if not url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return None
    parts = urlsplit(referer)
    return signin.safe_next_path(urlunsplit(("", "", parts.path, parts.query, "")))
