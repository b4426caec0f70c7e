"""Who an API access token speaks for. The rest of the API's machinery is in `portal.api`."""

from __future__ import annotations

from django.conf import settings

from accounts.backends import groups_from_claim
from accounts.provider import TokenError
from accounts.roles import roles_for_groups
from accounts.services import user_get_or_create
from accounts.tokens import claim_at_path, validate_access_token


def user_for_access_token(token: str):
    """The user a valid access token speaks for, with the roles the token itself carries."""
    claims = validate_access_token(token)
    user = user_get_or_create(
        issuer=settings.OIDC_ISSUER, subject=claims["sub"], email=str(claims.get("email") or "")
    )
    if not user.is_active:
        raise TokenError("this account is disabled in the portal")
    groups = groups_from_claim(claim_at_path(claims, settings.OIDC_ROLES_CLAIM))
    user._portal_roles = frozenset(roles_for_groups(groups))  # this request's roles: the token's
    return user
