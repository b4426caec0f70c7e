"""The sign-in backend: mozilla-django-oidc's backend with every check it leaves out.

Per sign-in it makes two calls to the provider (token and userinfo); discovery and keys come
from the per-process caches in accounts.provider.
"""

from __future__ import annotations

import copy
import logging
import time
from urllib.parse import quote_plus

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from requests.auth import HTTPBasicAuth

from accounts import provider, signin
from accounts.provider import ProviderError, TokenError
from accounts.roles import groups_in_claims, roles_for_groups
from accounts.services import user_set_roles, user_upsert_from_claims
from accounts.tokens import checked_identity_claims, validate_id_token

logger = logging.getLogger(__name__)

# Pages read the signed-in user from the cache (Redis in production) instead of PostgreSQL.
# Any save or delete of the user drops the entry (accounts.apps), so changes apply at once.
USER_CACHE_SECONDS = 300
# Each process also keeps the users it served in the last few seconds, which saves every page a
# Redis round trip. The process that saves a user forgets it at once; others within this time,
# so an account deactivated in the admin site is refused everywhere at most this much later.
USER_PROCESS_CACHE_SECONDS = 5
_recently_served: dict[str, tuple[float, object]] = {}


def user_cache_key(user_id) -> str:
    return f"portal:user:{user_id}"


def forget_cached_user(sender, instance, using=None, **kwargs) -> None:
    user_id = instance.pk

    def forget():
        _recently_served.pop(str(user_id), None)
        cache.delete(user_cache_key(user_id))

    forget()
    # Until the save commits, another request still reads the old row and may cache it again.
    transaction.on_commit(forget, using=using)


def forget_recently_served_users() -> None:
    """Empty this process's short-lived copies (tests: ids come back after a rollback)."""
    _recently_served.clear()


def _user_from_caches(user_model, user_id):
    key = str(user_id)
    now = time.monotonic()
    recent = _recently_served.get(key)
    if recent is not None and recent[0] > now:
        return copy.copy(recent[1])  # every request gets its own instance to change
    user = cache.get(user_cache_key(key))
    if user is None:
        user = user_model.objects.filter(pk=user_id).first()
        if user is not None:
            cache.set(user_cache_key(key), user, USER_CACHE_SECONDS)
    if len(_recently_served) > 10_000:  # a bound, not an eviction policy
        _recently_served.clear()
    if user is not None:
        _recently_served[key] = (now + USER_PROCESS_CACHE_SECONDS, copy.copy(user))
    return user


