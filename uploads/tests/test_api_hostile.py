"""Hostile and oversize files through both API upload paths: each refused with its code and a
clear message, and the bucket and the database the same before and after.

The direct path is driven as a browser would: start, a real POST to the local S3 with
`requests`, then complete. S3 itself refuses what breaks the POST policy.
"""

from __future__ import annotations

import pytest
import requests

from uploads import s3
from uploads.models import PendingUpload
from uploads.tests import samples
from uploads.tests.conftest import holdings
from uploads.tests.test_api import (
    IMAGES,
    NOTHING,
    assert_error,
    complete_path,
    post_json,
    send_to_s3,
    session_headers,
    start_upload,
    upload_form,
)
from uploads.upload_handlers import LimitedTemporaryFileUploadHandler

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("op_settings")]

# What each hostile file is refused as: not a picture at all (415), or a picture format we take
# whose file is damaged, empty or a decompression bomb (422).
REFUSED_AS = {
    "svg with script": "unsupported_type",
    "html named .jpg": "unsupported_type",
    "png polyglot": "unsupported_type",
    "truncated jpeg": "invalid",
    "pixel bomb": "invalid",
    "empty file": "invalid",
}
SMALL_LIMIT = 200_000


def test_every_hostile_sample_has_an_expected_code():
    assert set(REFUSED_AS) == set(samples.HOSTILE)


@pytest.mark.parametrize("name", list(samples.HOSTILE))
def test_form_upload_refuses_each_hostile_file_and_keeps_nothing(client, token_for, alice, name):
    filename, _declared, make, word = samples.HOSTILE[name]
    before = holdings()

    response = upload_form(client, token_for(alice), make(), filename=filename)

    body = assert_error(response, REFUSED_AS[name])
    assert word in body["detail"]
    assert holdings() == before == NOTHING


@pytest.mark.parametrize("name", list(samples.HOSTILE))
def test_direct_upload_refuses_each_hostile_file_and_keeps_nothing(client, token_for, alice, name):
    filename, declared, make, word = samples.HOSTILE[name]
    data = make()
    headers = token_for(alice)
    before = holdings()

    started = start_upload(
        client, headers, filename=filename, content_type=declared, size=len(data)
    )
    if started.status_code == 201:
        stored = send_to_s3(started.json(), data)
        # S3 checks only the declared type and the size range: the bytes reach "complete".
        assert stored.status_code == 201, stored.text
        response = post_json(client, complete_path(started.json()["upload_id"]), {}, headers)
    else:
        response = started  # refused from the declaration alone (the empty file: size 0)

    body = assert_error(response, REFUSED_AS[name])
    assert word in body["detail"]
    assert holdings() == before == NOTHING


def test_the_empty_file_is_refused_when_declared_and_when_it_arrives(client, token_for, alice):
    headers = token_for(alice)
    assert "empty" in assert_error(start_upload(client, headers, size=0), "invalid")["detail"]

    # Declared as one byte, sent as none: S3 refuses it (its policy starts at 1 byte).
    started = start_upload(client, headers, size=1).json()
    assert send_to_s3(started, b"").status_code == 400
    response = post_json(client, complete_path(started["upload_id"]), {}, headers)

    assert "never arrived" in assert_error(response, "invalid")["detail"]
    assert holdings() == NOTHING


# -- oversize ----------------------------------------------------------------------------------


def test_oversize_form_upload_is_413_and_keeps_nothing(client, token_for, alice, settings):
    settings.UPLOAD_MAX_BYTES = SMALL_LIMIT

    response = upload_form(
        client, token_for(alice), samples.oversize(SMALL_LIMIT), filename="huge.jpg"
    )

    body = assert_error(response, "too_large")
    assert "huge.jpg" in body["detail"]
    assert "195 KB" in body["detail"]  # the limit, as a person reads it
    assert holdings() == NOTHING


@pytest.mark.parametrize("session", [False, True])
def test_form_body_far_over_the_limit_is_413_before_it_is_read(
    client, browser_of, token_for, alice, settings, monkeypatch, session
):
    settings.UPLOAD_MAX_BYTES = SMALL_LIMIT
    chunks = []
    original = LimitedTemporaryFileUploadHandler.receive_data_chunk

    def recording(self, raw_data, start):
        chunks.append(len(raw_data))
        return original(self, raw_data, start)

    monkeypatch.setattr(LimitedTemporaryFileUploadHandler, "receive_data_chunk", recording)
    if session:
        caller = browser_of(alice)
        headers = session_headers(caller)
    else:
        caller, headers = client, token_for(alice)

    response = upload_form(caller, headers, b"\xff\xd8" + b"\x00" * (2 * SMALL_LIMIT))

    assert "the largest file allowed is 195 KB" in assert_error(response, "too_large")["detail"]
    assert chunks == []  # not a byte of the body was read
    assert holdings() == NOTHING


