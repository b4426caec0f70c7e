"""The orders JSON API: who may call what, the shapes it answers with and every error code.

Bearer tokens are real JWTs from our test provider; their groups claim carries the same roles
the person fixtures hold in the database.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from orders.api import ORDER_ERRORS
from orders.models import IdempotencyKey, Order, OrderEvent
from portal.api import ERROR_CODES
from portal.tests.api_answers import assert_error

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("op_settings", "catalog")]

ORDERS = "/api/orders"
UTC_SECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
MONEY = re.compile(r"^\d+\.\d\d$")


def item(number: str) -> str:
    return f"{ORDERS}/{number}"


def status_url(number: str) -> str:
    return f"{ORDERS}/{number}/status"


def post_order(client, headers, body, **extra_headers):
    return client.post(
        ORDERS, body, content_type="application/json", headers={**headers, **extra_headers}
    )


def put_status(client, headers, number, body):
    return client.put(status_url(number), body, content_type="application/json", headers=headers)


def snapshot(*orders: Order) -> list[tuple]:
    """What must not change: each order's status and updated time, and the event count."""
    return [
        (order.status, order.updated, order.events.count())
        for order in Order.objects.filter(pk__in=[order.pk for order in orders])
    ]


# -- who may call what: anonymous / no role / right role -------------------------------------


def _endpoints(number: str) -> dict[str, tuple[str, str, dict | None]]:
    return {
        "list": ("get", ORDERS, None),
        "create": ("post", ORDERS, {"lines": [{"sku": "PEN-BLUE", "quantity": 1}]}),
        "detail": ("get", item(number), None),
        "status": ("put", status_url(number), {"status": "cancelled"}),
        "delete": ("delete", item(number), None),
    }


ENDPOINT_NAMES = ["list", "create", "detail", "status", "delete"]


def _call(client, name: str, number: str, headers: dict | None = None):
    method, url, body = _endpoints(number)[name]
    kwargs = {"headers": headers or {}}
    if body is not None:
        kwargs.update(data=body, content_type="application/json")
    return getattr(client, method)(url, **kwargs)


