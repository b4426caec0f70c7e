"""The audit trail in the admin site: browsed and searched, never added to, changed or deleted,
by anyone (superusers included)."""

from django.contrib import admin
from django.utils import timezone

from audit.models import AuditEvent


def _zoned(moment) -> str:
    """ "2 Dec 2026, 06:15:03 CET": to the second, in the portal's zone, named."""
    local = timezone.localtime(moment, timezone.get_default_timezone())
    return f"{local.day} {local:%b %Y, %H:%M:%S} {local.tzname()}"


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("when", "action", "actor_name", "target", "ip", "request_id")
    list_filter = ("action", "at", ("actor", admin.RelatedOnlyFieldListFilter))
    date_hierarchy = "at"
    search_fields = ("target", "request_id", "actor_name")
    fields = ("when", "action", "actor", "actor_name", "target", "ip", "request_id", "details")
    readonly_fields = fields
    list_select_related = ("actor",)
    show_full_result_count = False  # the trail grows large: no second COUNT(*) of all of it

    @admin.display(description="time", ordering="at")
    def when(self, event):
        return _zoned(event.at)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
