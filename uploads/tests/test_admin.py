"""The admin site for images and links: previews and owners, revoking, and nothing made public."""

from __future__ import annotations

from html import unescape

import pytest
from django.urls import reverse

from uploads.links import link_create
from uploads.models import ShareLink
from uploads.tests.conftest import holdings

pytestmark = pytest.mark.django_db

IMAGES = "/admin/uploads/image/"
LINKS = "/admin/uploads/sharelink/"


def test_the_image_list_shows_thumbnails_and_owners_to_an_admin(
    client, admin_user, alice, bob, store_image
):
    mine, theirs = store_image(alice, title="Alice's cat"), store_image(bob, title="Bob's dog")
    client.force_login(admin_user)

    response = client.get(IMAGES)

    assert response.status_code == 200
    html = unescape(response.content.decode())
    for image in (mine, theirs):
        assert image.title in html
        # a signed URL of the thumbnail, never of the original, and never an unsigned one
        assert f"/{image.thumbnail_key}?" in html
        assert "X-Amz-Signature=" in html
        assert f"/{image.key}" not in html
    assert "alice@example.com" in html or "Alice" in html
    assert "bob@example.com" in html or "Bob" in html


def test_the_image_list_searches_by_owner_email(client, admin_user, alice, bob, store_image):
    store_image(alice, title="Alice's cat")
    store_image(bob, title="Bob's dog")
    client.force_login(admin_user)
    html = client.get(IMAGES, {"q": "bob@example"}).content.decode()
    assert "Bob&#x27;s dog" in html or "Bob's dog" in html
    assert "Alice&#x27;s cat" not in html
    assert "Alice's cat" not in html


def test_an_image_page_in_the_admin_shows_keys_read_only(client, admin_user, alice, store_image):
    image = store_image(alice)
    client.force_login(admin_user)
    html = client.get(f"{IMAGES}{image.pk}/change/").content.decode()
    assert image.key in html
    assert 'name="key"' not in html
    assert 'name="title"' in html


def test_deleting_in_the_admin_removes_the_objects(client, admin_user, alice, store_image):
    image = store_image(alice)
    client.force_login(admin_user)
    response = client.post(f"{IMAGES}{image.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert holdings().keys == frozenset()
    assert holdings().images == 0


def test_revoke_selected_revokes_the_chosen_links(client, admin_user, alice, store_image):
    image = store_image(alice)
    chosen = [link_create(image=image, created_by=alice) for _ in range(2)]
    other = link_create(image=image, created_by=alice)
    client.force_login(admin_user)

    listing = client.get(LINKS)
    assert listing.status_code == 200
    assert "Revoke selected links" in listing.content.decode()
    assert "delete_selected" not in listing.content.decode()

    response = client.post(
        LINKS,
        {"action": "revoke_selected", "_selected_action": [link.pk for link in chosen]},
        follow=True,
    )

    assert "Revoked 2 links." in response.content.decode()
    states = {link.pk: link.state() for link in ShareLink.objects.all()}
    assert states == {chosen[0].pk: "revoked", chosen[1].pk: "revoked", other.pk: "open"}


def test_a_link_in_the_admin_shows_no_password_hash_and_cant_be_deleted(
    client, admin_user, alice, store_image
):
    link = link_create(image=store_image(alice), created_by=alice, password="hunter22")
    client.force_login(admin_user)
    html = client.get(f"{LINKS}{link.pk}/change/").content.decode()
    assert link.password not in html
    assert "pbkdf2" not in html
    assert client.post(f"{LINKS}{link.pk}/delete/", {"post": "yes"}).status_code == 403
    assert ShareLink.objects.filter(pk=link.pk).exists()


def test_pending_uploads_are_listed_read_only(client, admin_user):
    client.force_login(admin_user)
    assert client.get("/admin/uploads/pendingupload/").status_code == 200
    assert client.get("/admin/uploads/pendingupload/add/").status_code == 403


def test_a_user_without_admin_gets_403(client, alice):
    client.force_login(alice)
    assert client.get(IMAGES).status_code == 403
    assert client.get(reverse("admin:uploads_sharelink_changelist")).status_code == 403
