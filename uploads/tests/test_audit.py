"""Images and share links in the audit trail: uploads, deletes, link changes and wrong passwords,
each one event with its actor, target, details, IP and request id; never a token."""

from __future__ import annotations

import io
import logging
from unittest import mock

import pytest
from django.test import Client

from audit.models import AuditEvent
from audit.tests.recorded import assert_from_request, only_event
from portal.logs import json_formatter
from uploads import links, services
from uploads.links import link_create
from uploads.models import Image
from uploads.tests import samples
from uploads.tests.test_api import (
    complete_path,
    link_path,
    links_path,
    post_json,
    start_upload,
    upload_direct,
    upload_form,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("op_settings")]

Action = AuditEvent.Action
PASSWORD = "correct horse battery"


@pytest.fixture
def image(alice, store_image):
    return store_image(alice)


def test_a_form_upload_is_recorded_with_the_image_and_its_size(client, token_for, alice):
    response = upload_form(client, token_for(alice), samples.photo(), filename="harbour.jpg")
    assert response.status_code == 201, response.content
    image = Image.objects.get()
    event = only_event(Action.IMAGE_UPLOADED)
    assert (event.actor, event.target) == (alice, f"image {image.pk}")
    assert event.details == {
        "title": "harbour",
        "filename": "harbour.jpg",
        "format": image.format,
        "bytes": image.bytes,
    }
    assert_from_request(event, response)


def test_a_direct_upload_is_recorded_once_at_completion(client, token_for, bob):
    headers = token_for(bob)
    started = start_upload(client, headers, size=1000)
    assert started.status_code == 201
    assert not AuditEvent.objects.filter(action=Action.IMAGE_UPLOADED).exists()
    response = upload_direct(client, headers, samples.photo())
    assert response.status_code == 201, response.content
    event = only_event(Action.IMAGE_UPLOADED)
    assert (event.actor, event.target) == (bob, f"image {response.json()['id']}")
    assert_from_request(event, response)


def test_a_refused_upload_records_nothing(client, token_for, alice):
    response = upload_form(client, token_for(alice), b"not a picture at all", filename="x.jpg")
    assert response.status_code == 415, response.content
    assert not AuditEvent.objects.filter(action=Action.IMAGE_UPLOADED).exists()
    started = start_upload(client, token_for(alice), size=1000).json()
    # Completing before the file arrived in S3: refused, nothing recorded.
    complete = post_json(client, complete_path(started["upload_id"]), {}, token_for(alice))
    assert complete.status_code == 422, complete.content
    assert not AuditEvent.objects.filter(action=Action.IMAGE_UPLOADED).exists()


def test_an_upload_whose_event_cannot_be_written_leaves_no_image(alice):
    with (
        mock.patch.object(AuditEvent.objects, "create", side_effect=RuntimeError("disk full")),
        pytest.raises(RuntimeError),
    ):
        services.image_store(owner=alice, file=io.BytesIO(samples.photo()), filename="a.jpg")
    assert not Image.objects.exists()


def test_deleting_an_image_on_its_page_is_recorded(browser_of, alice, image):
    browser = browser_of(alice)
    page = browser.get(f"/images/{image.pk}/delete/")
    response = browser.post(
        f"/images/{image.pk}/delete/", {"csrfmiddlewaretoken": page.cookies["csrftoken"].value}
    )
    assert response.status_code == 302
    event = only_event(Action.IMAGE_DELETED)
    assert (event.actor, event.target) == (alice, f"image {image.pk}")
    assert event.details == {"title": image.title, "owner": alice.pk}
    assert_from_request(event, response)


def test_an_admin_deleting_someone_elses_image_through_the_api_is_the_actor(
    client, token_for, admin_user, alice, image
):
    response = client.delete(f"/api/images/{image.pk}", headers=token_for(admin_user))
    assert response.status_code == 204
    event = only_event(Action.IMAGE_DELETED)
    assert (event.actor, event.details["owner"]) == (admin_user, alice.pk)


def test_deleting_all_is_one_event_listing_the_images(client, token_for, alice, store_image):
    first, second = store_image(alice), store_image(alice)
    response = client.delete("/api/images", headers=token_for(alice))
    assert response.json() == {"deleted": 2}
    event = only_event(Action.IMAGES_DELETED_ALL)
    assert event.actor == alice
    assert event.target == f"user {alice.pk}"
    assert event.details == {"count": 2, "images": [first.pk, second.pk]}
    assert_from_request(event, response)
    # Nothing to delete: nothing recorded.
    client.delete("/api/images", headers=token_for(alice))
    assert AuditEvent.objects.filter(action=Action.IMAGES_DELETED_ALL).count() == 1


