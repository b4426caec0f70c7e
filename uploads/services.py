"""Writes to images: storing a checked upload (by either path), deleting, and the cleanup.

Every path into storage ends in `image_store`, so the checks and the quota are in one place. A
refused or failed upload leaves nothing behind: no object in S3 and no row.
"""

from __future__ import annotations

import io
import logging
import tempfile
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.http import content_disposition_header

from accounts.models import User
from audit.services import Action, audit_record
from portal.purge import delete_in_batches
from uploads import s3
from uploads.models import Image, PendingUpload
from uploads.processing import (
    BadImage,
    ImageRefused,
    megabytes,
    process_image,
    safe_filename,
    size_problem,
)

logger = logging.getLogger(__name__)

# Stale direct uploads (never completed) are removed after this long.
STALE_UPLOAD_AGE = timedelta(days=1)
TITLE_MAX_LENGTH = Image._meta.get_field("title").max_length
# Spooled to disk past this: a 20 MB upload is never held whole in memory while downloading.
SPOOL_BYTES = 1024 * 1024


class QuotaExceeded(ImageRefused):
    code = "quota_exceeded"


class UnknownUpload(LookupError):
    """No pending upload with that id for this user (or it was already completed)."""


def quota_used(owner) -> int:
    """Bytes of the owner's stored originals (what UPLOAD_QUOTA_BYTES limits)."""
    return Image.objects.filter(owner=owner).aggregate(total=Sum("bytes"))["total"] or 0


def quota_problem(owner, adding: int) -> QuotaExceeded | None:
    used = quota_used(owner)
    if used + adding <= settings.UPLOAD_QUOTA_BYTES:
        return None
    return QuotaExceeded(
        f"this would go over your storage: {megabytes(used)} of "
        f"{megabytes(settings.UPLOAD_QUOTA_BYTES)} used; delete some images first"
    )


def _title_from(title: str, filename: str) -> str:
    title = " ".join((title or "").split())
    if not title:
        title = filename.rsplit(".", 1)[0] if "." in filename else filename
    return title[:TITLE_MAX_LENGTH] or "Untitled"


def image_store(*, owner, file, filename: str, title: str = "", keep_metadata: bool = False):
    """Check, re-encode and store the upload in `file`; raises ImageRefused with the reason.

    The original goes to users/<id>/<uuid>.<ext>, the thumbnail to users/<id>/thumbs/.
    """
    filename = safe_filename(filename)
    processed = process_image(file, keep_metadata=keep_metadata)
    size = len(processed.original)
    if problem := quota_problem(owner, size):
        raise problem
    key = s3.original_key(user_id=owner.pk, ext=processed.extension)
    thumbnail_key = s3.thumbnail_key(user_id=owner.pk)
    disposition = content_disposition_header(False, filename)
    written = []
    try:
        s3.put_file(
            key=key,
            file=io.BytesIO(processed.original),
            content_type=processed.content_type,
            content_disposition=disposition,
        )
        written.append(key)
        s3.put_file(
            key=thumbnail_key,
            file=io.BytesIO(processed.thumbnail),
            content_type="image/webp",
            content_disposition=content_disposition_header(False, "thumbnail.webp"),
        )
        written.append(thumbnail_key)
        with transaction.atomic():
            # One upload at a time per owner past this point, so two can't both fit the quota.
            User.objects.select_for_update().filter(pk=owner.pk).first()
            if problem := quota_problem(owner, size):
                raise problem
            image = Image.objects.create(
                owner=owner,
                title=_title_from(title, filename),
                filename=filename,
                content_type=processed.content_type,
                format=processed.format,
                width=processed.width,
                height=processed.height,
                bytes=size,
                key=key,
                thumbnail_key=thumbnail_key,
                kept_metadata=keep_metadata,
            )
            audit_record(
                action=Action.IMAGE_UPLOADED,
                actor=owner,
                target=f"image {image.pk}",
                details={
                    "title": image.title,
                    "filename": filename,
                    "format": image.format,
                    "bytes": size,
                },
            )
            return image
    except BaseException:
        _delete_quietly(written)
        raise