@pytest.mark.parametrize("name", ENDPOINT_NAMES)
def test_anonymous_gets_401_with_bearer_challenge_and_nothing_changes(
    client, alice, place_order, name
):
    order = place_order(alice)
    before = snapshot(order)

    response = _call(client, name, order.number)

    assert_error(response, "unauthenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert snapshot(order) == before
    assert Order.objects.count() == 1


@pytest.mark.parametrize("name", ENDPOINT_NAMES)
def test_bad_token_gets_401_invalid_token(client, op, alice, place_order, name):
    order = place_order(alice)
    expired = op.issue_access_token(
        "alice", overrides={"iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600}
    )

    response = _call(client, name, order.number, {"Authorization": f"Bearer {expired}"})

    assert_error(response, "unauthenticated")
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


@pytest.mark.parametrize("name", ENDPOINT_NAMES)
def test_user_without_role_gets_403_and_nothing_changes(
    client, token_for, alice, nobody, place_order, name
):
    order = place_order(alice)
    before = snapshot(order)

    response = _call(client, name, order.number, token_for(nobody))

    assert_error(response, "forbidden")
    assert snapshot(order) == before
    assert Order.objects.count() == 1


@pytest.mark.parametrize(
    ("name", "who", "status"),
    [
        ("list", "alice", 200),
        ("list", "admin_user", 200),
        ("create", "alice", 201),
        ("create", "admin_user", 201),
        ("detail", "alice", 200),
        ("detail", "admin_user", 200),
        ("status", "alice", 200),  # the owner cancels a pending order
        ("status", "admin_user", 200),
        ("delete", "admin_user", 200),
    ],
)
def test_right_role_is_served(client, token_for, alice, place_order, request, name, who, status):
    order = place_order(alice)

    response = _call(client, name, order.number, token_for(request.getfixturevalue(who)))

    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("application/json")
    assert "no-store" in response["Cache-Control"]


def test_delete_by_a_user_is_403_even_for_their_own_order(client, token_for, alice, place_order):
    order = place_order(alice)
    before = snapshot(order)

    response = client.delete(item(order.number), headers=token_for(alice))

    assert_error(response, "forbidden")
    assert snapshot(order) == before


def test_provider_down_gives_503_unavailable(client, op, token_for, alice):
    headers = token_for(alice)
    op.stop()  # the signing keys were never fetched, so the token can't be checked

    response = client.get(ORDERS, headers=headers)

    assert_error(response, "unavailable")
    assert response["Retry-After"]


# -- shapes ----------------------------------------------------------------------------------


def test_create_answers_201_with_the_order_and_its_location(client, token_for, alice, settings):
    body = {"lines": [{"sku": "PEN-BLUE", "quantity": 2}, {"sku": "STAPLER", "quantity": 1}]}

    response = post_order(client, token_for(alice), body)

    assert response.status_code == 201, response.content
    data = response.json()
    order = Order.objects.get()
    assert order.owner == alice
    assert response["Location"] == f"http://testserver/api/orders/{order.number}"
    assert data == {
        "number": order.number,
        "url": f"http://testserver/api/orders/{order.number}",
        "status": "pending",
        "currency": settings.CURRENCY,
        "total": "15.90",
        "owner": "alice@example.com",
        "created": data["created"],
        "updated": data["updated"],
        "lines": [
            {
                "sku": "PEN-BLUE",
                "product": "Blue pen",
                "quantity": 2,
                "unit_price": "1.50",
                "line_total": "3.00",
            },
            {
                "sku": "STAPLER",
                "product": "Stapler",
                "quantity": 1,
                "unit_price": "12.90",
                "line_total": "12.90",
            },
        ],
    }
    assert client.get(response["Location"], headers=token_for(alice)).json() == data


def test_created_is_iso_8601_utc_with_z(client, token_for, alice, place_order, settings):
    assert settings.TIME_ZONE != "UTC"  # the portal's zone must not leak into the API
    moment = datetime(2026, 3, 1, 9, 30, 15, tzinfo=UTC)
    order = place_order(alice, created=moment)

    data = client.get(item(order.number), headers=token_for(alice)).json()

    assert data["created"] == "2026-03-01T09:30:15Z"
    assert UTC_SECONDS.match(data["updated"])
    assert datetime.fromisoformat(data["created"]) == moment


def test_money_is_a_decimal_string_with_two_places(client, token_for, alice, place_order):
    place_order(alice, [("NOTE-A5", 3), ("STAPLER", 10)])

    data = client.get(ORDERS, headers=token_for(alice)).json()["results"][0]

    assert data["total"] == "141.60"
    assert [(line["unit_price"], line["line_total"]) for line in data["lines"]] == [
        ("4.20", "12.60"),
        ("12.90", "129.00"),
    ]
    amounts = [data["total"]] + [
        line[key] for line in data["lines"] for key in ("unit_price", "line_total")
    ]
    assert all(isinstance(amount, str) and MONEY.match(amount) for amount in amounts)


def test_list_shows_a_user_their_own_orders_and_an_admin_all(
    client, token_for, alice, bob, admin_user, place_order
):
    mine = place_order(alice)
    theirs = place_order(bob)

    as_alice = client.get(ORDERS, headers=token_for(alice)).json()
    as_admin = client.get(ORDERS, headers=token_for(admin_user)).json()

    assert [o["number"] for o in as_alice["results"]] == [mine.number]
    assert as_alice["next"] is None
    assert [o["number"] for o in as_admin["results"]] == [theirs.number, mine.number]


def test_list_filters_by_status_and_admin_searches_by_number_or_email(
    client, token_for, alice, bob, admin_user, place_order
):
    pending = place_order(alice)
    paid = place_order(alice, status=Order.Status.PAID)
    bobs = place_order(bob)
    admin = token_for(admin_user)

    def numbers(params, headers=admin):
        response = client.get(ORDERS, params, headers=headers)
        assert response.status_code == 200, response.content
        return [o["number"] for o in response.json()["results"]]

    assert numbers({"status": "paid"}) == [paid.number]
    assert numbers({"status": "pending", "q": "alice@example.com"}) == [pending.number]
    assert numbers({"q": bobs.number}) == [bobs.number]
    assert numbers({"q": "BOB@example.com"}) == [bobs.number]
    # A USER's search never reaches beyond their own orders.
    assert numbers({"q": bobs.number}, token_for(alice)) == [paid.number, pending.number]


# -- other people's orders -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", item, None),
        ("head", item, None),
        ("put", status_url, {"status": "cancelled"}),
        ("delete", item, None),
    ],
)
def test_alice_cannot_see_or_touch_bobs_order(
    client, token_for, alice, bob, place_order, method, path, body
):
    bobs = place_order(bob)
    before = snapshot(bobs)
    kwargs = {"headers": token_for(alice)}
    if body is not None:
        kwargs.update(data=body, content_type="application/json")

    response = getattr(client, method)(path(bobs.number), **kwargs)

    assert response.status_code == 404
    if method != "head":
        assert_error(response, "not_found")
        assert bobs.number in response.json()["detail"]
    assert snapshot(bobs) == before
    assert Order.objects.get(pk=bobs.pk).status == Order.Status.PENDING


