"""The order pages: who may open them, what they show, and what their forms change."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from orders.models import Order, OrderEvent, Product

pytestmark = pytest.mark.django_db

FORBIDDEN = b"You don't have access to this page"


def list_numbers(response) -> list[str]:
    return [order.number for order in response.context["page"].orders]


def status_url(order) -> str:
    return reverse("order_set_status", args=[order.number])


def detail_url(order) -> str:
    return reverse("order_detail", args=[order.number])


# --- Who may open each page: anonymous, no role, the right role -------------------------------


@pytest.fixture
def pages(alice, place_order):
    """(method, path, data) for every order page, on an order of alice's."""
    order = place_order(alice)
    return {
        "list": ("get", "/orders/", {}),
        "new": ("get", "/orders/new/", {}),
        "place": ("post", "/orders/new/", {"qty-PEN-BLUE": "1"}),
        "detail": ("get", detail_url(order), {}),
        "status": ("post", status_url(order), {"status": "cancelled"}),
    }


PAGE_NAMES = ["list", "new", "place", "detail", "status"]


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_anonymous_visitors_are_sent_to_sign_in(client, pages, name):
    method, path, data = pages[name]
    response = getattr(client, method)(path, data)
    assert response.status_code == 302
    assert response["Location"] == f"/oidc/authenticate/?next={path}"


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_people_without_a_role_get_the_403_page(client, pages, nobody, name):
    client.force_login(nobody)
    method, path, data = pages[name]
    response = getattr(client, method)(path, data)
    assert response.status_code == 403
    assert FORBIDDEN in response.content
    assert Order.objects.get().status == Order.Status.PENDING


@pytest.mark.parametrize(
    ("name", "expected_status"),
    [("list", 200), ("new", 200), ("place", 302), ("detail", 200), ("status", 302)],
)
def test_people_with_the_user_role_may_use_every_page(client, pages, alice, name, expected_status):
    client.force_login(alice)
    method, path, data = pages[name]
    response = getattr(client, method)(path, data)
    assert response.status_code == expected_status
    if expected_status == 302:
        assert re.fullmatch(r"/orders/ORD-[0-9A-Z-]+/", response["Location"])
    if name == "status":  # the redirect follows errors too: check the change was made
        assert Order.objects.get().status == Order.Status.CANCELLED


def test_status_change_only_accepts_post(client, alice, place_order):
    client.force_login(alice)
    order = place_order(alice)
    assert client.get(status_url(order), {"status": "cancelled"}).status_code == 405
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING


def test_navigation_links_orders_only_for_people_with_a_role(client, alice, nobody):
    client.force_login(alice)
    html = client.get("/account/").content.decode()
    assert '<a href="/orders/">Orders</a>' in html
    assert html.index(">Orders</a>") < html.index(">Account</a>")
    client.force_login(nobody)
    html = client.get("/account/").content.decode()
    assert ">Orders</a>" not in html
    assert ">Account</a>" in html


# --- The list -----------------------------------------------------------------------------------


def test_a_user_sees_only_their_own_orders(client, alice, bob, place_order):
    mine = [place_order(alice), place_order(alice)]
    bobs = place_order(bob)
    client.force_login(alice)
    response = client.get("/orders/")
    assert response.status_code == 200
    assert list_numbers(response) == [mine[1].number, mine[0].number]
    html = response.content.decode()
    assert bobs.number not in html
    assert "Your orders" in html
    assert "Owner" not in html  # only ADMIN sees the owner column
    assert 'name="q"' not in html  # and only ADMIN can search


def test_a_user_cannot_search_other_peoples_orders(client, alice, bob, place_order):
    bobs = place_order(bob)
    client.force_login(alice)
    response = client.get("/orders/", {"q": bobs.number})
    assert list_numbers(response) == []
    assert bobs.number not in response.content.decode()


def test_list_shows_number_link_status_total_and_a_new_order_button(client, alice, place_order):
    order = place_order(alice, [("PEN-BLUE", 2), ("STAPLER", 1)])
    client.force_login(alice)
    html = client.get("/orders/").content.decode()
    assert f'<a class="order-number" href="/orders/{order.number}/">{order.number}</a>' in html
    assert '<span class="status-badge status-pending">Pending</span>' in html
    assert "15.90 EUR" in html
    assert '<a class="button button-large" href="/orders/new/">New order</a>' in html


def test_empty_list_says_what_to_do_next(client, alice):
    client.force_login(alice)
    html = client.get("/orders/").content.decode()
    assert "You have no orders yet." in html
    assert '<a class="button" href="/orders/new/">Place your first order</a>' in html


