"""Images in the private bucket, direct uploads not yet checked, and share links to images."""

from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

# 32 bytes of randomness, 43 URL-safe characters: 256 bits, far past guessing.
SHARE_TOKEN_BYTES = 32


def new_share_token() -> str:
    return secrets.token_urlsafe(SHARE_TOKEN_BYTES)


class Image(models.Model):
    """One stored picture: the checked and re-encoded original and its WebP thumbnail."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="images",
        db_index=False,  # the (owner, created, id) index serves every owner lookup
    )
    title = models.CharField(max_length=200)
    # The name the file had on the uploader's machine, sanitised; only shown to its owner and
    # used in Content-Disposition, never in a key or on a shared page.
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=40)  # the validated type the stored bytes have
    format = models.CharField(max_length=10)  # Pillow's name of the uploaded format: JPEG, HEIF…
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    bytes = models.PositiveBigIntegerField()  # of the stored original; counts toward the quota
    key = models.CharField(max_length=300, unique=True)
    thumbnail_key = models.CharField(max_length=300)
    kept_metadata = models.BooleanField(
        default=False, help_text="The uploader asked to keep camera data (EXIF)."
    )
    created = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [
            models.Index(fields=["-created", "-id"], name="image_newest"),
            models.Index(fields=["owner", "-created", "-id"], name="image_owner_newest"),
        ]

    def __str__(self):
        return self.title

    # What strangers see when no title was given (the title defaults to the file name's stem).
    UNTITLED_SHARED = "Shared image"

    @property
    def shared_title(self) -> str:
        """The title as a share link shows it: never the uploader's file name."""
        stem = self.filename.rsplit(".", 1)[0] if "." in self.filename else self.filename
        untitled = self.title == stem[: self._meta.get_field("title").max_length]
        return self.UNTITLED_SHARED if untitled else self.title


class PendingUpload(models.Model):
    """A presigned POST we handed out: the browser puts the file under `key`, then completes."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=300, unique=True)
    filename = models.CharField(max_length=255)
    declared_type = models.CharField(max_length=100)
    declared_size = models.PositiveBigIntegerField()
    created = models.DateTimeField(default=timezone.now, editable=False)
    expires = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["created"], name="pending_upload_created")]

    def __str__(self):
        return f"{self.filename} ({self.id})"


class ShareLink(models.Model):
    """A link to one image at /s/<token>: it expires, can be revoked, and counts its views."""

    token = models.CharField(max_length=64, unique=True, default=new_share_token, editable=False)
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="links")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    created = models.DateTimeField(default=timezone.now, editable=False)
    expires = models.DateTimeField()
    max_views = models.PositiveIntegerField(null=True, blank=True)
    views = models.PositiveIntegerField(default=0)
    password = models.CharField(max_length=256, blank=True)  # Django's hasher; empty: none
    download = models.BooleanField(default=False, help_text="Served as an attachment.")
    revoked = models.DateTimeField(null=True, blank=True)
    # Distinct viewers without Redis: a HyperLogLog sketch (uploads/viewers.py).
    viewer_sketch = models.BinaryField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(max_views__isnull=True) | models.Q(max_views__gte=1),
                name="share_max_views_min_1",
            )
        ]

    def __str__(self):
        return f"link to {self.image_id} ({self.token[:6]}…)"

    @property
    def has_password(self) -> bool:
        return bool(self.password)

    def state(self, now=None) -> str:
        """ "open", or why it no longer opens: "revoked", "expired" or "used up"."""
        now = now or timezone.now()
        if self.revoked is not None:
            return "revoked"
        if self.expires <= now:
            return "expired"
        if self.max_views is not None and self.views >= self.max_views:
            return "used up"
        return "open"
