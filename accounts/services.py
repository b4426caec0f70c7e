"""Writes to accounts: creating and refreshing users from a provider's claims, syncing roles."""

import hashlib

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.db import transaction

from accounts.models import User
from accounts.roles import ADMIN, ALL_ROLES, remember_roles
from audit.services import Action, audit_record


def _username_for(issuer: str, subject: str) -> str:
    # Django needs a unique username; the identity itself is (issuer, sub).
    digest = hashlib.sha256(f"{issuer}\n{subject}".encode()).hexdigest()[:20]
    return f"oidc-{digest}"


def user_get_or_create(*, issuer: str, subject: str, email: str = "") -> User:
    """The user for this identity, created on first sight without touching an existing one."""
    user, _created = User.objects.get_or_create(
        oidc_issuer=issuer,
        oidc_subject=subject,
        defaults={
            "username": _username_for(issuer, subject),
            "email": email[:254],
            "password": make_password(None),  # unusable: the provider vouches, not a password
        },
    )
    return user


@transaction.atomic
def user_upsert_from_claims(*, issuer: str, claims: dict) -> User:
    """Find the user by (issuer, sub) or create them; refresh name and email from the claims."""
    subject = str(claims["sub"])
    user, _created = User.objects.select_for_update().get_or_create(
        oidc_issuer=issuer,
        oidc_subject=subject,
        defaults={
            "username": _username_for(issuer, subject),
            "password": make_password(None),  # unusable: the provider vouches, not a password
        },
    )
    user.email = str(claims.get("email") or "")[:254]
    user.first_name = str(claims.get("given_name") or "")[:150]
    user.last_name = str(claims.get("family_name") or "")[:150]
    if not (user.first_name or user.last_name) and claims.get("name"):
        user.first_name = str(claims["name"])[:150]
    user.save(update_fields=["email", "first_name", "last_name"])
    return user


def role_groups_ensure() -> list[Group]:
    """The role groups; recreated if missing (the migration made them, but a flush can't undo)."""
    groups = list(Group.objects.filter(name__in=ALL_ROLES))
    if len(groups) < len(ALL_ROLES):
        for name in set(ALL_ROLES) - {g.name for g in groups}:
            groups.append(Group.objects.create(name=name))
        role_admin_grant_permissions()
    return groups


@transaction.atomic
def user_set_roles(*, user: User, roles: set[str]) -> None:
    """Make the user's role groups exactly `roles`; ADMIN also opens the admin site. A change
    is recorded in the audit trail, with the roles before and after."""
    unknown = set(roles) - set(ALL_ROLES)
    if unknown:
        raise ValueError(f"unknown roles: {', '.join(sorted(unknown))}")
    role_groups = role_groups_ensure()
    before = set(user.groups.filter(name__in=ALL_ROLES).values_list("name", flat=True))
    if before != set(roles):
        user.groups.remove(*[g for g in role_groups if g.name not in roles])
        user.groups.add(*[g for g in role_groups if g.name in roles])
        audit_record(
            action=Action.ROLES_CHANGED,
            actor=user,
            target=f"user {user.pk}",
            details={"from": sorted(before), "to": sorted(roles)},
        )
    is_admin = ADMIN in roles
    if user.is_staff != is_admin:
        user.is_staff = is_admin
        user.save(update_fields=["is_staff"])
    remember_roles(user, roles)


def role_admin_grant_permissions(**kwargs) -> None:
    """Give the ADMIN group every permission of the ADMIN_MANAGED_APPS (after each migrate)."""
    from django.contrib.auth.models import Permission

    group, _ = Group.objects.get_or_create(name=ADMIN)
    group.permissions.set(
        Permission.objects.filter(content_type__app_label__in=settings.ADMIN_MANAGED_APPS)
    )
