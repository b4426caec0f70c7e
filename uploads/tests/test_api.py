"""The images JSON API: both upload paths, the image and link objects, paging, links, who may
reach what, and every new error code.

Against the real local S3: presigned POSTs are sent to it with `requests`, as a browser would.
Bearer tokens are real JWTs from the test provider, carrying the person fixtures' roles.
"""

from __future__ import annotations

import re

import pytest
import requests

from portal.api import ERROR_CODES
from uploads import s3
from uploads.models import Image, PendingUpload
from uploads.tests import samples
from uploads.tests.conftest import Holdings, holdings

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("op_settings")]

IMAGES = "/api/images"
UPLOADS = "/api/images/uploads"
ERROR_STATUS = {code: status for code, status, _when in ERROR_CODES}
UTC_SECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
IMAGE_KEYS = {
    "id",
    "title",
    "filename",
    "content_type",
    "width",
    "height",
    "bytes",
    "created",
    "url",
    "thumbnail_url",
    "owner",
}
LINK_KEYS = {
    "token",
    "url",
    "image",
    "created",
    "expires",
    "max_views",
    "views",
    "distinct_viewers",
    "revoked",
    "has_password",
    "download",
}
UPLOAD_KEYS = {"upload_id", "url", "fields", "expires"}
NOTHING = Holdings(keys=frozenset(), images=0, pending=0, links=0)
CSRF_SECRET = "c" * 16 + "D" * 16  # a CSRF secret: 32 characters


def image_path(image_id) -> str:
    return f"{IMAGES}/{image_id}"


def links_path(image_id) -> str:
    return f"{IMAGES}/{image_id}/links"


def link_path(token: str) -> str:
    return f"/api/links/{token}"


def complete_path(upload_id: str) -> str:
    return f"{UPLOADS}/{upload_id}/complete"


def assert_error(response, code: str) -> dict:
    """A JSON error with this code, the status that code always has, and a sentence."""
    assert response.status_code == ERROR_STATUS[code], response.content[:500]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "detail"}
    assert body["error"] == code
    assert isinstance(body["detail"], str)
    assert len(body["detail"]) > 5
    return body


def post_json(client, path, body, headers):
    return client.post(path, body, content_type="application/json", headers=headers)


def upload_form(client, headers, data: bytes, *, filename="photo.jpg", **fields):
    """POST /api/images as multipart, with the file in "file"."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile(filename, data, content_type="application/octet-stream")
    return client.post(IMAGES, {"file": upload, **fields}, headers=headers)


def start_upload(client, headers, *, filename="photo.jpg", content_type="image/jpeg", size=None):
    return post_json(
        client,
        UPLOADS,
        {"filename": filename, "content_type": content_type, "size": size},
        headers,
    )


def send_to_s3(started: dict, data: bytes, *, content_type: str | None = None):
    """What the upload page does: every field of the presigned POST, then the file."""
    fields = dict(started["fields"])
    if content_type is not None:
        fields["Content-Type"] = content_type
    return requests.post(started["url"], data=fields, files={"file": ("upload", data)}, timeout=30)


def upload_direct(client, headers, data: bytes, *, filename="photo.jpg", **complete):
    """The direct path end to end: start, POST to S3 (must be stored), then complete."""
    started = start_upload(client, headers, filename=filename, size=len(data))
    assert started.status_code == 201, started.content
    stored = send_to_s3(started.json(), data)
    assert stored.status_code == 201, stored.text
    return post_json(client, complete_path(started.json()["upload_id"]), complete, headers)


def session_headers(browser) -> dict:
    """A signed-in browser's CSRF cookie and the header the upload page sends with it."""
    browser.cookies["csrftoken"] = CSRF_SECRET
    return {"X-CSRFToken": CSRF_SECRET}


def assert_image_object(body: dict, owner, **expected) -> None:
    assert set(body) == IMAGE_KEYS
    assert body["owner"] == owner.email
    assert UTC_SECONDS.match(body["created"])
    assert isinstance(body["id"], int)
    for name, value in expected.items():
        assert body[name] == value, name
    for name in ("url", "thumbnail_url"):
        assert "X-Amz-Signature=" in body[name]
    image = Image.objects.get(pk=body["id"])
    assert (body["width"], body["height"], body["bytes"]) == (
        image.width,
        image.height,
        image.bytes,
    )


# -- the direct path: presigned POST, then complete --------------------------------------------


def test_start_answers_a_presigned_post_and_a_pending_upload(client, token_for, alice):
    response = start_upload(client, token_for(alice), filename="Holiday.JPG", size=12345)

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == UPLOAD_KEYS
    assert UTC_SECONDS.match(body["expires"])
    upload = PendingUpload.objects.get(pk=body["upload_id"])
    assert upload.owner == alice
    assert upload.filename == "Holiday.JPG"
    assert body["fields"]["key"] == upload.key
    assert upload.key.startswith(f"incoming/{alice.pk}/")
    assert body["fields"]["Content-Type"] == "image/jpeg"
    assert "policy" in body["fields"]
    # Nothing is in S3 until the browser sends it.
    assert s3.object_size(key=upload.key) is None