def test_unknown_number_is_a_json_404(client, token_for, admin_user):
    response = client.get(item("ORD-00000-00000"), headers=token_for(admin_user))

    assert_error(response, "not_found")


# -- idempotency -----------------------------------------------------------------------------


def test_replayed_post_with_idempotency_key_gives_the_same_order_once(client, token_for, alice):
    body = {"lines": [{"sku": "NOTE-A5", "quantity": 2}]}
    headers = token_for(alice)

    first = post_order(client, headers, body, **{"Idempotency-Key": "k-1"})
    second = post_order(client, headers, body, **{"Idempotency-Key": "k-1"})

    assert first.status_code == 201
    assert second.status_code == 200
    assert second.json() == first.json()
    assert second["Location"] == first["Location"]
    assert Order.objects.count() == 1
    assert IdempotencyKey.objects.count() == 1


def test_idempotency_key_with_another_body_is_422_and_places_nothing(client, token_for, alice):
    headers = token_for(alice)
    first = post_order(
        client, headers, {"lines": [{"sku": "NOTE-A5", "quantity": 2}]}, **{"Idempotency-Key": "k"}
    )
    assert first.status_code == 201

    response = post_order(
        client, headers, {"lines": [{"sku": "NOTE-A5", "quantity": 3}]}, **{"Idempotency-Key": "k"}
    )

    assert_error(response, "invalid")
    assert Order.objects.count() == 1


def test_idempotency_keys_are_per_user(client, token_for, alice, bob):
    body = {"lines": [{"sku": "PEN-BLUE", "quantity": 1}]}

    as_alice = post_order(client, token_for(alice), body, **{"Idempotency-Key": "same"})
    as_bob = post_order(client, token_for(bob), body, **{"Idempotency-Key": "same"})

    assert as_alice.status_code == as_bob.status_code == 201
    assert as_alice.json()["number"] != as_bob.json()["number"]
    assert as_bob.json()["owner"] == "bob@example.com"


def test_an_expired_idempotency_key_places_a_new_order(client, token_for, alice):
    body = {"lines": [{"sku": "PEN-BLUE", "quantity": 1}]}
    headers = token_for(alice)
    first = post_order(client, headers, body, **{"Idempotency-Key": "old"})
    IdempotencyKey.objects.update(created=timezone.now() - timedelta(hours=25))

    again = post_order(client, headers, body, **{"Idempotency-Key": "old"})

    assert again.status_code == 201
    assert again.json()["number"] != first.json()["number"]


def test_posts_without_a_key_place_one_order_each(client, token_for, alice):
    body = {"lines": [{"sku": "PEN-BLUE", "quantity": 1}]}
    headers = token_for(alice)

    assert post_order(client, headers, body).status_code == 201
    assert post_order(client, headers, body).status_code == 201
    assert Order.objects.count() == 2


@pytest.mark.parametrize("key", ["", "   ", "k" * 201, "a\x00b"])
def test_unusable_idempotency_key_is_400(client, token_for, alice, key):
    body = {"lines": [{"sku": "PEN-BLUE", "quantity": 1}]}

    response = post_order(client, token_for(alice), body, **{"Idempotency-Key": key})

    assert_error(response, "bad_request")
    assert Order.objects.count() == 0


def test_replayed_status_change_is_a_200_no_op(client, token_for, alice, admin_user, place_order):
    order = place_order(alice)
    headers = token_for(admin_user)

    first = put_status(client, headers, order.number, {"status": "paid"})
    after_first = snapshot(order)
    second = put_status(client, headers, order.number, {"status": "paid"})

    assert first.status_code == second.status_code == 200
    assert first.json()["status"] == second.json()["status"] == "paid"
    assert snapshot(order) == after_first
    assert list(order.events.values_list("to_status", flat=True)) == ["pending", "paid"]


