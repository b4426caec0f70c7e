"""Order status changes in the audit trail: one event per change, in the change's transaction."""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import transaction

from audit.models import AuditEvent
from audit.tests.recorded import assert_from_request, only_event
from orders.models import Order
from orders.services import order_change_status

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("op_settings", "catalog")]

CHANGED = AuditEvent.Action.ORDER_STATUS_CHANGED


def test_a_status_change_on_the_page_records_who_from_to_ip_and_request(
    browser_of, admin_user, alice, place_order
):
    order = place_order(alice)
    browser = browser_of(admin_user)
    page = browser.get(f"/orders/{order.number}/")
    response = browser.post(
        f"/orders/{order.number}/status/",
        {"status": "paid", "csrfmiddlewaretoken": page.cookies["csrftoken"].value},
        REMOTE_ADDR="203.0.113.9",
    )
    assert response.status_code == 302, response.content[:500]
    event = only_event(CHANGED)
    assert event.actor == admin_user
    assert event.actor_name == f"Ada Admin <admin@example.com>, user {admin_user.pk}"
    assert event.target == f"order {order.number}"
    assert event.details == {"from": "pending", "to": "paid"}
    assert_from_request(event, response, ip="203.0.113.9")


def test_the_owner_cancelling_through_the_api_is_recorded(client, token_for, alice, place_order):
    order = place_order(alice)
    response = client.put(
        f"/api/orders/{order.number}/status",
        {"status": "cancelled"},
        content_type="application/json",
        headers=token_for(alice),
    )
    assert response.status_code == 200, response.content
    event = only_event(CHANGED)
    assert (event.actor, event.target) == (alice, f"order {order.number}")
    assert event.details == {"from": "pending", "to": "cancelled"}
    assert_from_request(event, response)


def test_a_refused_or_repeated_change_records_nothing(client, token_for, alice, place_order):
    order = place_order(alice, status=Order.Status.PAID)
    before = AuditEvent.objects.filter(action=CHANGED).count()
    for status in ("paid", "pending"):  # the same again; not allowed for the owner
        response = client.put(
            f"/api/orders/{order.number}/status",
            {"status": status},
            content_type="application/json",
            headers=token_for(alice),
        )
        assert response.status_code in (200, 403, 409), response.content
    assert AuditEvent.objects.filter(action=CHANGED).count() == before


def test_outside_a_request_the_event_has_no_ip_or_request_id(admin_user, alice, place_order):
    order = place_order(alice)
    order_change_status(order=order, to_status="paid", actor=admin_user)
    event = only_event(CHANGED)
    assert (event.ip, event.request_id) == (None, "")


def test_when_the_change_rolls_back_no_event_remains(admin_user, alice, place_order):
    order = place_order(alice)

    def change_in_a_transaction_that_fails():
        with transaction.atomic():
            order_change_status(order=order, to_status="paid", actor=admin_user)
            assert AuditEvent.objects.filter(action=CHANGED).count() == 1
            raise RuntimeError("the surrounding transaction fails after the change")

    with pytest.raises(RuntimeError):
        change_in_a_transaction_that_fails()
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING
    assert not AuditEvent.objects.filter(action=CHANGED).exists()


def test_when_the_event_cannot_be_written_the_change_rolls_back(admin_user, alice, place_order):
    order = place_order(alice)
    # The fault: the audit table refuses the row.
    with (
        mock.patch.object(AuditEvent.objects, "create", side_effect=RuntimeError("disk full")),
        pytest.raises(RuntimeError),
    ):
        order_change_status(order=order, to_status="paid", actor=admin_user)
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING
    assert order.events.count() == 1  # only "placed"
