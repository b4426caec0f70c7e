"""Upload fixtures: images stored through the real service, and what the bucket holds.

Tests share one bucket (and, with REDIS_URL set, one Redis database), and ids come back after
a rollback, so each test starts and ends with an empty bucket and no viewer counts.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import pytest
from django.conf import settings

from uploads import s3, viewers
from uploads.models import Image, PendingUpload, ShareLink
from uploads.services import image_store
from uploads.tests import samples


def _forget_viewer_counts():
    if settings.REDIS_URL:
        client = viewers._redis(settings.REDIS_URL)
        for prefix in (viewers.REDIS_PREFIX, viewers.REDIS_VIEWS_PREFIX):
            for key in client.scan_iter(f"{prefix}*"):
                client.delete(key)


@pytest.fixture(autouse=True)
def _empty_storage(local_stack):
    s3.delete_prefix("")
    _forget_viewer_counts()
    yield
    s3.delete_prefix("")
    _forget_viewer_counts()


@pytest.fixture
def store_image(db):
    """store_image(owner, data=a photo, filename="photo.jpg", title="", keep_metadata=False)."""

    def store(owner, data: bytes | None = None, *, filename="photo.jpg", **options) -> Image:
        return image_store(
            owner=owner, file=io.BytesIO(data or samples.photo()), filename=filename, **options
        )

    return store


@dataclass(frozen=True)
class Holdings:
    keys: frozenset[str]
    images: int
    pending: int
    links: int


def holdings() -> Holdings:
    """Every key in the bucket and every upload row: compare before and after a refusal."""
    return Holdings(
        keys=frozenset(s3.keys_under("")),
        images=Image.objects.count(),
        pending=PendingUpload.objects.count(),
        links=ShareLink.objects.count(),
    )


def views_of(link: ShareLink) -> int:
    """The link's view count where it is kept (with REDIS_URL, in Redis)."""
    fresh = ShareLink.objects.get(pk=link.pk)
    viewers.load_views([fresh])
    return fresh.views