def _delete_quietly(keys) -> None:
    if not keys:
        return
    try:
        s3.delete_keys(keys)
    except s3.S3Error:
        # uploads_cleanup can't find these (they are under users/); say so for whoever reads logs
        logger.exception("could not remove objects of a failed upload: %s", ", ".join(keys))


# -- the direct path: presigned POST, then complete ------------------------------------------


def upload_start(*, owner, filename: str, content_type: str, size: int):
    """A pending upload and its presigned POST ({"url", "fields"}), once the declared size and
    type pass; S3 enforces both again, and `upload_complete` checks the bytes."""
    if not content_type.startswith("image/"):
        raise ImageRefused(
            "this file is not declared as a picture; upload a JPEG, PNG, GIF, WebP, AVIF or HEIC"
        )
    if problem := size_problem(size):
        raise problem
    if problem := quota_problem(owner, size):
        raise problem
    key = s3.incoming_key(user_id=owner.pk)
    post = s3.presigned_post(
        key=key,
        content_type=content_type,
        max_bytes=settings.UPLOAD_MAX_BYTES,
        expires_in=settings.UPLOAD_POST_SECONDS,
    )
    upload = PendingUpload.objects.create(
        owner=owner,
        key=key,
        filename=safe_filename(filename),
        declared_type=content_type,
        declared_size=size,
        expires=timezone.now() + timedelta(seconds=settings.UPLOAD_POST_SECONDS),
    )
    return upload, post


def upload_complete(*, upload: PendingUpload, title: str = "", keep_metadata: bool = False):
    """Check what the browser put under the upload's key and store it as an image.

    The incoming object and the pending upload are removed whatever the outcome.
    """
    try:
        size = s3.object_size(key=upload.key)
        if size is None:
            raise BadImage("the file never arrived in storage; upload it again")
        if problem := size_problem(size):
            raise problem
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as file:
            s3.download_to(key=upload.key, file=file)
            return image_store(
                owner=upload.owner,
                file=file,
                filename=upload.filename,
                title=title,
                keep_metadata=keep_metadata,
            )
    finally:
        _delete_quietly([upload.key])
        PendingUpload.objects.filter(pk=upload.pk).delete()


# -- deleting ---------------------------------------------------------------------------------


def image_delete(image: Image, *, actor=None) -> None:
    """The image's objects, then its row (and with it its share links); `actor` deleted it."""
    s3.delete_keys([image.key, image.thumbnail_key])
    with transaction.atomic():
        image_id, title, owner_id = image.pk, image.title, image.owner_id
        image.delete()
        audit_record(
            action=Action.IMAGE_DELETED,
            actor=actor,
            target=f"image {image_id}",
            details={"title": title, "owner": owner_id},
        )


def images_delete_all(owner) -> int:
    """Every object under users/<id>/ (batched DeleteObjects) and every image row of `owner`."""
    s3.delete_prefix(s3.user_prefix(owner.pk))
    with transaction.atomic():
        # Uploads take this lock too (image_store), so the ids recorded are the rows deleted.
        User.objects.select_for_update().filter(pk=owner.pk).first()
        mine = Image.objects.filter(owner=owner)
        image_ids = list(mine.order_by("pk").values_list("pk", flat=True))
        _total, by_model = mine.delete()
        deleted = by_model.get(Image._meta.label, 0)
        if deleted:
            audit_record(
                action=Action.IMAGES_DELETED_ALL,
                actor=owner,
                target=f"user {owner.pk}",
                details={"count": deleted, "images": image_ids},
            )
    return deleted


def uploads_cleanup(*, now=None) -> tuple[int, int]:
    """Remove direct uploads never completed: incoming/ objects and pending rows older than a
    day. Answers (objects removed, rows removed)."""
    cutoff = (now or timezone.now()) - STALE_UPLOAD_AGE
    # Safe to run on several machines at once: deleting a key twice is no error in S3, and
    # the rows go in batches that a second runner skips (portal/purge.py).
    objects = s3.delete_keys(list(s3.keys_under(s3.INCOMING_PREFIX, older_than=cutoff)))
    rows = delete_in_batches(PendingUpload.objects.filter(created__lt=cutoff).only("pk"))
    return objects, rows
