"""Who is calling the JSON API: a Bearer access token, or the browser's session.

Errors are JSON with a closed list of codes; a bad token is a 401 with WWW-Authenticate, never a
redirect to the sign-in page (an API client can't follow one).
"""

from __future__ import annotations

import logging
from functools import wraps

from django.conf import settings
from django.http import JsonResponse
from django.middleware.csrf import CsrfViewMiddleware

from accounts import signin
from accounts.provider import ProviderError, TokenError
from accounts.roles import groups_in_claims, has_role, remember_roles, roles_for_groups
from accounts.services import user_get_or_create
from accounts.tokens import validate_access_token

logger = logging.getLogger(__name__)


def api_error(status: int, code: str, detail: str, *, headers: dict | None = None) -> JsonResponse:
    """Every API error has this shape: {"error": <code>, "detail": <sentence>}."""
    response = JsonResponse({"error": code, "detail": detail}, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def unauthenticated(detail: str, *, invalid_token: bool = False) -> JsonResponse:
    challenge = 'Bearer realm="api"'
    if invalid_token:
        escaped = detail.replace('"', "'")
        challenge += f', error="invalid_token", error_description="{escaped}"'
    return api_error(401, "unauthenticated", detail, headers={"WWW-Authenticate": challenge})


def user_for_access_token(token: str):
    """The user a valid access token speaks for, with the roles the token itself carries."""
    claims = validate_access_token(token)
    user = user_get_or_create(
        issuer=settings.OIDC_ISSUER, subject=claims["sub"], email=str(claims.get("email") or "")
    )
    if not user.is_active:
        raise TokenError("this account is disabled in the portal")
    # This request's roles are the token's, whatever the last sign-in synced.
    remember_roles(user, roles_for_groups(groups_in_claims(claims)))
    return user


class _CsrfCheck(CsrfViewMiddleware):
    """Django's own CSRF check, answering the failure reason instead of a 403 page."""

    def _reject(self, request, reason):
        return reason


_csrf_check = _CsrfCheck(lambda request: None)


def api_view(*roles: str):
    """Authenticate an API request (Bearer token or fresh session) and require one of `roles`."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            header = request.headers.get("Authorization", "")
            if header:
                scheme, _, token = header.partition(" ")
                if scheme.lower() != "bearer" or not token.strip():
                    return unauthenticated("use 'Authorization: Bearer <access token>'")
                try:
                    request.user = user_for_access_token(token.strip())
                except TokenError as error:
                    logger.info("API token refused: %s", error.reason)
                    return unauthenticated(error.reason, invalid_token=True)
                except ProviderError as error:
                    logger.warning("API token check failed: %s", error)
                    return api_error(
                        503,
                        "unavailable",
                        "the sign-in provider is not answering; try again shortly",
                        headers={"Retry-After": str(error.retry_after_seconds)},
                    )
            elif request.user.is_authenticated:
                if signin.session_needs_refresh(request):
                    return unauthenticated("your session has expired; sign in again")
                # Cookies ride along on cross-site requests: unsafe methods need the CSRF token.
                reason = _csrf_check.process_view(request, None, (), {})
                if reason is not None:
                    return api_error(403, "forbidden", f"CSRF check failed: {reason}")
            else:
                return unauthenticated("sign in, or send 'Authorization: Bearer <access token>'")
            if roles and not has_role(request.user, *roles):
                return api_error(403, "forbidden", "your account has no role that allows this")
            return view(request, *args, **kwargs)

        # The session's CSRF cookie check is done above, only for cookie-authenticated calls.
        wrapped.csrf_exempt = True
        return wrapped

    return decorator
