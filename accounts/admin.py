from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from accounts.models import User


@admin.register(User)
class PortalUserAdmin(UserAdmin):
    list_display = ("username", "email", "first_name", "last_name", "oidc_subject", "is_staff")
    search_fields = ("username", "email", "first_name", "last_name", "oidc_subject")
    fieldsets = (
        *UserAdmin.fieldsets,
        ("OpenID identity", {"fields": ("oidc_issuer", "oidc_subject")}),
    )
    readonly_fields = ("oidc_issuer", "oidc_subject", "last_login", "date_joined")
