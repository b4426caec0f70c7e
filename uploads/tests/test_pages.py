"""The image pages: who may open them, what they show, and what their forms store and delete."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from uploads import s3
from uploads.links import Expiry, link_create, link_revoke
from uploads.models import Image, ShareLink
from uploads.processing import megabytes
from uploads.selectors import PAGE_SIZE
from uploads.services import quota_used
from uploads.tests import samples
from uploads.tests.conftest import holdings

pytestmark = pytest.mark.django_db

FORBIDDEN = b"You don't have access to this page"


def text_of(response) -> str:
    """The page's visible words, tags dropped and spaces collapsed."""
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def upload(client, *files, **fields):
    return client.post(reverse("image_upload"), {"file": list(files), **fields})


def photo_file(name="holiday.jpg", data=None, content_type="image/jpeg"):
    return SimpleUploadedFile(name, data if data is not None else samples.photo(), content_type)


@pytest.fixture
def alice_image(alice, store_image):
    return store_image(alice, title="Beach at dawn", filename="IMG_0001.JPG")


@pytest.fixture
def alice_link(alice, alice_image):
    return link_create(image=alice_image, created_by=alice)


# --- Who may open each page ------------------------------------------------------------------


@pytest.fixture
def pages(alice_image, alice_link):
    return {
        "gallery": ("get", reverse("image_list"), {}),
        "upload": ("get", reverse("image_upload"), {}),
        "detail": ("get", reverse("image_detail", args=[alice_image.pk]), {}),
        "delete": ("get", reverse("image_delete", args=[alice_image.pk]), {}),
        "delete-all": ("get", reverse("images_delete_all"), {}),
        "link-create": ("post", reverse("image_link_create", args=[alice_image.pk]), {}),
        "link-edit": ("post", reverse("link_edit", args=[alice_link.token]), {"expiry": "3600"}),
        "link-revoke": ("post", reverse("link_revoke", args=[alice_link.token]), {}),
    }


PAGE_NAMES = [
    "gallery",
    "upload",
    "detail",
    "delete",
    "delete-all",
    "link-create",
    "link-edit",
    "link-revoke",
]


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_anonymous_visitors_are_sent_to_sign_in(client, pages, name):
    method, path, data = pages[name]
    response = getattr(client, method)(path, data)
    assert response.status_code == 302
    assert response["Location"] == f"/oidc/authenticate/?next={path}"


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_people_without_a_role_get_the_403_page(client, pages, nobody, name):
    before = holdings()
    client.force_login(nobody)
    method, path, data = pages[name]
    response = getattr(client, method)(path, data)
    assert response.status_code == 403
    assert FORBIDDEN in response.content
    assert holdings() == before


@pytest.mark.parametrize(
    ("name", "heading"),
    [
        ("gallery", "Your images"),
        ("upload", "Upload images"),
        ("detail", "Beach at dawn"),
        ("delete", "Delete “Beach at dawn”?"),
        ("delete-all", "Delete all my images?"),
    ],
)
def test_each_page_renders_for_its_owner(client, pages, alice, name, heading):
    client.force_login(alice)
    method, path, data = pages[name]
    response = getattr(client, method)(path, data)
    assert response.status_code == 200
    assert heading in unescape(response.content.decode())


@pytest.mark.parametrize("name", ["detail", "delete", "link-create", "link-edit", "link-revoke"])
def test_another_users_image_and_links_are_not_found(client, pages, bob, alice_link, name):
    before = holdings()
    client.force_login(bob)
    method, path, data = pages[name]
    response = getattr(client, method)(path, data)
    assert response.status_code == 404
    assert b"We can't find that page" in response.content
    assert holdings() == before
    alice_link.refresh_from_db()
    assert alice_link.revoked is None


def test_bob_cannot_delete_alices_image_by_post(client, bob, alice_image):
    before = holdings()
    client.force_login(bob)
    response = client.post(reverse("image_delete", args=[alice_image.pk]))
    assert response.status_code == 404
    assert holdings() == before


