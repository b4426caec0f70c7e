"""The images JSON API: both upload paths, the image and link objects, paging, links, who may
reach what, and every new error code.

Against the real local S3: presigned POSTs are sent to it with `requests`, as a browser would.
Bearer tokens are real JWTs from the test provider, carrying the person fixtures' roles.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import requests
from django.utils import timezone

from portal.api import ERROR_CODES
from portal.tests.api_answers import assert_error
from uploads import s3
from uploads.models import Image, PendingUpload, ShareLink
from uploads.tests import samples
from uploads.tests.conftest import Holdings, holdings

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("op_settings")]

IMAGES = "/api/images"
UPLOADS = "/api/images/uploads"
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

    assert "never arrived" in assert_error(response, "invalid")["detail"]
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


# -- the form path: POST /api/images -----------------------------------------------------------


def test_form_upload_stores_the_image_with_location(client, token_for, alice):
    response = upload_form(
        client, token_for(alice), samples.photo(), filename="IMG 7.jpg", title="  Cat  "
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert_image_object(body, alice, title="Cat", filename="IMG 7.jpg", content_type="image/jpeg")
    assert response["Location"] == f"http://testserver{image_path(body['id'])}"
    image = Image.objects.get()
    assert image.kept_metadata is False
    assert holdings().keys == {image.key, image.thumbnail_key}


@pytest.mark.parametrize(("word", "kept"), [("1", True), ("true", True), ("0", False)])
def test_form_upload_keep_metadata(client, token_for, alice, word, kept):
    response = upload_form(client, token_for(alice), samples.photo(), keep_metadata=word)

    assert response.status_code == 201, response.content
    assert Image.objects.get().kept_metadata is kept


def test_form_upload_with_a_session_and_the_csrf_token(browser_of, alice):
    browser = browser_of(alice)

    response = upload_form(browser, session_headers(browser), samples.plain("PNG"))

    assert response.status_code == 201, response.content
    assert Image.objects.get().owner == alice


def test_form_upload_with_the_csrf_token_as_a_form_field(browser_of, alice):
    browser = browser_of(alice)
    session_headers(browser)

    response = upload_form(browser, {}, samples.plain("PNG"), csrfmiddlewaretoken=CSRF_SECRET)

    assert response.status_code == 201, response.content


def test_session_form_upload_without_csrf_token_is_403_and_stores_nothing(browser_of, alice):
    response = upload_form(browser_of(alice), {}, samples.photo())

    assert "CSRF" in assert_error(response, "forbidden")["detail"]
    assert holdings() == NOTHING


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"keep_metadata": "maybe"}, "bad_request"),
        ({"title": "x" * 201}, "invalid"),
        ({"colour": "red"}, "invalid"),
    ],
)
def test_form_upload_refuses_bad_fields(client, token_for, alice, fields, code):
    assert_error(upload_form(client, token_for(alice), samples.photo(), **fields), code)
    assert holdings() == NOTHING


def test_form_upload_needs_the_file_field(client, token_for, alice):
    response = client.post(IMAGES, {"title": "no file"}, headers=token_for(alice))

    assert '"file"' in assert_error(response, "invalid")["detail"]


def test_form_upload_as_json_is_a_bad_request(client, token_for, alice):
    response = post_json(client, IMAGES, {"file": "aGVsbG8="}, token_for(alice))

    assert "multipart" in assert_error(response, "bad_request")["detail"]


@pytest.mark.parametrize("session", [False, True])
@pytest.mark.parametrize("content_type", ["multipart/form-data", "multipart/form-data; boundary="])
def test_a_form_django_cannot_parse_is_a_json_400(
    client, browser_of, token_for, alice, session, content_type
):
    if session:
        caller = browser_of(alice)
        headers = session_headers(caller)
    else:
        caller, headers = client, token_for(alice)

    response = caller.generic(
        "POST", IMAGES, b"--xyz\r\ngarbage", content_type=content_type, headers=headers
    )

    assert "multipart" in assert_error(response, "bad_request")["detail"]


def test_a_form_with_too_many_fields_is_a_json_400(client, token_for, alice):
    fields = {f"field{number}": "x" for number in range(1100)}

    assert_error(client.post(IMAGES, fields, headers=token_for(alice)), "bad_request")


# -- reading, paging and deleting --------------------------------------------------------------


def test_get_one_image(client, token_for, alice, store_image):
    image = store_image(alice, filename="me.jpg", title="Me")

    response = client.get(image_path(image.pk), headers=token_for(alice))

    assert response.status_code == 200
    assert_image_object(response.json(), alice, id=image.pk, title="Me", filename="me.jpg")
    assert response.json()["created"] == image.created.astimezone(UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    assert "no-cache" in response["Cache-Control"]
    assert requests.get(response.json()["thumbnail_url"], timeout=10).content[8:12] == b"WEBP"


def test_list_pages_newest_first_with_cursors(client, token_for, alice, bob, store_image):
    images = [store_image(alice, samples.plain("PNG"), filename=f"{n}.png") for n in range(5)]
    store_image(bob, samples.plain("PNG"))
    moment = timezone.now()
    # Two share a creation time: the cursor must break ties by id.
    for offset, image in zip([4, 3, 3, 2, 1], images, strict=True):
        Image.objects.filter(pk=image.pk).update(created=moment - timedelta(minutes=offset))
    newest_first = [image.pk for image in reversed(images)]
    headers = token_for(alice)

    seen, cursor, pages = [], None, []
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        response = client.get(IMAGES, params, headers=headers)
        assert response.status_code == 200, response.content
        page = response.json()
        assert set(page) == {"results", "next", "previous"}
        pages.append(page)
        seen += [item["id"] for item in page["results"]]
        for item in page["results"]:
            assert set(item) == IMAGE_KEYS
        cursor = page["next"]
        if cursor is None:
            break

    assert seen == newest_first
    assert [len(page["results"]) for page in pages] == [2, 2, 1]
    assert pages[0]["previous"] is None
    back = client.get(IMAGES, {"limit": 2, "cursor": pages[1]["previous"]}, headers=headers)
    assert [item["id"] for item in back.json()["results"]] == newest_first[:2]


def test_list_signs_each_variant_once_for_the_whole_page(
    client, token_for, alice, store_image, monkeypatch
):
    for _ in range(3):
        store_image(alice, samples.plain("PNG"))
    from uploads import serializers, signing

    calls = []
    original = signing.image_urls

    def counting(images, *, thumbnails):
        calls.append((len(images), thumbnails))
        return original(images, thumbnails=thumbnails)

    monkeypatch.setattr(serializers.signing, "image_urls", counting)

    response = client.get(IMAGES, headers=token_for(alice))

    assert len(response.json()["results"]) == 3
    assert sorted(calls) == [(3, False), (3, True)]


def test_admin_lists_everyone_with_all_1_and_a_user_only_their_own(
    client, token_for, alice, bob, admin_user, store_image
):
    mine = store_image(admin_user, samples.plain("PNG"))
    alices = store_image(alice, samples.plain("PNG"))
    bobs = store_image(bob, samples.plain("PNG"))

    def ids(user, **params):
        response = client.get(IMAGES, params, headers=token_for(user))
        assert response.status_code == 200, response.content
        return {item["id"] for item in response.json()["results"]}

    assert ids(admin_user) == {mine.pk}
    assert ids(admin_user, all="1") == {mine.pk, alices.pk, bobs.pk}
    assert ids(alice) == ids(alice, all="1") == {alices.pk}
    owners = {
        item["owner"]
        for item in client.get(IMAGES, {"all": "1"}, headers=token_for(admin_user)).json()[
            "results"
        ]
    }
    assert owners == {admin_user.email, alice.email, bob.email}


@pytest.mark.parametrize(
    "params",
    [{"limit": "0"}, {"limit": "101"}, {"limit": "ten"}, {"cursor": "nope"}, {"all": "yes"}],
)
def test_list_refuses_bad_parameters(client, token_for, alice, params):
    assert_error(client.get(IMAGES, params, headers=token_for(alice)), "bad_request")


def test_delete_one_image_removes_its_objects_and_links_then_404(
    client, token_for, alice, store_image
):
    image = store_image(alice)
    keep = store_image(alice, samples.plain("PNG"))
    headers = token_for(alice)
    assert post_json(client, links_path(image.pk), {}, headers).status_code == 201

    response = client.delete(image_path(image.pk), headers=headers)

    assert response.status_code == 204
    assert response.content == b""
    assert holdings().keys == {keep.key, keep.thumbnail_key}
    assert ShareLink.objects.count() == 0
    assert_error(client.delete(image_path(image.pk), headers=headers), "not_found")
    assert_error(client.get(image_path(image.pk), headers=headers), "not_found")


def test_delete_all_removes_only_the_callers_images_even_for_an_admin(
    client, token_for, alice, bob, admin_user, store_image
):
    store_image(alice)
    store_image(alice, samples.plain("PNG"))
    bobs = store_image(bob)
    admins = store_image(admin_user)

    response = client.delete(IMAGES, headers=token_for(alice))

    assert response.status_code == 200
    assert response.json() == {"deleted": 2}
    assert {image.pk for image in Image.objects.all()} == {bobs.pk, admins.pk}
    assert not any(key.startswith(f"users/{alice.pk}/") for key in holdings().keys)

    assert client.delete(IMAGES, headers=token_for(admin_user)).json() == {"deleted": 1}
    assert list(Image.objects.all()) == [bobs]
    assert holdings().keys == {bobs.key, bobs.thumbnail_key}
    assert client.delete(IMAGES, headers=token_for(alice)).json() == {"deleted": 0}


@pytest.mark.parametrize("image_id", ["0", "-1", "abc", "99999999999999999999", "1.5"])
def test_odd_image_ids_are_404(client, token_for, alice, image_id):
    assert_error(client.get(image_path(image_id), headers=token_for(alice)), "not_found")
    assert_error(client.get(links_path(image_id), headers=token_for(alice)), "not_found")


# -- share links -------------------------------------------------------------------------------


def test_create_a_link_with_the_defaults(client, token_for, alice, store_image):
    image = store_image(alice)
    before = timezone.now()

    response = post_json(client, links_path(image.pk), {}, token_for(alice))

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == LINK_KEYS
    link = ShareLink.objects.get()
    assert body["token"] == link.token
    assert len(link.token) >= 22  # at least 128 bits
    assert body["url"] == f"http://testserver/s/{link.token}"
    assert response["Location"] == f"http://testserver{link_path(link.token)}"
    assert body["image"] == image.pk
    assert UTC_SECONDS.match(body["created"])
    assert UTC_SECONDS.match(body["expires"])
    expires = datetime.fromisoformat(body["expires"])
    assert before + timedelta(days=1) - timedelta(seconds=2) <= expires
    assert expires <= timezone.now() + timedelta(days=1)
    assert body["max_views"] is None
    assert body["views"] == body["distinct_viewers"] == 0
    assert body["revoked"] is False
    assert body["has_password"] is False
    assert body["download"] is False


def test_link_url_follows_the_request_host(client, token_for, alice, store_image, settings):
    settings.ALLOWED_HOSTS = ["portal.example.com"]
    image = store_image(alice)

    response = client.post(
        links_path(image.pk),
        {},
        content_type="application/json",
        headers=token_for(alice),
        HTTP_HOST="portal.example.com",
        secure=True,
    )

    token = response.json()["token"]
    assert response.json()["url"] == f"https://portal.example.com/s/{token}"


def test_create_a_link_with_every_setting(client, token_for, alice, store_image):
    image = store_image(alice)
    at = (timezone.now() + timedelta(hours=5)).replace(microsecond=0)

    response = post_json(
        client,
        links_path(image.pk),
        {
            "expires_at": at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "max_views": 3,
            "password": "open sesame",
            "download": True,
        },
        token_for(alice),
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert datetime.fromisoformat(body["expires"]) == at
    assert (body["max_views"], body["has_password"], body["download"]) == (3, True, True)
    link = ShareLink.objects.get()
    assert "open sesame" not in link.password
    assert "open sesame" not in response.content.decode()


def test_create_with_expires_in(client, token_for, alice, store_image):
    image = store_image(alice)

    response = post_json(client, links_path(image.pk), {"expires_in": 3600}, token_for(alice))

    expires = datetime.fromisoformat(response.json()["expires"])
    assert timedelta(minutes=59) < expires - timezone.now() <= timedelta(hours=1)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"expires_in": 3600, "expires_at": "2030-01-01T00:00:00Z"}, "invalid"),
        ({"expires_in": 8 * 24 * 3600}, "invalid"),
        ({"expires_in": 10**30}, "invalid"),
        ({"expires_in": 0}, "invalid"),
        ({"expires_in": "3600"}, "bad_request"),
        ({"expires_at": "tomorrow"}, "bad_request"),
        ({"expires_at": "2020-01-01T00:00:00Z"}, "invalid"),
        ({"expires_at": "2099-01-01T00:00:00Z"}, "invalid"),
        ({"expires_at": "2030-01-01T00:00:00"}, "invalid"),
        ({"max_views": 0}, "invalid"),
        ({"max_views": "5"}, "bad_request"),
        ({"max_views": 2.5}, "bad_request"),
        ({"password": 1234}, "bad_request"),
        ({"password": "x" * 201}, "invalid"),
        ({"download": "yes"}, "bad_request"),
        ({"public": True}, "invalid"),
    ],
)
def test_create_refuses_bad_link_settings(client, token_for, alice, store_image, body, code):
    image = store_image(alice)

    assert_error(post_json(client, links_path(image.pk), body, token_for(alice)), code)
    assert ShareLink.objects.count() == 0


def test_list_an_images_links_newest_first(client, token_for, alice, store_image):
    image = store_image(alice)
    other = store_image(alice, samples.plain("PNG"))
    headers = token_for(alice)
    first = post_json(client, links_path(image.pk), {}, headers).json()
    second = post_json(client, links_path(image.pk), {"max_views": 2}, headers).json()
    post_json(client, links_path(other.pk), {}, headers)
    ShareLink.objects.filter(token=first["token"]).update(
        created=timezone.now() - timedelta(minutes=1)
    )

    response = client.get(links_path(image.pk), headers=headers)

    assert response.status_code == 200
    assert set(response.json()) == {"results"}
    assert [link["token"] for link in response.json()["results"]] == [
        second["token"],
        first["token"],
    ]
    assert all(set(link) == LINK_KEYS for link in response.json()["results"])


def test_views_and_distinct_viewers_are_reported(client, token_for, alice, store_image):
    from uploads.links import link_count_view

    image = store_image(alice)
    headers = token_for(alice)
    token = post_json(client, links_path(image.pk), {}, headers).json()["token"]
    link = ShareLink.objects.get(token=token)
    for viewer in ["a" * 64, "b" * 64, "a" * 64, "c" * 64, None]:
        assert link_count_view(link, viewer=viewer)

    body = client.get(link_path(token), headers=headers).json()

    assert body["views"] == 5
    assert body["distinct_viewers"] == 3


def test_patch_extends_an_expired_link_and_changes_max_views(client, token_for, alice, store_image):
    image = store_image(alice)
    headers = token_for(alice)
    token = post_json(client, links_path(image.pk), {"max_views": 1}, headers).json()["token"]
    ShareLink.objects.filter(token=token).update(expires=timezone.now() - timedelta(hours=1))
    assert ShareLink.objects.get(token=token).state() == "expired"

    response = client.patch(
        link_path(token),
        {"expires_in": 7200, "max_views": None},
        content_type="application/json",
        headers=headers,
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == LINK_KEYS
    assert body["max_views"] is None
    assert timedelta(minutes=119) < datetime.fromisoformat(body["expires"]) - timezone.now()
    assert ShareLink.objects.get(token=token).state() == "open"


def test_patch_shortens_with_expires_at_and_leaves_max_views_alone(
    client, token_for, alice, store_image
):
    image = store_image(alice)
    headers = token_for(alice)
    token = post_json(client, links_path(image.pk), {"max_views": 4}, headers).json()["token"]
    at = (timezone.now() + timedelta(minutes=10)).replace(microsecond=0)

    response = client.patch(
        link_path(token),
        {"expires_at": at.isoformat()},
        content_type="application/json",
        headers=headers,
    )

    assert response.status_code == 200, response.content
    assert datetime.fromisoformat(response.json()["expires"]) == at
    assert response.json()["max_views"] == 4


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"expires_in": 60, "expires_at": "2030-01-01T00:00:00Z"}, "invalid"),
        ({"password": "new"}, "invalid"),
        ({"max_views": -1}, "invalid"),
        ({"expires_in": True}, "bad_request"),
    ],
)
def test_patch_refuses_bad_changes(client, token_for, alice, store_image, body, code):
    image = store_image(alice)
    headers = token_for(alice)
    created = post_json(client, links_path(image.pk), {"max_views": 4}, headers).json()

    response = client.patch(
        link_path(created["token"]), body, content_type="application/json", headers=headers
    )

    assert_error(response, code)
    assert client.get(link_path(created["token"]), headers=headers).json() == created


def test_revoke_then_again_is_a_no_op_and_patch_is_gone(client, token_for, alice, store_image):
    image = store_image(alice)
    headers = token_for(alice)
    token = post_json(client, links_path(image.pk), {}, headers).json()["token"]

    first = client.delete(link_path(token), headers=headers)
    revoked_at = ShareLink.objects.get(token=token).revoked
    again = client.delete(link_path(token), headers=headers)

    assert first.status_code == again.status_code == 200
    assert first.json()["revoked"] is True
    assert again.json() == first.json()
    assert ShareLink.objects.get(token=token).revoked == revoked_at
    patch = client.patch(
        link_path(token), {"expires_in": 60}, content_type="application/json", headers=headers
    )
    assert "revoked" in assert_error(patch, "gone")["detail"]


def test_admin_sees_and_revokes_anyones_links_and_deletes_one_image(
    client, token_for, alice, admin_user, store_image
):
    image = store_image(alice)
    token = post_json(client, links_path(image.pk), {}, token_for(alice)).json()["token"]
    admin = token_for(admin_user)

    assert client.get(image_path(image.pk), headers=admin).json()["owner"] == alice.email
    assert [
        link["token"] for link in client.get(links_path(image.pk), headers=admin).json()["results"]
    ] == [token]
    assert client.delete(link_path(token), headers=admin).json()["revoked"] is True
    assert client.delete(image_path(image.pk), headers=admin).status_code == 204
    assert holdings() == NOTHING


# -- who may reach what ------------------------------------------------------------------------


def _calls(image_id, token: str, upload_id: str) -> dict[str, tuple[str, str, dict | None]]:
    return {
        "list": ("get", IMAGES, None),
        "start": ("post", UPLOADS, {"filename": "a.jpg", "content_type": "image/jpeg", "size": 9}),
        "complete": ("post", complete_path(upload_id), {}),
        "image": ("get", image_path(image_id), None),
        "delete image": ("delete", image_path(image_id), None),
        "delete all": ("delete", IMAGES, None),
        "links": ("get", links_path(image_id), None),
        "create link": ("post", links_path(image_id), {}),
        "link": ("get", link_path(token), None),
        "change link": ("patch", link_path(token), {"max_views": 9}),
        "revoke link": ("delete", link_path(token), None),
    }


CALL_NAMES = list(_calls(1, "t", "u"))


@pytest.fixture
def alices_things(client, token_for, alice, store_image):
    """Alice's image with a link, and her upload waiting in S3 to be completed."""
    headers = token_for(alice)
    image = store_image(alice)
    token = post_json(client, links_path(image.pk), {"max_views": 5}, headers).json()["token"]
    started = start_upload(client, headers, size=len(samples.photo())).json()
    assert send_to_s3(started, samples.photo()).status_code == 201
    return image, token, started["upload_id"]