def test_admin_sees_every_order_with_its_owner(client, admin_user, alice, bob, place_order):
    orders = [place_order(alice), place_order(bob)]
    client.force_login(admin_user)
    response = client.get("/orders/")
    assert set(list_numbers(response)) == {o.number for o in orders}
    html = response.content.decode()
    assert "All orders" in html
    assert "Owner" in html
    assert "alice@example.com" in html
    assert "bob@example.com" in html


def test_admin_searches_by_number_and_by_owner_email(client, admin_user, alice, bob, place_order):
    alices = [place_order(alice), place_order(alice)]
    bobs = place_order(bob)
    client.force_login(admin_user)

    response = client.get("/orders/", {"q": f" {bobs.number} "})
    assert list_numbers(response) == [bobs.number]
    assert f'value="{bobs.number}"' in response.content.decode()

    response = client.get("/orders/", {"q": "ALICE@example.com"})
    assert list_numbers(response) == [alices[1].number, alices[0].number]

    response = client.get("/orders/", {"q": "nobody-here@example.com"})
    assert list_numbers(response) == []
    assert "No orders match these filters." in response.content.decode()


def test_status_filter(client, alice, place_order):
    pending = place_order(alice)
    paid = place_order(alice, status=Order.Status.PAID)
    place_order(alice, status=Order.Status.CANCELLED)
    client.force_login(alice)

    response = client.get("/orders/", {"status": "paid"})
    assert list_numbers(response) == [paid.number]
    html = response.content.decode()
    assert '<option value="paid" selected>Paid</option>' in html
    assert '<label for="filter-status">Status</label>' in html
    assert '<option value="">All statuses</option>' in html

    assert list_numbers(client.get("/orders/", {"status": "pending"})) == [pending.number]
    # An unknown status is no filter at all rather than an error.
    assert len(list_numbers(client.get("/orders/", {"status": "lost"}))) == 3


def test_keyset_pages_walk_60_orders_older_and_newer_without_gaps(client, alice, place_order):
    numbers = [place_order(alice).number for _ in range(60)][::-1]  # newest first
    client.force_login(alice)

    seen, response, pages = [], client.get("/orders/"), []
    while True:
        pages.append(list_numbers(response))
        seen += pages[-1]
        older = response.context["older_url"]
        if not older:
            break
        assert f'href="{older}"' in unescape(response.content.decode())
        response = client.get("/orders/" + older)
    assert [len(p) for p in pages] == [25, 25, 10]
    assert seen == numbers
    assert response.context["newer_url"]

    # And back again from the last page, newest first on each page.
    back = []
    while newer := response.context["newer_url"]:
        response = client.get("/orders/" + newer)
        back.insert(0, list_numbers(response))
    assert back == pages[:-1]
    assert "Newer orders" not in response.content.decode()


def test_page_links_keep_the_status_filter(client, alice, place_order):
    for _ in range(27):
        place_order(alice, status=Order.Status.CANCELLED)
    place_order(alice)
    client.force_login(alice)
    response = client.get("/orders/", {"status": "cancelled"})
    assert "status=cancelled" in response.context["older_url"]
    response = client.get("/orders/" + response.context["older_url"])
    assert len(list_numbers(response)) == 2
    assert {o.status for o in response.context["page"].orders} == {"cancelled"}


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor!",
        "b2xkZXJ8OTk5OS0xMi0zMVQyMzo1OTo1OS0yMzo1OXwx",  # past year 9999 in UTC
        # "older|2024-01-01T00:00:00+00:00|99999999999999999999999": an id beyond 64 bits
        "b2xkZXJ8MjAyNC0wMS0wMVQwMDowMDowMCswMDowMHw5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OQ",
    ],
)
def test_a_bad_cursor_shows_a_message_and_the_first_page(client, alice, place_order, cursor):
    order = place_order(alice)
    client.force_login(alice)
    response = client.get("/orders/", {"cursor": cursor})
    assert response.status_code == 200
    assert "This page link is not valid" in response.content.decode()
    assert list_numbers(response) == [order.number]


def test_times_are_shown_in_the_portal_time_zone_with_its_name(client, alice, place_order):
    winter = place_order(alice, created=datetime(2026, 11, 26, 7, 15, tzinfo=UTC))
    summer = place_order(alice, created=datetime(2026, 7, 1, 22, 30, tzinfo=UTC))
    client.force_login(alice)
    html = client.get("/orders/").content.decode()
    assert "26 Nov 2026, 08:15 CET" in html
    assert "2 Jul 2026, 00:30 CEST" in html
    assert "26 Nov 2026, 08:15 CET" in client.get(detail_url(winter)).content.decode()
    assert "2 Jul 2026, 00:30 CEST" in client.get(detail_url(summer)).content.decode()