class PortalOIDCBackend(OIDCAuthenticationBackend):
    """Authorization-code sign-in; raises SignInFailed with a status and reason on any failure."""

    def __init__(self, *args, **kwargs):
        # The parent reads every endpoint from settings here; ours come from discovery, lazily.
        from django.contrib.auth import get_user_model

        self.UserModel = get_user_model()

    def authenticate(self, request, nonce=None, code_verifier=None, **kwargs):
        if request is None or kwargs or not nonce or not code_verifier:
            return None  # a password or some other backend's credentials: not ours
        code = request.GET.get("code")
        if not code:
            raise signin.SignInFailed(
                400, "the provider sent no authorization code", code="no_code"
            )
        try:
            tokens = self.get_token_pair(request, code=code, code_verifier=code_verifier)
            id_claims = validate_id_token(tokens["id_token"], nonce=nonce)
            userinfo = self.get_userinfo(tokens["access_token"], tokens["id_token"], id_claims)
        except TokenError as error:
            raise signin.SignInFailed(401, error.reason) from error
        except ProviderError as error:
            raise signin.SignInFailed(502, str(error)) from error
        if userinfo.get("sub") != id_claims["sub"]:
            raise signin.SignInFailed(
                401, "the provider's user details are for another user", code="userinfo_mismatch"
            )

        claims = {**userinfo, **id_claims}
        groups = groups_in_claims(id_claims, userinfo)
        user = user_upsert_from_claims(issuer=settings.OIDC_ISSUER, claims=claims)
        if not user.is_active:
            raise signin.SignInFailed(
                401, "this account is disabled in the portal", code="account_disabled"
            )
        user_set_roles(user=user, roles=roles_for_groups(groups))

        request.session[signin.SESSION_ID_TOKEN] = tokens["id_token"]
        request.session[signin.SESSION_ACCESS_TOKEN] = tokens["access_token"]
        request.session[signin.SESSION_CLAIMS] = {
            "sub": id_claims["sub"],
            "iss": id_claims["iss"],
            "email": claims.get("email"),
            "name": claims.get("name"),
            settings.OIDC_ROLES_CLAIM: groups,
        }
        return user

    def get_user(self, user_id):
        """The signed-in user for a session, from the cache when possible; None if deactivated.

        mozilla-django-oidc's own get_user skips the is_active check that Django's backend
        makes, so an account disabled in the admin kept its sessions; here it loses them.
        """
        user = _user_from_caches(self.UserModel, user_id)
        return user if user is not None and self.user_can_authenticate(user) else None

    def get_token_pair(self, request, *, code: str, code_verifier: str) -> dict:
        """Exchange the code (with the PKCE verifier) for an id_token and an access token."""
        response = provider.provider_request(
            "token",
            "POST",
            provider.endpoint("token_endpoint"),
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": signin.callback_url(request),
                "code_verifier": code_verifier,
            },
            # RFC 6749 section 2.3.1: id and secret are form-encoded before they go into Basic,
            # so a secret with "+", "%" or ":" arrives as it was set.
            auth=HTTPBasicAuth(
                quote_plus(settings.OIDC_RP_CLIENT_ID), quote_plus(settings.OIDC_RP_CLIENT_SECRET)
            ),
            headers={"Accept": "application/json"},
        )
        if response.status_code != 200:
            raise token_endpoint_failure(response)
        body = response.json()
        for name in ("id_token", "access_token"):
            if not isinstance(body.get(name), str) or not body[name]:
                raise ProviderError(f"the provider's token answer has no {name}")
        return body

    def get_userinfo(self, access_token, id_token, payload):
        """The provider's user details for this access token (one call, JSON only)."""
        response = provider.userinfo_response(access_token)
        if response.status_code != 200:
            raise ProviderError(
                f"the provider refused the user details (HTTP {response.status_code})"
            )
        return checked_identity_claims(response.json())


def _oauth_error(response) -> tuple[str, str]:
    """The error code of a token-endpoint answer (or its HTTP status), and its description."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    error = body.get("error")
    description = body.get("error_description")
    code = error if isinstance(error, str) and error else f"HTTP {response.status_code}"
    return code[:100], (description if isinstance(description, str) else "")[:300]


def token_endpoint_failure(response) -> signin.SignInFailed:
    """The sign-in failure for a token-endpoint error (RFC 6749 section 5.2), each in its words.

    Only invalid_grant (the code expired or was used) is about the sign-in itself; the others
    are the portal's configuration, which trying again will not fix.
    """
    code, description = _oauth_error(response)
    logger.warning("the token endpoint answered %s: %s", code, description or "(no description)")
    if code == "invalid_grant":
        return signin.SignInFailed(
            400,
            "the sign-in code has expired or was already used (invalid_grant)",
            code="invalid_grant",
        )
    ask = f"Trying again will not help; please tell {settings.SUPPORT_CONTACT}."
    if code == "invalid_client":
        return signin.SignInFailed(
            502,
            "the sign-in provider refused the portal's client id or secret (invalid_client)",
            advice="This is a setting of the portal, not a problem with your account: whoever "
            "runs the portal should check OIDC_CLIENT_ID and OIDC_CLIENT_SECRET against the "
            f"app registered at the provider. {ask}",
            code="invalid_client",
        )
    if code == "unauthorized_client":
        return signin.SignInFailed(
            502,
            "the sign-in provider does not let the portal sign people in with a code "
            "(unauthorized_client)",
            advice="Whoever runs the portal should allow the Authorization Code grant for the "
            f"portal's app at the provider. {ask}",
            code="unauthorized_client",
        )
    return signin.SignInFailed(
        502,
        f"the sign-in provider refused to finish the sign-in ({code})",
        advice=f"This is not a problem with your account. {ask}",
    )