def test_an_admin_may_open_anyones_image(client, admin_user, alice_image):
    client.force_login(admin_user)
    response = client.get(reverse("image_detail", args=[alice_image.pk]))
    assert response.status_code == 200
    assert "alice@example.com" in text_of(response)


# --- The gallery ------------------------------------------------------------------------------


def test_the_gallery_shows_only_my_images_newest_first_with_sizes_and_zoned_dates(
    client, alice, bob, store_image
):
    older = store_image(alice, title="Older one")
    newer = store_image(alice, samples.plain("PNG"), filename="b.png", title="Newer one")
    store_image(bob, title="Bob's picture")
    client.force_login(alice)

    response = client.get(reverse("image_list"))

    assert [image.pk for image in response.context["page"].images] == [newer.pk, older.pk]
    text = text_of(response)
    assert text.index("Newer one") < text.index("Older one")
    assert "Bob's picture" not in text
    assert re.search(r"\d+(\.\d)? (KB|bytes) \d+ \w{3} \d{4}, \d\d:\d\d CES?T", text)
    # one signed thumbnail URL per image, pointing at the thumbnail, not the original
    html = response.content.decode()
    assert older.thumbnail_key in unescape(html)
    assert older.key not in unescape(html)


def test_the_gallery_says_how_much_of_the_quota_is_used(client, alice, store_image, settings):
    settings.UPLOAD_QUOTA_BYTES = 1024**3
    image = store_image(alice)
    client.force_login(alice)

    response = client.get(reverse("image_list"))

    assert f"Your storage: {megabytes(image.bytes)} of 1 GB used" in text_of(response)
    assert f'<meter id="quota-meter" min="0" max="{1024**3}" value="{image.bytes}"' in (
        response.content.decode()
    )


def test_an_empty_gallery_offers_to_upload(client, alice):
    client.force_login(alice)
    response = client.get(reverse("image_list"))
    text = text_of(response)
    assert "You have no images yet." in text
    assert f'href="{reverse("image_upload")}"' in response.content.decode()
    assert "Delete all my images" not in text


def test_an_admin_sees_everyones_images_with_owners_only_when_asked(
    client, admin_user, alice, bob, store_image
):
    store_image(alice, title="Alice's")
    store_image(bob, title="Bob's")
    store_image(admin_user, title="Ada's")
    client.force_login(admin_user)

    mine = text_of(client.get(reverse("image_list")))
    assert "Ada's" in mine
    assert "Alice's" not in mine

    everyone = client.get(reverse("image_list") + "?all=1")
    text = text_of(everyone)
    assert "Everyone's images" in text
    assert {"Ada's", "Alice's", "Bob's"} <= set(re.findall(r"\w+'s", text))
    assert "alice@example.com" in text
    assert "bob@example.com" in text


def test_all_1_means_nothing_for_a_user(client, alice, bob, store_image):
    store_image(bob, title="Bob's")
    client.force_login(alice)
    response = client.get(reverse("image_list") + "?all=1")
    assert "Bob's" not in text_of(response)
    assert "Your images" in text_of(response)


def test_the_gallery_pages_newer_and_older(client, alice):
    # Rows only (no objects): the gallery signs URLs without asking S3.
    start = timezone.now()
    Image.objects.bulk_create(
        Image(
            owner=alice,
            title=f"n{i:02}",
            filename=f"n{i}.png",
            content_type="image/png",
            format="PNG",
            width=10,
            height=10,
            bytes=100,
            key=f"users/{alice.pk}/n{i}.png",
            thumbnail_key=f"users/{alice.pk}/thumbs/n{i}.webp",
            created=start - timedelta(minutes=100 - i),
        )
        for i in range(PAGE_SIZE + 2)
    )
    client.force_login(alice)

    first = client.get(reverse("image_list"))
    titles = [image.title for image in first.context["page"].images]
    assert titles[:2] == [f"n{PAGE_SIZE + 1:02}", f"n{PAGE_SIZE:02}"]
    assert len(titles) == PAGE_SIZE
    assert first.context["newer_url"] is None
    assert "Older images" in text_of(first)

    second = client.get(reverse("image_list") + first.context["older_url"])
    assert [image.title for image in second.context["page"].images] == ["n01", "n00"]
    assert "Newer images" in text_of(second)
    assert "Older images" not in text_of(second)

    back = client.get(reverse("image_list") + second.context["newer_url"])
    assert [image.title for image in back.context["page"].images] == titles


