"""Input no order could contain is a 4xx with the usual error shape, never a 500.

Each case once crashed somewhere: the JSON parser's recursion, a lone surrogate that has no UTF-8
form, and on PostgreSQL a NUL character in any text compared with a column (DataError).
"""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from orders.models import Order
from orders.tests.test_api import ORDERS, assert_error, item, status_url

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("op_settings", "catalog")]

LINE = {"sku": "PEN-BLUE", "quantity": 1}


def post_raw(client, headers, body: str, **extra):
    return client.post(ORDERS, body, content_type="application/json", headers={**headers, **extra})


# -- JSON bodies -------------------------------------------------------------------------------

BAD_JSON = {
    "nested 100,000 deep": '{"lines": ' + "[" * 100_000 + "]" * 100_000 + "}",
    "nested 40 deep": '{"lines": [' + '{"a": ' * 40 + "1" + "}" * 40 + "]}",
    "a lone surrogate in a SKU": '{"lines": [{"sku": "\\ud800", "quantity": 1}]}',
    "a lone surrogate in a key": '{"lines": [{"sku": "PEN-BLUE", "quantity": 1}], "\\udfff": 1}',
    "a NUL in a SKU": '{"lines": [{"sku": "PEN\\u0000BLUE", "quantity": 1}]}',
}


@pytest.mark.parametrize("case", BAD_JSON)
def test_a_body_no_order_could_hold_is_400(client, token_for, alice, case):
    response = post_raw(client, token_for(alice), BAD_JSON[case])

    assert_error(response, "bad_request")
    assert Order.objects.count() == 0


@pytest.mark.parametrize("body", ['{"status": "\\ud800"}', '{"status": "paid\\u0000"}'])
def test_a_status_change_no_order_could_take_is_400(
    client, token_for, alice, admin_user, place_order, body
):
    order = place_order(alice)

    response = client.put(
        status_url(order.number),
        body,
        content_type="application/json",
        headers=token_for(admin_user),
    )

    assert_error(response, "bad_request")
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING


def test_a_sku_longer_than_any_is_an_unknown_product(client, token_for, alice):
    body = json.dumps({"lines": [{"sku": "X" * 5000, "quantity": 1}]})

    body = assert_error(post_raw(client, token_for(alice), body), "invalid")

    assert "unknown" in body["detail"]
    assert Order.objects.count() == 0


@pytest.mark.parametrize("key", ["a\x00b", "k" * 201])
def test_an_idempotency_key_no_column_could_hold_is_400(client, token_for, alice, key):
    response = post_raw(
        client, token_for(alice), json.dumps({"lines": [LINE]}), **{"Idempotency-Key": key}
    )

    assert_error(response, "bad_request")
    assert Order.objects.count() == 0


# -- order numbers in paths --------------------------------------------------------------------

NUMBERS = {"a NUL": "ORD%00X", "longer than the column": "ORD-" + "X" * 300}


@pytest.mark.parametrize("number", NUMBERS.values(), ids=NUMBERS)
def test_an_api_path_with_a_number_no_order_has_is_404(
    client, token_for, admin_user, place_order, alice, number
):
    place_order(alice)
    headers = token_for(admin_user)

    assert_error(client.get(item(number), headers=headers), "not_found")
    assert_error(client.delete(item(number), headers=headers), "not_found")
    put = client.put(
        status_url(number), {"status": "paid"}, content_type="application/json", headers=headers
    )
    assert_error(put, "not_found")
    assert set(Order.objects.values_list("status", flat=True)) == {Order.Status.PENDING}


@pytest.mark.parametrize("number", NUMBERS.values(), ids=NUMBERS)
def test_a_page_with_a_number_no_order_has_is_the_404_page(client, admin_user, number):
    client.force_login(admin_user)

    page = client.get(f"/orders/{number}/")
    status_post = client.post(f"/orders/{number}/status/", {"status": "paid"})

    assert page.status_code == 404
    assert b"<h1>" in page.content  # the portal's own page, not a bare error
    assert status_post.status_code == 404


# -- searches ----------------------------------------------------------------------------------

SEARCHES = {
    "a NUL": "ORD\x00X",
    "a NUL in an email": "alice\x00@example.com",
    "longer than an email": "a" * 250 + "@example.com",
}


@pytest.mark.parametrize("query", SEARCHES.values(), ids=SEARCHES)
def test_an_api_search_no_column_could_hold_is_400(client, token_for, admin_user, query):
    response = client.get(ORDERS, {"q": query}, headers=token_for(admin_user))

    body = assert_error(response, "bad_request")
    assert "q " in body["detail"]


@pytest.mark.parametrize("query", SEARCHES.values(), ids=SEARCHES)
def test_a_page_search_no_column_could_hold_finds_nothing(
    client, admin_user, alice, place_order, query
):
    place_order(alice)
    client.force_login(admin_user)

    response = client.get(reverse("order_list"), {"q": query})

    assert response.status_code == 200
    assert response.context["page"].orders == []
    assert "No orders match these filters." in response.content.decode()


# -- the new order form ------------------------------------------------------------------------


def test_a_form_field_naming_a_sku_with_a_nul_is_an_unknown_product(client, alice):
    client.force_login(alice)

    response = client.post(reverse("order_new"), {"qty-PEN\x00BLUE": "1"})

    assert response.status_code == 422
    print(response.content.decode()[1500:3500])
    assert "Unknown or unavailable product: PEN" in response.content.decode()
    assert Order.objects.count() == 0
