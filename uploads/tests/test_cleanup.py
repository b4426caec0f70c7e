"""Unfinished direct uploads are cleaned up: `uploads_cleanup` and the bucket's lifecycle rule.

SeaweedFS stamps objects with its own clock, so they can't be back-dated: the service is asked
to clean up as if it were days later instead; fresh uploads must survive a cleanup run now.
"""

from datetime import timedelta
from io import StringIO

import pytest
import requests
from django.core.management import CommandError, call_command
from django.test.utils import override_settings
from django.utils import timezone

from uploads import s3
from uploads.models import PendingUpload
from uploads.services import upload_start, uploads_cleanup
from uploads.tests import samples
from uploads.tests.test_s3 import bucket  # noqa: F401 (a fresh bucket of its own, as S3_BUCKET)

DAYS_LATER = timedelta(days=2)


def started_upload(owner, *, send_file=True) -> PendingUpload:
    """A direct upload begun the real way; with `send_file` the browser's POST reached S3."""
    data = samples.photo()
    upload, post = upload_start(
        owner=owner, filename="photo.jpg", content_type="image/jpeg", size=len(data)
    )
    if send_file:
        answer = requests.post(
            post["url"], data=post["fields"], files={"file": ("photo.jpg", data)}, timeout=10
        )
        assert answer.status_code == 201, answer.text
    return upload


def run_cleanup() -> str:
    out = StringIO()
    call_command("uploads_cleanup", stdout=out)
    return out.getvalue().strip()


def test_old_unfinished_uploads_go_and_stored_images_stay(alice, bob, store_image):
    image = store_image(alice)
    sent = [started_upload(alice), started_upload(bob)]
    never_sent = started_upload(alice, send_file=False)
    before = set(s3.keys_under(""))
    assert {upload.key for upload in sent} <= before

    objects, records = uploads_cleanup(now=timezone.now() + DAYS_LATER)

    assert (objects, records) == (2, 3)
    assert set(s3.keys_under("")) == {image.key, image.thumbnail_key}
    assert not PendingUpload.objects.exists()
    assert never_sent.key not in before


def test_uploads_younger_than_a_day_are_kept(alice):
    uploads = [started_upload(alice), started_upload(alice, send_file=False)]
    keys = set(s3.keys_under(""))

    assert uploads_cleanup(now=timezone.now() + timedelta(hours=23)) == (0, 0)
    assert run_cleanup() == ("Removed 0 unfinished uploads (0 objects, 0 records) older than 1 day")
    assert set(s3.keys_under("")) == keys == {uploads[0].key}
    assert PendingUpload.objects.count() == 2


def test_the_command_says_what_it_removed(alice):
    kept = started_upload(alice)
    old = [started_upload(alice, send_file=False) for _ in range(3)]
    PendingUpload.objects.filter(pk__in=[upload.pk for upload in old]).update(
        created=timezone.now() - DAYS_LATER
    )

    assert run_cleanup() == ("Removed 3 unfinished uploads (0 objects, 3 records) older than 1 day")
    assert list(PendingUpload.objects.values_list("pk", flat=True)) == [kept.pk]
    assert set(s3.keys_under("")) == {kept.key}


def test_an_unreachable_s3_is_a_clear_error_and_nothing_is_removed(alice):
    upload = started_upload(alice, send_file=False)
    PendingUpload.objects.filter(pk=upload.pk).update(created=timezone.now() - DAYS_LATER)

    with (
        override_settings(S3_ENDPOINT_URL="http://127.0.0.1:9"),
        pytest.raises(CommandError) as refused,
    ):
        run_cleanup()

    message = str(refused.value)
    assert message.startswith("Nothing removed: the image store is not answering")
    assert "s3_check" in message
    assert PendingUpload.objects.filter(pk=upload.pk).exists()


def test_bootstrap_sets_the_lifecycle_rule_for_incoming(bucket, local_stack):  # noqa: F811
    out = StringIO()
    call_command("s3_bootstrap", stdout=out)

    assert "Unfinished uploads (incoming/) expire after a day" in out.getvalue()
    rules = local_stack.s3_client().get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    [rule] = rules
    assert rule["Status"] == "Enabled"
    assert rule["Filter"] == {"Prefix": "incoming/"}
    assert rule["Expiration"] == {"Days": 1}