def test_a_broken_cursor_says_so_and_shows_the_first_page(client, alice, alice_image):
    client.force_login(alice)
    response = client.get(reverse("image_list") + "?cursor=nonsense")
    assert response.status_code == 200
    assert alice_image.title in text_of(response)
    assert "message-error" in response.content.decode()


# --- The upload form (no JavaScript) ----------------------------------------------------------


def test_the_upload_form_offers_files_title_and_camera_data_off_by_default(client, alice):
    client.force_login(alice)
    html = client.get(reverse("image_upload")).content.decode()
    assert 'enctype="multipart/form-data"' in html
    assert re.search(
        r'<input id="upload-files"[^>]* type="file" name="file" multiple accept="image/\*"', html
    )
    assert re.search(r'<input id="upload-keep" type="checkbox" name="keep_metadata" aria', html)
    assert "Keep camera data (location, camera model)" in html
    assert "are removed before the image is stored" in html
    assert re.search(r'<script src="[^"]*js/upload\.js" defer></script>', html)
    assert "<script>" not in html


def test_one_photo_by_the_form_is_stored_and_opens_its_page(client, alice):
    client.force_login(alice)

    response = upload(client, photo_file("IMG_2001.JPG"), title="Garden")

    image = Image.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("image_detail", args=[image.pk])
    assert (image.owner, image.title, image.filename, image.kept_metadata) == (
        alice,
        "Garden",
        "IMG_2001.JPG",
        False,
    )
    assert holdings().keys == {image.key, image.thumbnail_key}
    page = client.get(response["Location"])
    text = text_of(page)
    assert "Uploaded “Garden”." in text
    assert "IMG_2001.JPG" in text
    assert "480 × 640 pixels" in text  # noqa: RUF001 - upright: orientation applied
    assert "Removed (location, camera model and the rest)" in text