def _call(client, name, things, headers):
    image, token, upload_id = things
    method, url, body = _calls(image.pk, token, upload_id)[name]
    kwargs = {"headers": headers}
    if body is not None:
        kwargs.update(data=body, content_type="application/json")
    return getattr(client, method)(url, **kwargs)


@pytest.mark.parametrize("name", CALL_NAMES)
def test_anonymous_gets_401_and_nothing_changes(client, alices_things, name):
    before = holdings()

    response = _call(client, name, alices_things, {})

    assert_error(response, "unauthenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert holdings() == before


@pytest.mark.parametrize("name", CALL_NAMES)
def test_no_role_gets_403_and_nothing_changes(client, token_for, nobody, alices_things, name):
    before = holdings()

    assert_error(_call(client, name, alices_things, token_for(nobody)), "forbidden")
    assert holdings() == before


ALICES_ONLY = [
    "complete",
    "image",
    "delete image",
    "links",
    "create link",
    "link",
    "change link",
    "revoke link",
]


@pytest.mark.parametrize("name", ALICES_ONLY)
def test_bob_gets_404_for_alices_image_links_upload_and_token(
    client, token_for, bob, alices_things, name
):
    _image, token, _upload_id = alices_things
    link_before = ShareLink.objects.values().get(token=token)
    before = holdings()

    body = assert_error(_call(client, name, alices_things, token_for(bob)), "not_found")

    assert holdings() == before
    assert ShareLink.objects.values().get(token=token) == link_before
    assert token not in body["detail"]


def test_bobs_list_and_delete_all_leave_alices_objects(client, token_for, bob, alices_things):
    headers = token_for(bob)
    before = holdings()

    assert client.get(IMAGES, {"all": "1"}, headers=headers).json()["results"] == []
    assert client.delete(IMAGES, headers=headers).json() == {"deleted": 0}
    assert holdings() == before


def test_an_admin_cannot_complete_someone_elses_upload(
    client, token_for, admin_user, alices_things
):
    before = holdings()

    assert_error(_call(client, "complete", alices_things, token_for(admin_user)), "not_found")
    assert holdings() == before


@pytest.mark.parametrize("name", ["image", "links", "create link", "link", "change link"])
def test_admin_reaches_alices_image_and_links(client, token_for, admin_user, alices_things, name):
    response = _call(client, name, alices_things, token_for(admin_user))

    assert response.status_code in (200, 201), response.content


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("put", IMAGES),
        ("get", UPLOADS),
        ("get", complete_path("x")),
        ("post", image_path(1)),
        ("delete", links_path(1)),
        ("post", link_path("x")),
    ],
)
def test_other_methods_are_405_with_allow(client, token_for, alice, method, path):
    response = getattr(client, method)(path, headers=token_for(alice))

    assert_error(response, "method_not_allowed")
    assert response["Allow"]


