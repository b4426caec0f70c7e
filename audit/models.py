"""The audit trail: who did what to which thing, from where, in which request, and when."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class AuditEvent(models.Model):
    """One recorded action, written in the same transaction as the change it records.

    Rows are never changed: the only permission is "view" (no add, change or delete exists).
    """

    class Action(models.TextChoices):
        SIGN_IN = "sign_in", "signed in"
        SIGN_IN_FAILED = "sign_in_failed", "sign-in failed"
        SIGN_OUT = "sign_out", "signed out"
        ROLES_CHANGED = "roles_changed", "roles changed at sign-in"
        ORDER_STATUS_CHANGED = "order_status_changed", "order status changed"
        IMAGE_UPLOADED = "image_uploaded", "image uploaded"
        IMAGE_DELETED = "image_deleted", "image deleted"
        IMAGES_DELETED_ALL = "images_deleted_all", "all of a person's images deleted"
        LINK_CREATED = "link_created", "share link created"
        LINK_CHANGED = "link_changed", "share link changed"
        LINK_REVOKED = "link_revoked", "share link revoked"
        LINK_PASSWORD_FAILED = "link_password_failed", "wrong share-link password"

    # SET_NULL and a copy of who it was: deleting a person keeps their trail readable.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    actor_name = models.CharField("actor (as recorded)", max_length=400, blank=True)
    action = models.CharField(max_length=32, choices=Action.choices)
    target = models.CharField(max_length=200, blank=True)
    ip = models.GenericIPAddressField("IP address", null=True, blank=True)
    request_id = models.CharField("request id", max_length=128, blank=True)
    details = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField("time", default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-at", "-id"]
        default_permissions = ("view",)
        indexes = [models.Index(fields=["actor", "at"], name="audit_actor_at")]

    def __str__(self):
        return f"{self.get_action_display()}: {self.target or '-'}"
