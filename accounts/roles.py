"""The portal's roles and how a provider's claims become roles. Defined here and nowhere else.

Roles are Django groups of the same name (created by a data migration), so the admin site and
permission checks see them like any other group. A request learns the user's roles once (from
the session, a Bearer token's claims or the database) through `remember_roles`, and everything
else asks `roles_of` or `has_role`.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from django.conf import settings

USER = "USER"
ADMIN = "ADMIN"
ALL_ROLES = (USER, ADMIN)

# Where this request's roles are kept on the user object; written by remember_roles alone.
_ROLES_ATTRIBUTE = "_portal_roles"


@lru_cache(maxsize=8)
def parse_role_map(text: str) -> dict[str, frozenset[str]]:
    """Parse `OIDC_ROLE_MAP` ("portal-admins=ADMIN,portal-users=USER") into group -> roles.

    Raises ValueError naming the bad entry; the system check (accounts.checks) reports it at
    start-up.
    """
    mapping: dict[str, set[str]] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        group, sep, role = item.rpartition("=")
        role = role.strip()
        if not sep or not group.strip():
            raise ValueError(f'"{item}" — expected provider-group=ROLE')
        if role.upper() not in ALL_ROLES:
            raise ValueError(f'"{item}" — unknown role {role} (expected {" or ".join(ALL_ROLES)})')
        mapping.setdefault(group.strip(), set()).add(role.upper())
    return {group: frozenset(roles) for group, roles in mapping.items()}


def claim_at_path(claims: dict[str, Any], path: str) -> Any:
    """A claim by literal name (e.g. "cognito:groups") or dotted path ("realm_access.roles")."""
    if path in claims:
        return claims[path]
    current: Any = claims
    for part in path.split("."):
        if not isinstance(current, dict) or part not in current:
            return None
        current = current[part]
    return current


def groups_in_claims(*claim_sets: dict[str, Any]) -> list[str]:
    """The provider groups in the configured roles claim (OIDC_ROLES_CLAIM), taken from the
    first claim set that has it (an id_token, then userinfo).

    Providers send a list, sometimes one string; anything else counts as no groups.
    """
    for claims in claim_sets:
        value = claim_at_path(claims, settings.OIDC_ROLES_CLAIM)
        if value is None:
            continue
        if isinstance(value, str):
            return [value]
        if isinstance(value, list):
            return [str(item) for item in value if isinstance(item, str | int)]
        return []
    return []


def roles_for_groups(groups: Iterable[str]) -> frozenset[str]:
    """The roles that a list of provider groups grants under the configured map."""
    role_map = parse_role_map(settings.OIDC_ROLE_MAP)
    return frozenset(role for group in groups or () for role in role_map.get(str(group), ()))


def remember_roles(user, roles: Iterable[str]) -> None:
    """Attach the roles that hold for this request to the user object (the only writer)."""
    setattr(user, _ROLES_ATTRIBUTE, frozenset(roles))


def roles_of(user) -> frozenset[str]:
    """The roles a signed-in user holds now (the only reader); from the database at most once
    per request when nothing was remembered."""
    if not getattr(user, "is_authenticated", False):
        return frozenset()
    roles = getattr(user, _ROLES_ATTRIBUTE, None)
    if roles is None:
        roles = frozenset(user.groups.filter(name__in=ALL_ROLES).values_list("name", flat=True))
        remember_roles(user, roles)
    return roles


def has_role(user, *roles: str) -> bool:
    """True when the user holds at least one of the given roles."""
    return bool(roles_of(user) & set(roles))


def is_portal_admin(user) -> bool:
    """May manage every order and open the admin site."""
    return has_role(user, ADMIN)


def is_portal_member(user) -> bool:
    """Holds any portal role: may see their orders (and, later, images)."""
    return has_role(user, *ALL_ROLES)