def test_a_file_just_under_the_limit_is_taken(client, token_for, alice, settings):
    data = samples.photo(gps=False)
    settings.UPLOAD_MAX_BYTES = len(data)

    response = upload_form(client, token_for(alice), data)

    assert response.status_code == 201, response.content


def test_oversize_declared_size_is_413_before_anything_is_signed(
    client, token_for, alice, settings
):
    settings.UPLOAD_MAX_BYTES = SMALL_LIMIT

    response = start_upload(client, token_for(alice), size=SMALL_LIMIT + 1)

    assert "195 KB" in assert_error(response, "too_large")["detail"]
    assert holdings() == NOTHING


def test_a_direct_post_over_the_size_range_is_refused_by_s3_itself(
    client, token_for, alice, settings
):
    settings.UPLOAD_MAX_BYTES = SMALL_LIMIT
    headers = token_for(alice)
    # The browser declares a small file, then sends a larger one.
    started = start_upload(client, headers, size=1000).json()

    stored = send_to_s3(started, samples.oversize(SMALL_LIMIT))

    assert stored.status_code == 400
    assert "EntityTooLarge" in stored.text
    upload = PendingUpload.objects.get(pk=started["upload_id"])
    assert s3.object_size(key=upload.key) is None
    response = post_json(client, complete_path(started["upload_id"]), {}, headers)
    assert "never arrived" in assert_error(response, "invalid")["detail"]
    assert holdings() == NOTHING


def test_complete_refuses_a_file_over_the_limit_then_in_force(client, token_for, alice, settings):
    headers = token_for(alice)
    data = samples.oversize(SMALL_LIMIT)
    started = start_upload(client, headers, size=len(data)).json()
    assert send_to_s3(started, data).status_code == 201
    settings.UPLOAD_MAX_BYTES = SMALL_LIMIT  # lowered while the file was on its way

    response = post_json(client, complete_path(started["upload_id"]), {}, headers)

    assert "195 KB" in assert_error(response, "too_large")["detail"]
    assert holdings() == NOTHING


def test_a_presigned_post_with_a_non_image_content_type_is_refused_by_s3(client, token_for, alice):
    headers = token_for(alice)
    started = start_upload(client, headers, size=len(samples.html_named_jpg())).json()

    stored = send_to_s3(started, samples.html_named_jpg(), content_type="text/html")

    assert stored.status_code == 403
    upload = PendingUpload.objects.get(pk=started["upload_id"])
    assert s3.object_size(key=upload.key) is None
    post_json(client, complete_path(started["upload_id"]), {}, headers)
    assert holdings() == NOTHING


def test_a_presigned_post_for_another_key_is_refused_by_s3(client, token_for, alice):
    started = start_upload(client, token_for(alice), size=100).json()
    fields = {**started["fields"], "key": f"users/{alice.pk}/planted.jpg"}

    stored = requests.post(
        started["url"], data=fields, files={"file": ("x", samples.photo())}, timeout=30
    )

    assert stored.status_code == 403
    assert not [key for key in holdings().keys if key.startswith("users/")]


# -- the quota ---------------------------------------------------------------------------------


def test_quota_is_enforced_on_both_paths(client, token_for, alice, store_image, settings):
    image = store_image(alice)
    settings.UPLOAD_QUOTA_BYTES = image.bytes + 100
    headers = token_for(alice)
    before = holdings()

    form = upload_form(client, headers, samples.photo())
    declared = start_upload(client, headers, size=1000)

    assert "delete some images" in assert_error(form, "quota_exceeded")["detail"]
    assert_error(declared, "quota_exceeded")
    assert holdings() == before


def test_quota_is_checked_again_on_complete(client, token_for, alice, store_image, settings):
    headers = token_for(alice)
    data = samples.photo()
    started = start_upload(client, headers, size=len(data)).json()
    assert send_to_s3(started, data).status_code == 201
    image = store_image(alice)  # another upload finished first
    settings.UPLOAD_QUOTA_BYTES = image.bytes + 100
    before_keys = {image.key, image.thumbnail_key}

    response = post_json(client, complete_path(started["upload_id"]), {}, headers)

    assert_error(response, "quota_exceeded")
    assert holdings().keys == before_keys
    assert holdings().images == 1
    assert holdings().pending == 0


def test_upload_list_is_unchanged_by_refusals(client, token_for, alice):
    headers = token_for(alice)
    upload_form(client, headers, samples.svg_with_script(), filename="x.svg")

    assert client.get(IMAGES, headers=headers).json()["results"] == []
