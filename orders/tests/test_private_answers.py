"""Every answer to a signed-in person, and every API answer, stays out of every cache.

/account/ shows a live access token; a shared or browser cache must never hand it to anyone.
"""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils.cache import get_max_age

from orders.tests.test_api import ORDERS, assert_error, item, status_url

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("op_settings", "catalog")]


def assert_private(response) -> None:
    directives = {part.strip() for part in response.get("Cache-Control", "").split(",")}
    assert {"private", "no-store"} <= directives, response.get("Cache-Control")
    assert get_max_age(response) in (None, 0)


def test_every_signed_in_page_is_private(client, admin_user, alice, place_order):
    order = place_order(alice)
    client.force_login(admin_user)

    for path in (
        reverse("home"),
        reverse("account"),
        reverse("order_list"),
        reverse("order_new"),
        reverse("order_detail", args=[order.number]),
        reverse("api_docs"),
        reverse("admin:orders_order_changelist"),
        "/no-such-page/",
    ):
        response = client.get(path)
        assert response.status_code in (200, 404), path
        assert_private(response)
    assert_private(
        client.post(reverse("order_set_status", args=[order.number]), {"status": "paid"})
    )


def test_the_account_page_with_its_token_is_private(client, alice):
    client.force_login(alice)
    session = client.session
    session["oidc_access_token"] = "a-live-token"
    session.save()

    response = client.get(reverse("account"))

    assert "a-live-token" in response.content.decode()
    assert_private(response)


def test_public_pages_for_anonymous_visitors_are_not_marked(client):
    response = client.get(reverse("home"))

    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")


def test_every_api_answer_is_private(client, token_for, alice, nobody, place_order):
    order = place_order(alice)
    answers = {
        "list": client.get(ORDERS, headers=token_for(alice)),
        "one order": client.get(item(order.number), headers=token_for(alice)),
        "created": client.post(
            ORDERS,
            {"lines": [{"sku": "PEN-BLUE", "quantity": 1}]},
            content_type="application/json",
            headers=token_for(alice),
        ),
        "anonymous": client.get(ORDERS),
        "no role": client.get(ORDERS, headers=token_for(nobody)),
        "not found": client.get(item("ORD-NOPE"), headers=token_for(alice)),
        "wrong method": client.patch(ORDERS, headers=token_for(alice)),
        "bad body": client.put(
            status_url(order.number), "{", content_type="application/json", headers=token_for(alice)
        ),
        "options": client.options(ORDERS),
        "me": client.get(reverse("api_me"), headers=token_for(alice)),
        "me, anonymous": client.get(reverse("api_me")),
    }
    assert [name for name, response in answers.items() if response.status_code >= 500] == []
    for response in answers.values():
        assert_private(response)


def test_api_me_is_built_like_the_other_endpoints(client, token_for, alice, nobody):
    me = reverse("api_me")

    assert client.get(me, headers=token_for(alice)).json()["sub"] == alice.oidc_subject
    assert client.get(me, headers=token_for(nobody)).json()["roles"] == []  # no role needed
    anonymous = assert_error(client.get(me), "unauthenticated")
    assert "Bearer" in client.get(me)["WWW-Authenticate"]
    assert anonymous["detail"]
    wrong_method = client.post(me, headers=token_for(alice))
    assert_error(wrong_method, "method_not_allowed")
    assert wrong_method["Allow"] == "GET, HEAD, OPTIONS"
    assert client.options(me).status_code == 204
