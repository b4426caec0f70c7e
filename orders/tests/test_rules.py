"""The order rules themselves: pipeline, visibility, placing, status changes, idempotency."""

from decimal import Decimal

import pytest

from accounts.tests.people import make_user
from orders.models import InvalidTransition, Order, OrderEvent, Product
from orders.selectors import orders_page, orders_visible_to, status_changes_allowed
from orders.services import (
    IdempotencyConflict,
    NotAllowed,
    OrderRejected,
    order_change_status,
    order_place,
    order_place_idempotent,
    request_fingerprint,
)
from portal.cursors import BadCursor

pytestmark = pytest.mark.django_db


@pytest.fixture
def people():
    return {
        "alice": make_user("alice"),
        "bob": make_user("bob"),
        "admin": make_user("admin"),
        "nobody": make_user("nobody"),
    }


@pytest.fixture
def products():
    Product.objects.create(sku="WIDGET-1", name="Widget", unit_price=Decimal("9.99"))
    Product.objects.create(sku="GADGET-2", name="Gadget", unit_price=Decimal("25.00"))
    Product.objects.create(sku="OLD-3", name="Old thing", unit_price=Decimal("1.00"), active=False)


def test_pipeline_allows_exactly_the_documented_transitions():
    order = Order(status="pending")
    assert order.next_statuses() == ("paid", "cancelled")
    for status, allowed in [
        ("paid", ("shipped", "cancelled")),
        ("shipped", ("delivered",)),
        ("delivered", ()),
        ("cancelled", ()),
    ]:
        assert Order(status=status).next_statuses() == allowed
    with pytest.raises(InvalidTransition, match="can't become delivered"):
        Order(status="pending", number="ORD-X").check_transition("delivered")
    with pytest.raises(InvalidTransition, match="not an order status"):
        Order(status="pending").check_transition("lost")


def test_prices_and_totals_come_from_the_catalog(people, products):
    order = order_place(owner=people["alice"], lines=[("WIDGET-1", 2), ("GADGET-2", 1)])
    assert order.total == Decimal("44.98")
    assert order.currency == "EUR"
    assert [(line.sku, line.unit_price, line.line_total) for line in order.lines.all()] == [
        ("WIDGET-1", Decimal("9.99"), Decimal("19.98")),
        ("GADGET-2", Decimal("25.00"), Decimal("25.00")),
    ]
    event = OrderEvent.objects.get(order=order)
    assert (event.actor, event.from_status, event.to_status) == (people["alice"], "", "pending")


def test_later_price_changes_do_not_rewrite_orders(people, products):
    order = order_place(owner=people["alice"], lines=[("WIDGET-1", 1)])
    Product.objects.filter(sku="WIDGET-1").update(unit_price=Decimal("99.00"), name="Renamed")
    line = Order.objects.get(pk=order.pk).lines.get()
    assert (line.unit_price, line.name) == (Decimal("9.99"), "Widget")


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([], "at least one line"),
        ([("NOPE-9", 1)], "unknown or unavailable product: NOPE-9"),
        ([("OLD-3", 1)], "unknown or unavailable product: OLD-3"),
        ([("WIDGET-1", 0)], "at least 1"),
        ([("WIDGET-1", 1001)], "at most 1000"),
        ([("WIDGET-1", 600), ("WIDGET-1", 600)], "at most 1000"),  # merged: 1,200
        ([(f"SKU-{i}", 1) for i in range(51)], "at most 50 lines"),
        ([("WIDGET-1", True)], "whole number"),
    ],
)
def test_unacceptable_orders_are_rejected_and_nothing_is_saved(people, products, lines, message):
    with pytest.raises(OrderRejected, match=message):
        order_place(owner=people["alice"], lines=lines)
    assert not Order.objects.exists()


def test_someone_without_a_role_cannot_place_orders(people, products):
    with pytest.raises(NotAllowed):
        order_place(owner=people["nobody"], lines=[("WIDGET-1", 1)])


def test_visibility_is_own_orders_for_users_and_all_for_admins(people, products):
    mine = order_place(owner=people["alice"], lines=[("WIDGET-1", 1)])
    theirs = order_place(owner=people["bob"], lines=[("WIDGET-1", 1)])
    assert list(orders_visible_to(people["alice"])) == [mine]
    assert set(orders_visible_to(people["admin"])) == {mine, theirs}
    assert not orders_visible_to(people["nobody"]).exists()


def test_owner_may_only_cancel_a_pending_order(people, products):
    order = order_place(owner=people["alice"], lines=[("WIDGET-1", 1)])
    assert status_changes_allowed(user=people["alice"], order=order) == ("cancelled",)
    with pytest.raises(NotAllowed):
        order_change_status(order=order, to_status="paid", actor=people["alice"])
    order, changed = order_change_status(order=order, to_status="cancelled", actor=people["alice"])
    assert changed
    assert order.status == "cancelled"
    order, changed = order_change_status(order=order, to_status="cancelled", actor=people["alice"])
    assert not changed  # repeating the current status is a no-op, not an error
    assert order.events.count() == 2


def test_owner_cannot_cancel_once_paid(people, products):
    order = order_place(owner=people["alice"], lines=[("WIDGET-1", 1)])
    order_change_status(order=order, to_status="paid", actor=people["admin"])
    with pytest.raises(InvalidTransition, match="only pending orders can be cancelled"):
        order_change_status(order=order, to_status="cancelled", actor=people["alice"])