def test_several_photos_by_the_form_go_to_the_gallery(client, alice):
    client.force_login(alice)
    response = upload(
        client,
        photo_file("a.jpg"),
        photo_file("b.png", samples.plain("PNG"), "image/png"),
        keep_metadata="on",
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("image_list")
    assert sorted(Image.objects.values_list("title", "kept_metadata")) == [
        ("a", True),
        ("b", True),
    ]
    assert "Uploaded 2 images." in text_of(client.get(response["Location"]))


@pytest.mark.parametrize("name", sorted(samples.HOSTILE))
def test_each_hostile_file_is_refused_by_the_form_with_its_message(client, alice, name):
    filename, declared, make, word = samples.HOSTILE[name]
    client.force_login(alice)
    before = holdings()

    response = upload(client, SimpleUploadedFile(filename, make(), declared))

    assert response.status_code == 422
    text = text_of(response)
    assert f"{filename}:" in text
    assert word in text
    assert "Nothing was uploaded" in text
    assert holdings() == before


def test_an_oversize_file_is_refused_by_the_form_and_the_good_one_beside_it_kept(
    client, alice, settings
):
    settings.UPLOAD_MAX_BYTES = 200_000
    client.force_login(alice)
    before = holdings()

    response = upload(client, photo_file("huge.jpg", samples.oversize(200_000)))

    assert response.status_code == 422
    text = text_of(response)
    assert "huge.jpg: The file is over the limit; the largest allowed is 195 KB." in text
    assert holdings() == before

    mixed = upload(client, photo_file("huge.jpg", samples.oversize(200_000)), photo_file("ok.jpg"))
    assert mixed.status_code == 200
    assert "Some files were not uploaded" in text_of(mixed)
    assert list(Image.objects.values_list("filename", flat=True)) == ["ok.jpg"]


def test_a_form_without_files_asks_for_one(client, alice):
    client.force_login(alice)
    response = client.post(reverse("image_upload"), {"title": "x"})
    assert response.status_code == 422
    assert "Choose at least one image file to upload." in text_of(response)


def test_the_quota_refuses_by_the_form(client, alice, store_image, settings):
    store_image(alice)
    settings.UPLOAD_QUOTA_BYTES = Image.objects.get().bytes + 10
    client.force_login(alice)
    before = holdings()
    response = upload(client, photo_file())
    assert response.status_code == 422
    assert "over your storage" in text_of(response)
    assert holdings() == before


# --- The image page ---------------------------------------------------------------------------


def test_the_image_page_shows_the_picture_and_its_details(client, alice, store_image):
    image = store_image(alice, keep_metadata=True, title="With camera data")
    client.force_login(alice)
    response = client.get(reverse("image_detail", args=[image.pk]))
    html = unescape(response.content.decode())
    assert image.key in html  # the signed URL of the original
    text = text_of(response)
    assert "image/jpeg" in text
    assert "Kept: the file still has its location" in text
    assert re.search(r"Uploaded \d+ \w{3} \d{4}, \d\d:\d\d CES?T", text)
    assert "alice@example.com" not in text  # her own image: no owner line


def test_the_image_page_lists_links_with_their_address_state_and_counts(
    client, alice, alice_image, alice_link
):
    expired = link_create(image=alice_image, created_by=alice, max_views=3, password="s3cret")
    ShareLink.objects.filter(pk=expired.pk).update(expires=timezone.now() - timedelta(hours=1))
    revoked = link_create(image=alice_image, created_by=alice, download=True)
    link_revoke(revoked)
    client.force_login(alice)

    response = client.get(reverse("image_detail", args=[alice_image.pk]))

    html = response.content.decode()
    assert f'value="http://testserver/s/{alice_link.token}"' in html
    cards = {
        link.pk: text_of_fragment(html, f'id="link-{link.pk}"')
        for link in (alice_link, expired, revoked)
    }
    assert cards[alice_link.pk].startswith("Open made")
    assert "Views 0 (no limit)" in cards[alice_link.pk]
    assert "Distinct viewers none yet" in cards[alice_link.pk]
    assert "Password No" in cards[alice_link.pk]
    assert cards[expired.pk].startswith("Expired")
    assert "Views 0 of 3" in cards[expired.pk]
    assert "Password Yes" in cards[expired.pk]
    assert cards[revoked.pk].startswith("Revoked")
    assert "A download" in cards[revoked.pk]
    assert "Revoke link" not in cards[revoked.pk]
    assert "s3cret" not in html


def text_of_fragment(html: str, marker: str) -> str:
    start = html.index(marker)
    end = html.index("</li>\n", start)
    fragment = html[html.index(">", start) + 1 : end]
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


# --- Share links from the page ----------------------------------------------------------------


def test_a_link_made_on_the_page_has_the_chosen_settings(client, alice, alice_image):
    client.force_login(alice)
    response = client.post(
        reverse("image_link_create", args=[alice_image.pk]),
        {"expiry": "3600", "max_views": "5", "password": "open sesame", "download": "on"},
    )
    link = ShareLink.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("image_detail", args=[alice_image.pk]) + (
        f"#link-{link.pk}"
    )
    assert abs((link.expires - timezone.now()) - timedelta(hours=1)) < timedelta(minutes=1)
    assert (link.max_views, link.download, link.created_by) == (5, True, alice)
    assert link.password
    assert "open sesame" not in link.password


def test_a_link_defaults_to_one_day_inline_without_password(client, alice, alice_image):
    client.force_login(alice)
    client.post(reverse("image_link_create", args=[alice_image.pk]), {})
    link = ShareLink.objects.get()
    assert abs((link.expires - timezone.now()) - timedelta(days=1)) < timedelta(minutes=1)
    assert (link.max_views, link.download, link.has_password) == (None, False, False)


def test_a_chosen_date_and_time_is_read_in_the_portals_time_zone(
    client, alice, alice_image, settings
):
    client.force_login(alice)
    settings.TIME_ZONE = "Europe/Berlin"
    moment = timezone.localtime(timezone.now() + timedelta(days=2)).replace(second=0, microsecond=0)
    client.post(
        reverse("image_link_create", args=[alice_image.pk]),
        {"expiry": "at", "expires_at": moment.strftime("%Y-%m-%dT%H:%M")},
    )
    assert ShareLink.objects.get().expires == moment


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"expiry": "at", "expires_at": ""}, "Choose the date and time the link should expire."),
        ({"expiry": "at", "expires_at": "soon"}, "Enter the expiry date and time"),
        ({"expiry": "3600", "max_views": "0"}, "Max views must be 1 or more"),
        ({"expiry": "3600", "max_views": "many"}, "Max views must be a whole number"),
        ({"expiry": "forever"}, "Choose one of the expiry options."),
        ({"expiry": "3600", "expires_at": "2030-01-01T10:00"}, "You typed a date and time"),
    ],
)
def test_a_bad_link_form_says_what_to_fix_and_makes_nothing(
    client, alice, alice_image, data, message
):
    client.force_login(alice)
    response = client.post(reverse("image_link_create", args=[alice_image.pk]), data)
    assert response.status_code == 422
    assert "The link was not made:" in text_of(response)
    assert message in text_of(response)
    assert not ShareLink.objects.exists()