@pytest.mark.parametrize("user_fixture", ["alice", "admin_user"])
def test_list_query_count_does_not_grow_with_the_rows(
    client, alice, place_order, request, user_fixture
):
    viewer = request.getfixturevalue(user_fixture)
    client.force_login(viewer)
    place_order(alice)
    client.get("/orders/")  # warm-up: the first request also fills the user cache
    with CaptureQueriesContext(connection) as one_row:
        assert len(list_numbers(client.get("/orders/"))) == 1
    for _ in range(30):
        place_order(alice)
    with CaptureQueriesContext(connection) as full_page:
        assert len(list_numbers(client.get("/orders/"))) == 25
    assert len(full_page) == len(one_row), [q["sql"] for q in full_page.captured_queries]


# --- Placing an order ---------------------------------------------------------------------------


def test_new_order_form_lists_products_for_sale_with_labelled_quantities(client, alice, catalog):
    client.force_login(alice)
    html = client.get("/orders/new/").content.decode()
    pen = catalog["PEN-BLUE"]
    assert "Blue pen" in html
    assert "PEN-BLUE" in html
    assert "1.50 EUR" in html
    assert f'<label class="visually-hidden" for="qty-{pen.pk}">Quantity of Blue pen</label>' in html
    assert f'id="qty-{pen.pk}"' in html
    assert 'name="qty-PEN-BLUE" value="0" min="0" max="1000"' in html
    assert "Fax paper roll" not in html  # inactive
    assert 'name="csrfmiddlewaretoken"' in html


def test_placing_an_order_takes_prices_from_the_catalog(client, alice, catalog):
    client.force_login(alice)
    response = client.post(
        "/orders/new/",
        {
            "qty-PEN-BLUE": "4",
            "qty-NOTE-A5": "0",
            "qty-STAPLER": "1",
            "unit_price": "0.01",
            "price-PEN-BLUE": "0.01",
            "total": "0.01",
        },
        follow=True,
    )
    order = Order.objects.get()
    assert response.redirect_chain == [(f"/orders/{order.number}/", 302)]
    assert order.owner == alice
    assert order.total == Decimal("18.90")
    assert [(line.sku, line.quantity, line.unit_price) for line in order.lines.all()] == [
        ("PEN-BLUE", 4, Decimal("1.50")),
        ("STAPLER", 1, Decimal("12.90")),
    ]
    html = response.content.decode()
    assert f"Order {order.number} placed." in html
    assert "18.90 EUR" in html
    assert "6.00 EUR" in html  # the pens' line total


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"qty-PEN-BLUE": "0", "qty-NOTE-A5": "0", "qty-STAPLER": ""},
            "Choose at least one product",
        ),
        ({"qty-PEN-BLUE": "3", "qty-FAX-ROLL": "1"}, "Unknown or unavailable product: FAX-ROLL"),
        ({"qty-PEN-BLUE": "3", "qty-NO-SUCH": "2"}, "Unknown or unavailable product: NO-SUCH"),
        ({"qty-PEN-BLUE": "3", "qty-NOTE-A5": "two"}, "The quantity of NOTE-A5 must be a whole"),
        ({"qty-PEN-BLUE": "3", "qty-NOTE-A5": "-2"}, "The quantity of NOTE-A5 must be a whole"),
        ({"qty-PEN-BLUE": "3", "qty-NOTE-A5": "1001"}, "The quantity of NOTE-A5 can be at most"),
    ],
)
def test_a_rejected_order_shows_why_and_keeps_the_quantities(client, alice, catalog, data, message):
    client.force_login(alice)
    response = client.post("/orders/new/", data)
    assert response.status_code == 422
    html = response.content.decode()
    assert 'role="alert"' in html
    assert message in html
    for sku, quantity in data.items():
        if sku.removeprefix("qty-") in catalog and catalog[sku.removeprefix("qty-")].active:
            assert f'name="{sku}" value="{quantity or 0}"' in html
    assert not Order.objects.exists()


def test_inactive_products_are_not_offered_even_when_the_catalog_is_empty(client, alice):
    Product.objects.create(sku="OLD", name="Old thing", unit_price=Decimal("1.00"), active=False)
    client.force_login(alice)
    html = client.get("/orders/new/").content.decode()
    assert "There is nothing to order right now." in html
    assert "Old thing" not in html


# --- One order and its status -------------------------------------------------------------------


def test_detail_shows_lines_total_and_history(client, alice, place_order):
    order = place_order(alice, [("PEN-BLUE", 2), ("NOTE-A5", 3)])
    client.force_login(alice)
    html = client.get(detail_url(order)).content.decode()
    assert f'Order <span class="order-number">{order.number}</span>' in html
    for text in ("Blue pen", "PEN-BLUE", "3.00 EUR", "Notebook A5", "12.60 EUR", "15.60 EUR"):
        assert text in html
    assert "Placed" in html
    assert "by Alice Archer" in html
    assert "Owner" not in html


