"""`share_links_purge`: links long past their end go (with their counts in Redis), the rest and
the images stay; it and `uploads_cleanup` may run on two machines at once."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test.utils import override_settings
from django.utils import timezone

from portal.tests.at_once import needs_row_locks, run_at_once
from uploads import s3, viewers
from uploads.links import link_count_view, link_create, link_revoke, links_purge
from uploads.models import Image, PendingUpload, ShareLink
from uploads.services import uploads_cleanup
from uploads.tests.test_cleanup import DAYS_LATER, started_upload

DAY = timedelta(days=1)


def ended(link: ShareLink, *, expired_ago=None, revoked_ago=None) -> ShareLink:
    """Back-date the link's end: expired or revoked that long ago."""
    now = timezone.now()
    if expired_ago is not None:
        link.expires = now - expired_ago
    if revoked_ago is not None:
        link.revoked = now - revoked_ago
    link.save(update_fields=["expires", "revoked"])
    return link


def run_purge(*args) -> str:
    out = StringIO()
    call_command("share_links_purge", *args, stdout=out)
    return out.getvalue().strip()


@pytest.fixture
def image(alice, store_image) -> Image:
    return store_image(alice)


@pytest.fixture
def new_link(image, alice):
    return lambda: link_create(image=image, created_by=alice)


def test_links_ended_past_the_retention_go_and_the_rest_stay(new_link, image):
    old_expired = ended(new_link(), expired_ago=31 * DAY)
    old_revoked = ended(new_link(), revoked_ago=31 * DAY)
    recently_expired = ended(new_link(), expired_ago=29 * DAY)
    recently_revoked = ended(new_link(), revoked_ago=DAY)
    still_open = new_link()

    assert (
        run_purge("--batch-size", "1") == "Deleted 2 share links that ended more than 30 days ago"
    )

    kept = set(ShareLink.objects.values_list("pk", flat=True))
    assert kept == {recently_expired.pk, recently_revoked.pk, still_open.pk}
    assert {old_expired.pk, old_revoked.pk}.isdisjoint(kept)
    assert Image.objects.filter(pk=image.pk).exists()
    assert set(s3.keys_under("")) == {image.key, image.thumbnail_key}
    assert run_purge() == "Deleted 0 share links that ended more than 30 days ago"


@override_settings(SHARE_RETENTION_DAYS=0)
def test_the_retention_is_a_setting(new_link):
    ended(new_link(), expired_ago=timedelta(minutes=1))
    link_revoke(new_link())
    new_link()

    assert links_purge(now=timezone.now() + timedelta(seconds=1)) == 2
    assert ShareLink.objects.count() == 1


@override_settings(SHARE_RETENTION_DAYS=1)
def test_the_command_says_one_day_and_one_link(new_link):
    ended(new_link(), expired_ago=2 * DAY)
    assert run_purge() == "Deleted 1 share link that ended more than 1 day ago"


def test_a_batch_size_below_one_is_refused(db):
    with pytest.raises(CommandError, match="--batch-size must be at least 1, not -3"):
        run_purge("--batch-size", "-3")


@pytest.mark.skipif(not settings.REDIS_URL, reason="REDIS_URL is not set")
def test_the_counts_in_redis_go_with_the_link(new_link):
    gone, kept = new_link(), new_link()
    for link in (gone, kept):
        assert link_count_view(link, viewer="ab" * 32)
    redis = viewers._redis(settings.REDIS_URL)
    keys = {link.pk: [viewers._views_key(link), viewers._redis_key(link)] for link in (gone, kept)}
    assert redis.exists(*keys[gone.pk], *keys[kept.pk]) == 4
    ended(gone, expired_ago=40 * DAY)

    assert links_purge() == 1

    assert redis.exists(*keys[gone.pk]) == 0
    assert redis.exists(*keys[kept.pk]) == 2
    viewers.forget([gone])  # again: nothing left to remove, and no error


@needs_row_locks
@pytest.mark.django_db(transaction=True)
def test_two_purges_at_once_delete_each_link_once(alice, store_image):
    image = store_image(alice)
    old = timezone.now() - 60 * DAY
    ShareLink.objects.bulk_create(
        ShareLink(image=image, created_by=alice, created=old, expires=old) for _ in range(300)
    )
    kept = link_create(image=image, created_by=alice)

    deleted = run_at_once(lambda: links_purge(batch_size=20))

    assert sum(deleted) == 300
    assert list(ShareLink.objects.values_list("pk", flat=True)) == [kept.pk]


@needs_row_locks
@pytest.mark.django_db(transaction=True)
def test_two_cleanups_at_once_leave_no_stale_upload_and_no_error(alice, bob, store_image):
    image = store_image(alice)
    stale = [started_upload(alice) for _ in range(3)] + [started_upload(bob, send_file=False)]

    results = run_at_once(lambda: uploads_cleanup(now=timezone.now() + DAYS_LATER))

    # S3 forgives deleting a key twice, so both runners may ask for the same objects; each row
    # is deleted by exactly one of them.
    assert sum(rows for _objects, rows in results) == len(stale)
    assert all(objects <= 3 for objects, _rows in results)
    assert not PendingUpload.objects.exists()
    assert set(s3.keys_under("")) == {image.key, image.thumbnail_key}


def test_a_cleanup_run_twice_finds_nothing_the_second_time(alice):
    started_upload(alice)
    later = timezone.now() + DAYS_LATER
    assert uploads_cleanup(now=later) == (1, 1)
    assert uploads_cleanup(now=later) == (0, 0)