def test_a_date_past_the_maximum_is_refused_with_the_limit(client, alice, alice_image):
    client.force_login(alice)
    too_late = timezone.localtime(timezone.now() + timedelta(days=8))
    response = client.post(
        reverse("image_link_create", args=[alice_image.pk]),
        {"expiry": "at", "expires_at": too_late.strftime("%Y-%m-%dT%H:%M")},
    )
    assert response.status_code == 422
    assert "A link can live at most 7 days." in text_of(response)
    assert not ShareLink.objects.exists()


def test_extending_an_expired_link_opens_it_again(client, alice, alice_link):
    ShareLink.objects.filter(pk=alice_link.pk).update(expires=timezone.now() - timedelta(hours=1))
    client.force_login(alice)

    response = client.post(
        reverse("link_edit", args=[alice_link.token]), {"expiry": "604800", "max_views": ""}
    )

    alice_link.refresh_from_db()
    assert response.status_code == 302
    assert alice_link.state() == "open"
    assert alice_link.expires > timezone.now() + timedelta(days=6)
    assert "Link saved: it is open." in text_of(client.get(response["Location"]))


def test_shortening_a_link_and_setting_max_views(client, alice, alice_image):
    link = link_create(image=alice_image, created_by=alice, expiry=Expiry(seconds=7 * 86400))
    client.force_login(alice)
    client.post(reverse("link_edit", args=[link.token]), {"expiry": "3600", "max_views": "2"})
    link.refresh_from_db()
    assert link.expires < timezone.now() + timedelta(hours=1, minutes=1)
    assert link.max_views == 2


def test_keeping_the_expiry_changes_only_max_views(client, alice, alice_link):
    expires = alice_link.expires
    client.force_login(alice)
    client.post(reverse("link_edit", args=[alice_link.token]), {"expiry": "", "max_views": "9"})
    alice_link.refresh_from_db()
    assert (alice_link.expires, alice_link.max_views) == (expires, 9)
    client.post(reverse("link_edit", args=[alice_link.token]), {"expiry": "", "max_views": ""})
    alice_link.refresh_from_db()
    assert alice_link.max_views is None


def test_revoking_from_the_page_and_a_revoked_link_cant_be_changed(client, alice, alice_link):
    client.force_login(alice)

    response = client.post(reverse("link_revoke", args=[alice_link.token]))
    alice_link.refresh_from_db()
    assert alice_link.revoked is not None
    assert "Link revoked: it no longer opens." in text_of(client.get(response["Location"]))

    again = client.post(reverse("link_revoke", args=[alice_link.token]))
    assert "already revoked" in text_of(client.get(again["Location"]))

    edit = client.post(reverse("link_edit", args=[alice_link.token]), {"expiry": "3600"})
    assert "This link was revoked; make a new one instead." in text_of(client.get(edit["Location"]))
    alice_link.refresh_from_db()
    assert alice_link.state() == "revoked"