def test_owner_cancels_their_pending_order_and_again_is_a_no_op(
    client, token_for, alice, place_order
):
    order = place_order(alice)
    headers = token_for(alice)

    first = put_status(client, headers, order.number, {"status": "cancelled"})
    second = put_status(client, headers, order.number, {"status": "cancelled"})

    assert first.status_code == second.status_code == 200
    assert second.json()["status"] == "cancelled"
    event = OrderEvent.objects.filter(order=order).last()
    assert (event.from_status, event.to_status, event.actor) == ("pending", "cancelled", alice)


def test_replayed_delete_is_a_200_no_op_returning_the_order(
    client, token_for, alice, admin_user, place_order
):
    order = place_order(alice, status=Order.Status.PAID)
    headers = token_for(admin_user)

    first = client.delete(item(order.number), headers=headers)
    after_first = snapshot(order)
    second = client.delete(item(order.number), headers=headers)

    assert first.status_code == second.status_code == 200
    assert first.json()["number"] == order.number
    assert second.json()["status"] == "cancelled"
    assert snapshot(order) == after_first
    assert Order.objects.filter(pk=order.pk).exists()  # cancelled, never erased


# -- status changes that are refused ---------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "wanted"),
    [
        (Order.Status.PENDING, "shipped"),
        (Order.Status.PENDING, "delivered"),
        (Order.Status.SHIPPED, "cancelled"),
        (Order.Status.DELIVERED, "paid"),
        (Order.Status.CANCELLED, "paid"),
        (Order.Status.PAID, "pending"),
    ],
)
def test_admin_invalid_transition_is_409(
    client, token_for, alice, admin_user, place_order, current, wanted
):
    order = place_order(alice, status=current)
    before = snapshot(order)

    response = put_status(client, token_for(admin_user), order.number, {"status": wanted})

    body = assert_error(response, "conflict")
    assert current in body["detail"]
    assert snapshot(order) == before


@pytest.mark.parametrize("current", [Order.Status.SHIPPED, Order.Status.DELIVERED])
def test_admin_delete_of_a_shipped_or_delivered_order_is_409(
    client, token_for, alice, admin_user, place_order, current
):
    order = place_order(alice, status=current)

    response = client.delete(item(order.number), headers=token_for(admin_user))

    assert_error(response, "conflict")
    assert Order.objects.get(pk=order.pk).status == current


def test_owner_cannot_cancel_a_paid_order(client, token_for, alice, place_order):
    order = place_order(alice, status=Order.Status.PAID)

    response = put_status(client, token_for(alice), order.number, {"status": "cancelled"})

    assert_error(response, "conflict")
    assert Order.objects.get(pk=order.pk).status == Order.Status.PAID


@pytest.mark.parametrize("wanted", ["paid", "shipped"])
def test_owner_cannot_move_their_order_along_the_pipeline(
    client, token_for, alice, place_order, wanted
):
    order = place_order(alice)
    before = snapshot(order)

    response = put_status(client, token_for(alice), order.number, {"status": wanted})

    assert_error(response, "forbidden")
    assert snapshot(order) == before


# -- every error code ------------------------------------------------------------------------