# -- the error codes ---------------------------------------------------------------------------

NEW_CODES_STATUS = {"gone": 410, "too_large": 413, "quota_exceeded": 413, "unsupported_type": 415}


def test_each_new_error_code_comes_from_a_real_request_with_its_status(
    client, token_for, alice, store_image, settings
):
    from orders.tests.test_api import ORDER_CODES_STATUS

    headers = token_for(alice)
    image = store_image(alice)
    seen = {}

    def answer(response):
        seen[response.json()["error"]] = response.status_code

    token = post_json(client, links_path(image.pk), {}, headers).json()["token"]
    client.delete(link_path(token), headers=headers)
    answer(client.patch(link_path(token), {}, content_type="application/json", headers=headers))
    answer(start_upload(client, headers, size=settings.UPLOAD_MAX_BYTES + 1))
    settings.UPLOAD_QUOTA_BYTES = image.bytes + 10
    answer(start_upload(client, headers, size=100))
    answer(start_upload(client, headers, content_type="application/pdf", size=100))

    assert seen == NEW_CODES_STATUS
    assert {code: status for code, status, _ in ERROR_CODES} == {
        **ORDER_CODES_STATUS,
        **NEW_CODES_STATUS,
        "rate_limited": 429,  # answered by a real request in portal/tests/test_ratelimits.py
    }