def test_an_admin_may_revoke_anyones_link(client, admin_user, alice_link):
    client.force_login(admin_user)
    client.post(reverse("link_revoke", args=[alice_link.token]))
    alice_link.refresh_from_db()
    assert alice_link.revoked is not None


# --- Deleting ---------------------------------------------------------------------------------


def test_deleting_an_image_removes_its_objects_and_links(client, alice, alice_image, alice_link):
    client.force_login(alice)
    confirm = client.get(reverse("image_delete", args=[alice_image.pk]))
    assert "its 1 share link stops working" in text_of(confirm)

    response = client.post(reverse("image_delete", args=[alice_image.pk]))

    assert response.status_code == 302
    assert response["Location"] == reverse("image_list")
    assert holdings() == holdings().__class__(keys=frozenset(), images=0, pending=0, links=0)
    assert "Deleted “Beach at dawn”." in text_of(client.get(response["Location"]))


def test_delete_all_speaks_of_one_image_as_one(client, alice, store_image):
    store_image(alice)
    client.force_login(alice)

    text = text_of(client.get(reverse("images_delete_all")))

    assert "This deletes your one image (" in text
    assert "every share link to it." in text


def test_delete_all_says_what_goes_and_removes_only_mine(client, alice, bob, store_image):
    store_image(alice)
    store_image(alice, samples.plain("PNG"), filename="b.png")
    kept = store_image(bob)
    client.force_login(alice)

    confirm = client.get(reverse("images_delete_all"))
    assert f"all 2 of your images ({megabytes(quota_used(alice))} of storage)" in text_of(confirm)

    response = client.post(reverse("images_delete_all"))

    assert response["Location"] == reverse("image_list")
    assert "Deleted 2 images." in text_of(client.get(response["Location"]))
    assert holdings().keys == {kept.key, kept.thumbnail_key}
    assert list(s3.keys_under(f"users/{alice.pk}/")) == []


def test_delete_all_by_an_admin_deletes_only_the_admins_own(client, admin_user, alice, store_image):
    theirs = store_image(alice)
    store_image(admin_user)
    client.force_login(admin_user)
    client.post(reverse("images_delete_all"))
    assert list(Image.objects.all()) == [theirs]


def test_delete_all_with_nothing_to_delete_says_so(client, alice):
    client.force_login(alice)
    response = client.get(reverse("images_delete_all"))
    assert "You have no images, so there is nothing to delete." in text_of(response)


# --- When S3 doesn't answer ---------------------------------------------------------------------


def _store_down(*args, **kwargs):
    raise s3.S3Error("the image store is not answering (injected); try again shortly")


def test_an_upload_while_the_store_is_down_says_so_plainly(client, alice, monkeypatch):
    monkeypatch.setattr(s3, "put_file", _store_down)
    client.force_login(alice)
    response = upload(client, photo_file("boat.jpg"))
    assert response.status_code == 503
    text = text_of(response)
    assert "boat.jpg: The image store is not answering right now, so it was not stored." in text
    assert "injected" not in text
    assert not Image.objects.exists()


def test_a_delete_while_the_store_is_down_keeps_the_image_and_says_so(
    client, alice, alice_image, monkeypatch
):
    client.force_login(alice)
    with monkeypatch.context() as patch:  # undone before the bucket is emptied
        patch.setattr(s3, "delete_keys", _store_down)
        patch.setattr(s3, "delete_prefix", _store_down)
        one = client.post(reverse("image_delete", args=[alice_image.pk]), follow=True)
        everything = client.post(reverse("images_delete_all"), follow=True)
    assert "so the image was not deleted" in text_of(one)
    assert "so your images were not deleted" in text_of(everything)
    assert Image.objects.filter(pk=alice_image.pk).exists()