def test_a_link_made_through_the_api_is_recorded_without_its_token(client, token_for, alice, image):
    response = post_json(
        client,
        links_path(image.pk),
        {"expires_in": 3600, "max_views": 5, "password": PASSWORD},
        token_for(alice),
    )
    assert response.status_code == 201, response.content
    token = response.json()["token"]
    link = image.links.get()
    event = only_event(Action.LINK_CREATED)
    assert (event.actor, event.target) == (alice, f"share link {link.pk}")
    assert event.details == {
        "image": image.pk,
        "expires": link.expires.isoformat(),
        "max_views": 5,
        "password": True,
        "download": False,
    }
    assert_from_request(event, response)
    assert token not in str(event.details) + event.target
    assert PASSWORD not in str(event.details)


def test_editing_a_link_records_which_fields_changed_from_what_to_what(
    client, token_for, alice, image
):
    link = link_create(image=image, created_by=alice, max_views=3)
    response = client.patch(
        link_path(link.token),
        {"max_views": 10},
        content_type="application/json",
        headers=token_for(alice),
    )
    assert response.status_code == 200, response.content
    event = only_event(Action.LINK_CHANGED)
    assert (event.actor, event.target) == (alice, f"share link {link.pk}")
    assert event.details == {"fields": {"max_views": {"from": 3, "to": 10}}}
    assert_from_request(event, response)


def test_editing_the_expiry_on_the_page_records_it(browser_of, alice, image):
    link = link_create(image=image, created_by=alice)
    browser = browser_of(alice)
    page = browser.get(f"/images/{image.pk}/")
    response = browser.post(
        f"/links/{link.token}/",
        {
            "expiry": "3600",
            "max_views": "",
            "csrfmiddlewaretoken": page.cookies["csrftoken"].value,
        },
    )
    assert response.status_code == 302
    link.refresh_from_db()
    event = only_event(Action.LINK_CHANGED)
    assert event.details["fields"]["expires"]["to"] == link.expires.isoformat()
    assert set(event.details["fields"]) == {"expires", "max_views"}


def test_revoking_is_recorded_once(client, token_for, alice, image):
    link = link_create(image=image, created_by=alice)
    for _ in range(2):  # the second DELETE is a no-op
        response = client.delete(link_path(link.token), headers=token_for(alice))
        assert response.status_code == 200
    event = only_event(Action.LINK_REVOKED)
    assert (event.actor, event.target, event.details) == (alice, f"share link {link.pk}", {})


def test_a_wrong_share_password_is_recorded_for_an_anonymous_visitor(alice, image):
    link = link_create(image=image, created_by=alice, password=PASSWORD)
    visitor = Client(enforce_csrf_checks=True)
    csrf = visitor.get(f"/s/{link.token}").cookies["csrftoken"].value
    response = visitor.post(
        f"/s/{link.token}",
        {"password": "wrong", "csrfmiddlewaretoken": csrf},
        REMOTE_ADDR="198.51.100.4",
    )
    assert response.status_code == 403
    event = only_event(Action.LINK_PASSWORD_FAILED)
    assert (event.actor, event.actor_name, event.target) == (None, "", f"share link {link.pk}")
    assert_from_request(event, response, ip="198.51.100.4")
    # The right password is no failure.
    visitor.post(f"/s/{link.token}", {"password": PASSWORD, "csrfmiddlewaretoken": csrf})
    assert AuditEvent.objects.filter(action=Action.LINK_PASSWORD_FAILED).count() == 1


def test_too_many_tries_are_refused_without_a_row_each(alice, image, monkeypatch):
    monkeypatch.setattr(links, "PASSWORD_TRIES", 2)
    link = link_create(image=image, created_by=alice, password=PASSWORD)
    visitor = Client()
    statuses = [
        visitor.post(f"/s/{link.token}", {"password": "guess"}).status_code for _ in range(4)
    ]
    assert statuses == [403, 403, 429, 429]
    assert AuditEvent.objects.filter(action=Action.LINK_PASSWORD_FAILED).count() == 2


# -- the logs ---------------------------------------------------------------------------------


@pytest.fixture
def json_log_lines():
    """The JSON lines logged meanwhile, as production renders them (portal.logs)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(json_formatter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield stream
    root.removeHandler(handler)


@pytest.mark.parametrize(
    "path", ["/s/{token}", "/s/{token}/raw", "/links/{token}/revoke/", "/api/links/{token}"]
)
def test_a_share_token_in_a_path_never_reaches_the_log(json_log_lines, client, alice, image, path):
    link = link_create(image=image, created_by=alice)
    client.get(path.format(token=link.token), {"next": link.token})
    logged = json_log_lines.getvalue()
    assert "request_finished" in logged
    assert path.format(token="***").split("?")[0] in logged
    assert link.token not in logged