BAD_ORDER_BODIES = {
    # 400: not JSON, or JSON of the wrong types
    "malformed JSON": ('{"lines": [', "bad_request"),
    "empty body": ("", "bad_request"),
    "not an object": ("[]", "bad_request"),
    "lines not a list": ({"lines": {"sku": "PEN-BLUE", "quantity": 1}}, "bad_request"),
    "line not an object": ({"lines": ["PEN-BLUE"]}, "bad_request"),
    "quantity a string": ({"lines": [{"sku": "PEN-BLUE", "quantity": "2"}]}, "bad_request"),
    "quantity a bool": ({"lines": [{"sku": "PEN-BLUE", "quantity": True}]}, "bad_request"),
    "quantity a float": ({"lines": [{"sku": "PEN-BLUE", "quantity": 1.5}]}, "bad_request"),
    "sku a number": ({"lines": [{"sku": 7, "quantity": 1}]}, "bad_request"),
    # 422: well-formed but unacceptable
    "unknown SKU": ({"lines": [{"sku": "NOPE", "quantity": 1}]}, "invalid"),
    "inactive SKU": ({"lines": [{"sku": "FAX-ROLL", "quantity": 1}]}, "invalid"),
    "quantity 0": ({"lines": [{"sku": "PEN-BLUE", "quantity": 0}]}, "invalid"),
    "quantity negative": ({"lines": [{"sku": "PEN-BLUE", "quantity": -3}]}, "invalid"),
    "quantity too big": ({"lines": [{"sku": "PEN-BLUE", "quantity": 10**6}]}, "invalid"),
    "one SKU twice, too many in all": (
        {"lines": [{"sku": "PEN-BLUE", "quantity": 600}, {"sku": "PEN-BLUE", "quantity": 600}]},
        "invalid",
    ),
    "no lines": ({"lines": []}, "invalid"),
    "lines missing": ({}, "invalid"),
    "quantity missing": ({"lines": [{"sku": "PEN-BLUE"}]}, "invalid"),
    "unknown field": ({"lines": [{"sku": "PEN-BLUE", "quantity": 1}], "owner": 1}, "invalid"),
    "unknown line field": (
        {"lines": [{"sku": "PEN-BLUE", "quantity": 1, "unit_price": "0.01"}]},
        "invalid",
    ),
}


@pytest.mark.parametrize("case", BAD_ORDER_BODIES)
def test_bad_order_body_is_refused_with_its_code(client, token_for, alice, case):
    body, code = BAD_ORDER_BODIES[case]

    response = post_order(client, token_for(alice), body)

    assert_error(response, code)
    assert Order.objects.count() == 0


BAD_STATUS_BODIES = {
    "malformed JSON": ("{status: paid}", "bad_request"),
    "not an object": ('"paid"', "bad_request"),
    "status a number": ({"status": 2}, "bad_request"),
    "unknown status": ({"status": "lost"}, "invalid"),
    "status missing": ({}, "invalid"),
    "unknown field": ({"status": "paid", "note": "x"}, "invalid"),
}


@pytest.mark.parametrize("case", BAD_STATUS_BODIES)
def test_bad_status_body_is_refused_with_its_code(
    client, token_for, alice, admin_user, place_order, case
):
    order = place_order(alice)
    before = snapshot(order)
    body, code = BAD_STATUS_BODIES[case]

    response = put_status(client, token_for(admin_user), order.number, body)

    assert_error(response, code)
    assert snapshot(order) == before


@pytest.mark.parametrize(
    "params",
    [
        {"cursor": "not-a-cursor"},
        {"cursor": "b2xkZXJ8bm90LWEtZGF0ZXwx"},  # "older|not-a-date|1"
        {
            "cursor": "b2xkZXJ8OTk5OS0xMi0zMVQyMzo1OTo1OS0yMzo1OXwx"
        },  # "older|9999-12-31T23:59:59-23:59|1": a time past year 9999 in UTC
        {
            "cursor": "b2xkZXJ8MjAyNC0wMS0wMVQwMDowMDowMCswMDowMHw5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OQ"
        },  # "older|2024-01-01T00:00:00+00:00|99999999999999999999999": an id beyond 64 bits
        {
            "cursor": "b2xkZXJ8MjAyNC0wMS0wMVQwMDowMDowMHw1"
        },  # "older|2024-01-01T00:00:00|5": a time without its zone
        {
            "cursor": "b2xkZXJ8MjAyNC0wMS0wMVQwMDowMDowMCswMDowMHww"
        },  # "older|2024-01-01T00:00:00+00:00|0": id 0
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "ten"},
        {"limit": "²"},
        {"limit": "-5"},
        {"status": "lost"},
    ],
)
def test_bad_list_parameters_are_400(client, token_for, alice, params):
    response = client.get(ORDERS, params, headers=token_for(alice))

    assert_error(response, "bad_request")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("patch", ORDERS, "GET, POST, HEAD, OPTIONS"),
        ("delete", ORDERS, "GET, POST, HEAD, OPTIONS"),
        ("post", item("ORD-X"), "GET, DELETE, HEAD, OPTIONS"),
        ("put", item("ORD-X"), "GET, DELETE, HEAD, OPTIONS"),
        ("get", status_url("ORD-X"), "PUT, OPTIONS"),
        ("post", status_url("ORD-X"), "PUT, OPTIONS"),
    ],
)
def test_wrong_method_is_405_with_allow(client, token_for, alice, method, path, allowed):
    response = getattr(client, method)(path, headers=token_for(alice))

    assert_error(response, "method_not_allowed")
    assert response["Allow"] == allowed