# -- the API guide -----------------------------------------------------------------------------


def test_the_api_guide_lists_every_images_endpoint(client):
    page = client.get("/api/").content.decode()

    for endpoint in [
        "GET /api/images",
        "POST /api/images",
        "POST /api/images/uploads",
        "POST /api/images/uploads/&lt;upload_id&gt;/complete",
        "GET /api/images/&lt;id&gt;",
        "DELETE /api/images/&lt;id&gt;",
        "DELETE /api/images",
        "GET /api/images/&lt;id&gt;/links",
        "POST /api/images/&lt;id&gt;/links",
        "PATCH /api/links/&lt;token&gt;",
        "DELETE /api/links/&lt;token&gt;",
    ]:
        assert f"<code>{endpoint}</code>" in page
    for key in IMAGE_KEYS | LINK_KEYS | UPLOAD_KEYS:
        assert f'"{key}"' in page


# -- S3 not answering (an injected fault) ------------------------------------------------------


def _s3_down(*args, **kwargs):
    raise s3.S3Error("the image store is not answering (injected); try again shortly")


def test_s3_down_while_signing_is_503_with_retry_after_and_nothing_kept(
    client, token_for, alice, monkeypatch
):
    monkeypatch.setattr(s3, "presigned_post", _s3_down)

    response = start_upload(client, token_for(alice), size=1000)

    assert "not answering" in assert_error(response, "unavailable")["detail"]
    assert response["Retry-After"].isdigit()
    assert holdings() == NOTHING


