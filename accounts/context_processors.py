from django.conf import settings

from accounts.roles import is_portal_admin, is_portal_member, roles_of


def portal(request):
    """What every page's header needs: plain role flags, the role names to show, whom to ask."""
    user = getattr(request, "user", None)
    return {
        "is_portal_admin": user is not None and is_portal_admin(user),
        "is_portal_member": user is not None and is_portal_member(user),
        "role_names": sorted(roles_of(user)) if user is not None else [],
        "support_contact": settings.SUPPORT_CONTACT,
    }