def test_direct_upload_end_to_end_with_a_session_and_csrf_header(browser_of, alice):
    browser = browser_of(alice)
    headers = session_headers(browser)
    data = samples.photo(size=(640, 480))

    response = upload_direct(
        browser, headers, data, filename="IMG_0001.jpg", title="Beach", keep_metadata=True
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert_image_object(
        body, alice, title="Beach", filename="IMG_0001.jpg", content_type="image/jpeg"
    )
    assert (body["width"], body["height"]) == (480, 640)  # turned upright
    assert response["Location"] == f"http://testserver{image_path(body['id'])}"
    assert Image.objects.get(pk=body["id"]).kept_metadata is True
    # The incoming object and the pending upload are gone; the original and thumbnail are there.
    assert PendingUpload.objects.count() == 0
    image = Image.objects.get(pk=body["id"])
    assert holdings().keys == {image.key, image.thumbnail_key}
    assert requests.get(body["url"], timeout=10).content[:2] == b"\xff\xd8"


def test_direct_upload_with_a_bearer_token_and_an_empty_complete_body(client, token_for, bob):
    headers = token_for(bob)
    data = samples.plain("PNG")
    started = start_upload(
        client, headers, filename="scan.png", content_type="image/png", size=len(data)
    )
    assert send_to_s3(started.json(), data).status_code == 201

    response = client.post(
        complete_path(started.json()["upload_id"]), content_type="application/json", headers=headers
    )

    assert response.status_code == 201, response.content
    assert_image_object(response.json(), bob, title="scan", content_type="image/png")
    assert Image.objects.get().kept_metadata is False


def test_session_start_without_csrf_token_is_403_and_signs_nothing(browser_of, alice):
    before = holdings()

    response = start_upload(browser_of(alice), {}, size=1000)

    assert "CSRF" in assert_error(response, "forbidden")["detail"]
    assert holdings() == before


def test_session_complete_without_csrf_token_is_403_and_keeps_the_upload(
    client, browser_of, token_for, alice
):
    started = start_upload(client, token_for(alice), size=len(samples.photo()))
    assert send_to_s3(started.json(), samples.photo()).status_code == 201
    before = holdings()

    response = browser_of(alice).post(complete_path(started.json()["upload_id"]))

    assert_error(response, "forbidden")
    assert holdings() == before


def test_completing_twice_is_404_the_second_time(client, token_for, alice):
    headers = token_for(alice)
    started = start_upload(client, headers, size=len(samples.photo()))
    send_to_s3(started.json(), samples.photo())
    upload_id = started.json()["upload_id"]
    assert post_json(client, complete_path(upload_id), {}, headers).status_code == 201

    assert_error(post_json(client, complete_path(upload_id), {}, headers), "not_found")
    assert Image.objects.count() == 1


def test_completing_before_the_file_arrived_is_refused_and_forgets_the_upload(
    client, token_for, alice
):
    headers = token_for(alice)
    started = start_upload(client, headers, size=1000)

    response = post_json(client, complete_path(started.json()["upload_id"]), {}, headers)

    assert "never arrived" in assert_error(response, "unsupported_type")["detail"]
    assert holdings() == NOTHING


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"filename": "a.jpg", "content_type": "image/jpeg"}, "invalid"),
        ({"filename": "a.jpg", "content_type": "image/jpeg", "size": 10, "x": 1}, "invalid"),
        ({"filename": "a.jpg", "content_type": "image/jpeg", "size": "10"}, "bad_request"),
        ({"filename": "a.jpg", "content_type": "image/jpeg", "size": True}, "bad_request"),
        ({"filename": 5, "content_type": "image/jpeg", "size": 10}, "bad_request"),
        ({"filename": "a.jpg", "content_type": None, "size": 10}, "bad_request"),
        ({"filename": "a.jpg", "content_type": "image/jpeg", "size": 0}, "invalid"),
        ({"filename": "a.jpg", "content_type": "image/jpeg", "size": -5}, "invalid"),
        ({"filename": "a.jpg", "content_type": "text/html", "size": 10}, "unsupported_type"),
        ({"filename": "a.jpg", "content_type": "image/" + "x" * 200, "size": 10}, "invalid"),
        ({"filename": "a" * 1001, "content_type": "image/jpeg", "size": 10}, "invalid"),
    ],
)
def test_start_refuses_bad_declarations_before_signing(client, token_for, alice, body, code):
    before = holdings()

    assert_error(post_json(client, UPLOADS, body, token_for(alice)), code)
    assert holdings() == before


@pytest.mark.parametrize(
    "body",
    [{"title": 5}, {"keep_metadata": "yes"}, {"title": "x" * 201}, {"surprise": True}],
)
def test_complete_refuses_a_bad_body_and_keeps_the_upload_for_a_retry(
    client, token_for, alice, body
):
    headers = token_for(alice)
    started = start_upload(client, headers, size=100)
    before = holdings()

    response = post_json(client, complete_path(started.json()["upload_id"]), body, headers)

    assert response.status_code in (400, 422)
    assert holdings() == before


@pytest.mark.parametrize("upload_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_unknown_upload_id_is_404(client, token_for, alice, upload_id):
    assert_error(post_json(client, complete_path(upload_id), {}, token_for(alice)), "not_found")
