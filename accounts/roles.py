"""The portal's roles and how a provider's groups become roles. Defined here and nowhere else.

Roles are Django groups of the same name (created by a data migration), so the admin site and
permission checks see them like any other group.
"""

from functools import lru_cache

from django.conf import settings

USER = "USER"
ADMIN = "ADMIN"
ALL_ROLES = (USER, ADMIN)


@lru_cache(maxsize=8)
def parse_role_map(text: str) -> dict[str, frozenset[str]]:
    """Parse `OIDC_ROLE_MAP` ("portal-admins=ADMIN,portal-users=USER") into group -> roles."""
    mapping: dict[str, set[str]] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        group, sep, role = item.rpartition("=")
        role = role.strip().upper()
        if not sep or not group.strip() or role not in ALL_ROLES:
            raise ValueError(
                f"OIDC_ROLE_MAP entry {item!r} must look like provider-group=ROLE, "
                f"with ROLE one of {', '.join(ALL_ROLES)}"
            )
        mapping.setdefault(group.strip(), set()).add(role)
    return {group: frozenset(roles) for group, roles in mapping.items()}


def roles_for_groups(groups) -> set[str]:
    """The roles that a list of provider groups grants under the configured map."""
    role_map = parse_role_map(settings.OIDC_ROLE_MAP)
    return {role for group in groups or () for role in role_map.get(str(group), ())}


def roles_of(user) -> frozenset[str]:
    """The roles a signed-in user holds now; cached on the user object for this request."""
    if not getattr(user, "is_authenticated", False):
        return frozenset()
    cached = getattr(user, "_portal_roles", None)
    if cached is None:
        cached = frozenset(user.groups.filter(name__in=ALL_ROLES).values_list("name", flat=True))
        user._portal_roles = cached
    return cached


def has_role(user, *roles: str) -> bool:
    """True when the user holds at least one of the given roles."""
    return bool(roles_of(user) & set(roles))
