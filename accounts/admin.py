"""People in the admin site. ADMINs look after accounts but can never raise anyone's privileges.

Roles and staff status of SSO users come from the provider at every sign-in, so they are read-only
here. Only a superuser may set the superuser flag, permissions or a password, and nobody adds
users in the admin: people appear at their first SSO sign-in, and break-glass superusers are made
with `manage.py createsuperuser` on the server.
"""

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import UserChangeForm
from django.core.exceptions import PermissionDenied

from accounts.models import User

PRIVILEGE_FIELDS = ("is_staff", "is_superuser", "groups", "user_permissions")
FROM_THE_PROVIDER = ("is_staff", "groups")  # re-synced from the roles claim at every sign-in


class UserChangeFormWithoutPassword(UserChangeForm):
    password = None  # the read-only hash and its "Reset password" link


@admin.register(User)
class PortalUserAdmin(UserAdmin):
    list_display = ("username", "email", "first_name", "last_name", "oidc_subject", "is_staff")
    search_fields = ("username", "email", "first_name", "last_name", "oidc_subject")
    fieldsets = (
        *UserAdmin.fieldsets,
        ("OpenID identity", {"fields": ("oidc_issuer", "oidc_subject", "break_glass")}),
    )
    readonly_fields = ("oidc_issuer", "oidc_subject", "break_glass", "last_login", "date_joined")

    def get_fieldsets(self, request, obj=None):
        """No password (and no link to its form) for anyone but a superuser."""
        fieldsets = super().get_fieldsets(request, obj)
        if request.user.is_superuser:
            return fieldsets
        return [
            (name, {**options, "fields": [f for f in options["fields"] if f != "password"]})
            for name, options in fieldsets
        ]

    def get_form(self, request, obj=None, **kwargs):
        if obj is not None and not request.user.is_superuser:
            kwargs["form"] = UserChangeFormWithoutPassword
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            readonly += PRIVILEGE_FIELDS
        elif obj is not None and obj.oidc_subject:
            readonly += FROM_THE_PROVIDER
        return readonly

    def has_add_permission(self, request):
        # An account made here could never sign in: no SSO identity, and not break-glass.
        return False

    def has_change_permission(self, request, obj=None):
        """ADMINs may look at a superuser, not change them (nor lock out the break-glass one)."""
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_delete_permission(request, obj)

    def user_change_password(self, request, id, form_url=""):
        """Only a superuser sets passwords, and only for accounts that sign in without SSO."""
        if not request.user.is_superuser:
            raise PermissionDenied
        user = self.get_object(request, unquote(id))
        if user is not None and user.oidc_subject:
            raise PermissionDenied
        return super().user_change_password(request, id, form_url)