def test_users_get_404_for_other_peoples_orders(client, alice, bob, place_order):
    bobs = place_order(bob)
    client.force_login(alice)
    response = client.get(detail_url(bobs))
    assert response.status_code == 404
    assert bobs.number not in response.content.decode()
    response = client.post(status_url(bobs), {"status": "cancelled"})
    assert response.status_code == 404
    bobs.refresh_from_db()
    assert bobs.status == Order.Status.PENDING
    assert bobs.events.count() == 1
    assert client.get("/orders/ORD-NOPE0-NOPE0/").status_code == 404


def test_owner_sees_only_a_cancel_button_while_pending(client, alice, place_order):
    order = place_order(alice)
    client.force_login(alice)
    html = client.get(detail_url(order)).content.decode()
    assert '<button type="submit" class="button button-danger">Cancel order</button>' in html
    assert f'action="{status_url(order)}"' in html
    assert '<input type="hidden" name="status" value="cancelled">' in html
    assert "Mark as paid" not in html

    paid = place_order(alice, status=Order.Status.PAID)
    html = client.get(detail_url(paid)).content.decode()
    assert "Cancel order" not in html


def test_owner_cancels_a_pending_order(client, alice, place_order):
    order = place_order(alice)
    client.force_login(alice)
    response = client.post(status_url(order), {"status": "cancelled"}, follow=True)
    assert response.redirect_chain == [(detail_url(order), 302)]
    assert f"Order {order.number} is now cancelled." in response.content.decode()
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    event = order.events.last()
    assert (event.actor, event.from_status, event.to_status) == (alice, "pending", "cancelled")


def test_owner_cannot_mark_their_order_paid(client, alice, place_order):
    order = place_order(alice)
    client.force_login(alice)
    response = client.post(status_url(order), {"status": "paid"})
    assert response.status_code == 403
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING
    assert order.events.count() == 1


def test_admin_sees_every_next_step_and_the_owner(client, admin_user, alice, place_order):
    order = place_order(alice)
    client.force_login(admin_user)
    html = client.get(detail_url(order)).content.decode()
    assert "Mark as paid" in html
    assert "Cancel order" in html
    assert "Mark as shipped" not in html
    assert "alice@example.com" in html


def test_admin_marks_paid_then_shipped(client, admin_user, alice, place_order):
    order = place_order(alice)
    client.force_login(admin_user)
    response = client.post(status_url(order), {"status": "paid"}, follow=True)
    assert f"Order {order.number} is now paid." in response.content.decode()
    assert "Mark as shipped" in response.content.decode()
    response = client.post(status_url(order), {"status": "shipped"}, follow=True)
    html = response.content.decode()
    assert f"Order {order.number} is now shipped." in html
    assert "Mark as delivered" in html
    assert "Cancel order" not in html
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED
    steps = [(e.from_status, e.to_status, e.actor) for e in order.events.all()]
    assert steps == [
        ("", "pending", alice),
        ("pending", "paid", admin_user),
        ("paid", "shipped", admin_user),
    ]
    assert "by Ada Admin" in html


def test_setting_the_same_status_again_changes_nothing(client, admin_user, alice, place_order):
    order = place_order(alice, status=Order.Status.PAID)
    client.force_login(admin_user)
    response = client.post(status_url(order), {"status": "paid"}, follow=True)
    assert f"Order {order.number} is already paid." in response.content.decode()
    assert order.events.count() == 2


def test_admin_cannot_move_a_delivered_order_back_to_paid(client, admin_user, alice, place_order):
    order = place_order(alice, status=Order.Status.DELIVERED)
    client.force_login(admin_user)
    response = client.post(status_url(order), {"status": "paid"}, follow=True)
    assert response.redirect_chain == [(detail_url(order), 302)]
    html = unescape(response.content.decode())
    assert f"Order {order.number} is delivered; it can't become paid" in html
    assert 'class="message message-error"' in html
    order.refresh_from_db()
    assert order.status == Order.Status.DELIVERED
    assert OrderEvent.objects.filter(order=order).count() == 4


def test_owner_cannot_cancel_a_shipped_order(client, alice, place_order):
    order = place_order(alice, status=Order.Status.SHIPPED)
    client.force_login(alice)
    response = client.post(status_url(order), {"status": "cancelled"}, follow=True)
    html = unescape(response.content.decode())
    assert "only pending orders can be cancelled" in html
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED


def test_an_unknown_status_is_an_error_message_not_a_crash(client, admin_user, alice, place_order):
    order = place_order(alice)
    client.force_login(admin_user)
    response = client.post(status_url(order), {"status": "lost"}, follow=True)
    assert "'lost' is not an order status" in unescape(response.content.decode())
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING
