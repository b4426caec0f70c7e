"""The Django admin site, opened by the ADMIN role and signed in through the same SSO."""

from functools import wraps

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import reverse

from accounts.roles import ADMIN, has_role
from accounts.signin import safe_next_path


class PortalAdminSite(admin.AdminSite):
    site_header = "Order Portal administration"
    site_title = "Order Portal admin"
    index_title = "Manage the portal"

    def has_permission(self, request):
        user = request.user
        if not user.is_active:
            return False
        if has_role(user, ADMIN):
            return True
        # A break-glass superuser only counts when that login is deliberately enabled.
        return settings.ADMIN_BREAK_GLASS_LOGIN and user.may_sign_in_with_password

    def admin_view(self, view, cacheable=False):
        """Straight to SSO sign-in, or straight to the 403 page: no detour via a login form."""
        inner = super().admin_view(view, cacheable)

        @wraps(inner)
        def gated(request, *args, **kwargs):
            if not settings.ADMIN_BREAK_GLASS_LOGIN and not self.has_permission(request):
                if not request.user.is_authenticated:
                    return redirect_to_login(request.get_full_path())
                raise PermissionDenied
            return inner(request, *args, **kwargs)

        return gated

    def logout(self, request, extra_context=None):
        """The portal's sign-out page (it ends the provider session too), as everywhere else."""
        return HttpResponseRedirect(reverse("oidc_logout"))

    def password_change(self, request, extra_context=None):
        """Only for an account with a password: SSO users have none here, so nothing to change."""
        if not request.user.has_usable_password():
            raise PermissionDenied
        return super().password_change(request, extra_context)

    def login(self, request, extra_context=None):
        """No password form: anonymous people sign in with SSO, others get the 403 page."""
        if settings.ADMIN_BREAK_GLASS_LOGIN:
            return super().login(request, extra_context)
        next_path = safe_next_path(request.GET.get("next"))
        if request.user.is_authenticated:
            if self.has_permission(request):  # an old bookmark of the login page
                return HttpResponseRedirect(
                    next_path or reverse("admin:index", current_app=self.name)
                )
            raise PermissionDenied  # signed in without ADMIN: a clear 403, never a redirect loop
        return redirect_to_login(next_path or reverse("admin:index", current_app=self.name))
