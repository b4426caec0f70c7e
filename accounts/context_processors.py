from django.conf import settings

from accounts.roles import roles_of


def portal(request):
    """What every page's header needs: the user's roles and whom to ask for access."""
    user = getattr(request, "user", None)
    return {
        "user_roles": sorted(roles_of(user)) if user is not None else [],
        "support_contact": settings.SUPPORT_CONTACT,
    }