# The contract clients are written against (README, "Errors"): each code and its one status.
# The codes the orders API answers (the uploads API adds gone, too_large, quota_exceeded and
# unsupported_type; uploads/tests checks those).
ORDER_CODES_STATUS = {
    "bad_request": 400,
    "unauthenticated": 401,
    "forbidden": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "conflict": 409,
    "invalid": 422,
    "unavailable": 503,
}


def test_every_error_code_is_answered_with_its_documented_status(
    client, op, settings, token_for, alice, admin_user, nobody, place_order
):
    delivered = place_order(alice, status=Order.Status.DELIVERED)
    seen = {}

    def answer(response):
        seen[response.json()["error"]] = response.status_code

    answer(client.get(ORDERS, {"limit": "0"}, headers=token_for(alice)))
    answer(client.get(ORDERS))
    answer(client.get(ORDERS, headers=token_for(nobody)))
    answer(client.get(item("ORD-NONE0-NONE0"), headers=token_for(alice)))
    answer(client.patch(ORDERS, headers=token_for(alice)))
    answer(put_status(client, token_for(admin_user), delivered.number, {"status": "paid"}))
    answer(post_order(client, token_for(alice), {"lines": []}))
    # The provider unreachable while an unseen opaque token is checked:
    settings.OIDC_OP_USER_ENDPOINT = "http://127.0.0.1:9/userinfo"
    answer(client.get(ORDERS, headers={"Authorization": "Bearer opaque-token-never-seen"}))

    assert seen == ORDER_CODES_STATUS
    assert {c: s for c, s, _when in ERROR_CODES}.items() >= ORDER_CODES_STATUS.items()
    assert set(ORDER_ERRORS.values()) <= set(ORDER_CODES_STATUS)


# -- the browser session ---------------------------------------------------------------------


def test_session_works_for_get(browser_of, alice, place_order):
    order = place_order(alice)
    browser = browser_of(alice)

    assert browser.get(ORDERS).json()["results"][0]["number"] == order.number
    assert browser.get(item(order.number)).status_code == 200


def test_session_post_without_csrf_token_is_403(browser_of, alice, catalog):
    response = browser_of(alice).post(
        ORDERS, {"lines": [{"sku": "PEN-BLUE", "quantity": 1}]}, content_type="application/json"
    )

    body = assert_error(response, "forbidden")
    assert "CSRF" in body["detail"]
    assert Order.objects.count() == 0


def test_session_put_and_delete_without_csrf_token_are_403(
    browser_of, alice, admin_user, place_order
):
    order = place_order(alice)
    before = snapshot(order)
    browser = browser_of(admin_user)

    put = browser.put(status_url(order.number), {"status": "paid"}, content_type="application/json")
    delete = browser.delete(item(order.number))

    assert_error(put, "forbidden")
    assert_error(delete, "forbidden")
    assert snapshot(order) == before


def test_session_post_with_csrf_token_places_the_order(browser_of, alice, catalog):
    browser = browser_of(alice)
    secret = "a" * 16 + "B" * 16  # a CSRF secret: 32 characters
    browser.cookies["csrftoken"] = secret

    response = browser.post(
        ORDERS,
        {"lines": [{"sku": "PEN-BLUE", "quantity": 1}]},
        content_type="application/json",
        headers={"X-CSRFToken": secret},
    )

    assert response.status_code == 201, response.content
    assert Order.objects.get().owner == alice