def test_s3_down_while_storing_a_form_upload_is_503_and_nothing_kept(
    client, token_for, alice, monkeypatch
):
    monkeypatch.setattr(s3, "put_file", _s3_down)

    response = upload_form(client, token_for(alice), samples.photo())

    assert_error(response, "unavailable")
    assert holdings() == NOTHING


# -- a browser session -------------------------------------------------------------------------


def test_session_link_changes_need_the_csrf_token(browser_of, alice, store_image):
    image = store_image(alice)
    browser = browser_of(alice)
    assert browser.get(image_path(image.pk)).status_code == 200  # reading needs no token
    headers = session_headers(browser)
    token = post_json(browser, links_path(image.pk), {}, headers).json()["token"]
    link_before = ShareLink.objects.values().get(token=token)
    without = {"X-CSRFToken": "wrong" * 6 + "xx"}

    refused = [
        post_json(browser, links_path(image.pk), {}, without),
        browser.patch(
            link_path(token), {"max_views": 2}, content_type="application/json", headers=without
        ),
        browser.delete(link_path(token), headers=without),
        browser.delete(image_path(image.pk), headers=without),
        browser.delete(IMAGES, headers=without),
    ]

    for response in refused:
        assert "CSRF" in assert_error(response, "forbidden")["detail"]
    assert ShareLink.objects.values().get() == link_before
    assert Image.objects.get() == image
    assert browser.delete(link_path(token), headers=headers).json()["revoked"] is True
