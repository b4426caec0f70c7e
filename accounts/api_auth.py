"""Who an API access token speaks for. The rest of the API's machinery is in `portal.api`."""

from __future__ import annotations

from django.conf import settings

from accounts.provider import TokenError
from accounts.roles import groups_in_claims, remember_roles, roles_for_groups
from accounts.services import user_get_or_create
from accounts.tokens import validate_access_token


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