def test_session_due_for_a_check_is_401_not_a_redirect(browser_of, alice):
    browser = browser_of(alice)
    session = browser.session
    session["oidc_id_token_expiration"] = time.time() - 1
    session.save()

    response = browser.get(ORDERS)

    assert_error(response, "unauthenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


# -- safe methods ----------------------------------------------------------------------------


def test_get_head_and_options_change_nothing(client, token_for, alice, admin_user, place_order):
    orders = [place_order(alice), place_order(alice, status=Order.Status.PAID)]
    before = snapshot(*orders)
    events_before = OrderEvent.objects.count()
    headers = token_for(admin_user)

    for path in [ORDERS, item(orders[0].number), item(orders[1].number)]:
        assert client.get(path, headers=headers).status_code == 200
        head = client.head(path, headers=headers)
        assert head.status_code == 200
        assert head.content == b""
        options = client.options(path, headers=headers)
        assert options.status_code == 204
        assert "GET" in options["Allow"]
    assert client.options(status_url(orders[0].number)).status_code == 204

    assert snapshot(*orders) == before
    assert OrderEvent.objects.count() == events_before
    assert Order.objects.count() == 2


# -- performance and paging ------------------------------------------------------------------


def test_list_query_count_does_not_grow_with_the_page(client, token_for, alice, place_order):
    headers = token_for(alice)
    place_order(alice, [("PEN-BLUE", 1), ("STAPLER", 2)])
    client.get(ORDERS, headers=headers)  # warm up: signing keys, token cache

    with CaptureQueriesContext(connection) as one:
        first = client.get(ORDERS, headers=headers)
    for _ in range(24):
        place_order(alice, [("PEN-BLUE", 1), ("STAPLER", 2), ("NOTE-A5", 3)])
    with CaptureQueriesContext(connection) as many:
        second = client.get(ORDERS, headers=headers)

    assert len(first.json()["results"]) == 1
    assert len(second.json()["results"]) == 25
    assert all(len(order["lines"]) in (2, 3) for order in second.json()["results"])
    assert len(many) == len(one), [q["sql"] for q in many.captured_queries]


@pytest.mark.parametrize("limit", [None, 7, 100])
def test_paging_through_30_orders_has_no_duplicates_or_gaps(
    client, token_for, alice, place_order, limit
):
    # Groups of orders share a creation time: the cursor must break ties by id.
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for index in range(30):
        place_order(alice, created=start + timedelta(minutes=index // 4))
    expected = list(Order.objects.order_by("-created", "-id").values_list("number", flat=True))
    headers = token_for(alice)
    params = {} if limit is None else {"limit": limit}

    seen, pages, cursor = [], [], None
    while True:
        query = params if cursor is None else {**params, "cursor": cursor}
        response = client.get(ORDERS, query, headers=headers)
        assert response.status_code == 200, response.content
        page = response.json()
        pages.append(page)
        seen += [order["number"] for order in page["results"]]
        cursor = page["next"]
        if cursor is None:
            break
        assert len(pages) < 10

    assert seen == expected
    size = limit or 25
    assert [len(page["results"]) for page in pages[:-1]] == [size] * (len(pages) - 1)
    assert pages[0]["previous"] is None
    if len(pages) > 1:
        back = client.get(ORDERS, {**params, "cursor": pages[1]["previous"]}, headers=headers)
        assert back.json()["results"] == pages[0]["results"]


# -- the docs page ---------------------------------------------------------------------------


def test_docs_page_is_public_and_lists_every_endpoint(client):
    response = client.get("/api/")

    assert response.status_code == 200
    page = response.content.decode()
    assert 'href="/account/"' in page
    for endpoint in [
        "GET /api/orders",
        "POST /api/orders",
        "GET /api/orders/&lt;number&gt;",
        "PUT /api/orders/&lt;number&gt;/status",
        "DELETE /api/orders/&lt;number&gt;",
    ]:
        assert endpoint in page
    for code, _status, _when in ERROR_CODES:
        assert f"<code>{code}</code>" in page
    assert "Idempotency-Key" in page
    assert "curl" in page


def test_a_form_post_from_a_signed_in_browser_is_told_to_send_json(browser_of, alice, catalog):
    browser = browser_of(alice)
    secret = "a" * 16 + "B" * 16
    browser.cookies["csrftoken"] = secret

    # A form: the CSRF check reads it as a form, so its body can't be read as JSON afterwards.
    response = browser.post(ORDERS, {"csrfmiddlewaretoken": secret, "sku": "PEN-BLUE"})

    body = assert_error(response, "bad_request")
    assert "send the body as JSON" in body["detail"]
    assert Order.objects.count() == 0


def test_a_body_over_the_size_limit_is_400(client, token_for, alice, catalog, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    lines = [{"sku": "PEN-BLUE", "quantity": 1}] * 20

    response = post_order(client, token_for(alice), {"lines": lines})

    body = assert_error(response, "bad_request")
    assert "too large" in body["detail"]
    assert Order.objects.count() == 0