def test_admin_moves_orders_along_the_pipeline_with_history(people, products):
    order = order_place(owner=people["alice"], lines=[("WIDGET-1", 1)])
    for status in ("paid", "shipped", "delivered"):
        order, changed = order_change_status(order=order, to_status=status, actor=people["admin"])
        assert changed
    with pytest.raises(InvalidTransition):
        order_change_status(order=order, to_status="paid", actor=people["admin"])
    history = [(e.from_status, e.to_status) for e in order.events.all()]
    assert history == [("", "pending"), ("pending", "paid"), ("paid", "shipped"),
                       ("shipped", "delivered")]  # fmt: skip
    assert Order.objects.get(pk=order.pk).status == "delivered"


def test_another_user_cannot_change_an_order(people, products):
    order = order_place(owner=people["bob"], lines=[("WIDGET-1", 1)])
    with pytest.raises(NotAllowed):
        order_change_status(order=order, to_status="cancelled", actor=people["alice"])
    assert Order.objects.get(pk=order.pk).status == "pending"


def test_idempotency_key_gives_one_order_per_key(people, products):
    body = {"lines": [{"sku": "WIDGET-1", "quantity": 2}]}
    fingerprint = request_fingerprint(body)
    first, created = order_place_idempotent(
        owner=people["alice"], key="k1", body_fingerprint=fingerprint, lines=[("WIDGET-1", 2)]
    )
    again, created_again = order_place_idempotent(
        owner=people["alice"], key="k1", body_fingerprint=fingerprint, lines=[("WIDGET-1", 2)]
    )
    assert (created, created_again) == (True, False)
    assert again.pk == first.pk
    assert Order.objects.count() == 1
    with pytest.raises(IdempotencyConflict):
        order_place_idempotent(
            owner=people["alice"], key="k1", body_fingerprint="other", lines=[("WIDGET-1", 3)]
        )
    # Keys are per user: bob's "k1" is his own.
    _, bob_created = order_place_idempotent(
        owner=people["bob"], key="k1", body_fingerprint=fingerprint, lines=[("WIDGET-1", 2)]
    )
    assert bob_created


def numbers(page):
    return [row.number for row in page.orders]


def test_keyset_pages_walk_every_order_once_in_both_directions(people, products):
    placed = [order_place(owner=people["alice"], lines=[("WIDGET-1", 1)]) for _ in range(12)]
    newest_first = sorted(placed, key=lambda o: (o.created, o.pk), reverse=True)
    seen, cursor, pages = [], "", []
    while True:
        page = orders_page(user=people["alice"], cursor=cursor, size=5)
        pages.append(page)
        seen += page.orders
        if not page.older:
            break
        cursor = page.older
    assert [row.id for row in seen] == [o.pk for o in newest_first]
    assert pages[0].newer is None
    back = orders_page(user=people["alice"], cursor=pages[-1].newer, size=5)
    assert numbers(back) == numbers(pages[-2])


def test_a_forged_cursor_is_refused(people):
    with pytest.raises(BadCursor):
        orders_page(user=people["alice"], cursor="not-a-cursor")


def test_list_rows_match_what_the_orm_reads(people, products):
    """The list's hand-written SQL returns what the ORM would: types, time zone, owner."""
    order = order_place(owner=people["bob"], lines=[("WIDGET-1", 3)])
    order.refresh_from_db()
    for viewer in (people["bob"], people["admin"]):
        (row,) = orders_page(user=viewer).orders
        assert (row.id, row.number, row.status, row.currency) == (
            order.pk,
            order.number,
            order.status,
            order.currency,
        )
        assert row.total == order.total
        assert isinstance(row.total, Decimal)
        assert row.created == order.created
        assert row.created.utcoffset() is not None
        assert row.updated == order.updated
        assert (row.owner_email, row.owner_name) == (
            people["bob"].email,
            people["bob"].display_name,
        )


def test_a_user_without_a_role_gets_an_empty_page(people, products):
    order_place(owner=people["bob"], lines=[("WIDGET-1", 1)])
    assert orders_page(user=people["nobody"]).orders == []


def test_list_filters_by_status(people, products):
    kept = order_place(owner=people["alice"], lines=[("WIDGET-1", 1)])
    cancelled = order_place(owner=people["alice"], lines=[("WIDGET-1", 1)])
    order_change_status(order=cancelled, to_status=Order.Status.CANCELLED, actor=people["alice"])
    assert numbers(orders_page(user=people["alice"], status="cancelled")) == [cancelled.number]
    assert numbers(orders_page(user=people["alice"], status="pending")) == [kept.number]


def test_admin_search_by_number_or_owner_email(people, products):
    mine = order_place(owner=people["alice"], lines=[("WIDGET-1", 1)])
    order_place(owner=people["bob"], lines=[("WIDGET-1", 1)])
    admin = people["admin"]
    assert numbers(orders_page(user=admin, query=mine.number.lower())) == [mine.number]
    assert numbers(orders_page(user=admin, query="ALICE@example.com")) == [mine.number]
    assert numbers(orders_page(user=admin, query="nobody-has@this.address")) == []
    # For a USER the search box does not widen or narrow anything beyond their own orders.
    assert mine.number not in numbers(orders_page(user=people["bob"], query=mine.number))
