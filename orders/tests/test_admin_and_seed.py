"""The orders admin (who gets in, what it queries) and the seed_orders command."""

from __future__ import annotations

import itertools
import re
from decimal import Decimal
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from accounts.roles import roles_of
from orders import admin as orders_admin
from orders.management.commands.seed_orders import CATALOG
from orders.models import Order, OrderEvent, Product

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/orders/order/"
ORDER_TABLE = re.compile(r'\bFROM\s+"orders_order"', re.IGNORECASE)


def counts_whole_order_table(sql: str) -> bool:
    """A COUNT over orders_order that neither filters (WHERE) nor stops early (LIMIT)."""
    upper = sql.upper()
    return (
        "COUNT(" in upper
        and ORDER_TABLE.search(sql) is not None
        and " WHERE " not in upper
        and " LIMIT " not in upper
    )


def test_the_whole_table_count_detector_is_precise():
    with CaptureQueriesContext(connection) as queries:
        Order.objects.count()
        Order.objects.filter(status="paid").count()
        Order.objects.all()[:10001].count()
    flagged = [counts_whole_order_table(q["sql"]) for q in queries.captured_queries]
    assert flagged == [True, False, False]


# Who gets in


def test_anonymous_visitors_are_sent_to_sso_sign_in(client):
    response = client.get(CHANGELIST)
    assert response.status_code == 302
    assert response["Location"].startswith("/oidc/authenticate/")
    assert "next=/admin/orders/order/" in response["Location"]


def test_signed_in_user_without_admin_role_gets_403(client, alice, place_order):
    place_order(alice)
    client.force_login(alice)
    response = client.get(CHANGELIST)
    assert response.status_code == 403


def test_admin_sees_every_order(client, alice, bob, admin_user, place_order):
    mine, theirs = place_order(alice), place_order(bob)
    client.force_login(admin_user)
    response = client.get(CHANGELIST)
    assert response.status_code == 200
    html = response.content.decode()
    assert mine.number in html
    assert theirs.number in html
    assert "alice@example.com" in html or "Alice" in html


def test_admin_queryset_goes_through_the_visibility_rule(rf, alice, bob, admin_user, place_order):
    mine, theirs = place_order(alice), place_order(bob)
    model_admin = orders_admin.OrderAdmin(Order, orders_admin.admin.site)
    request = rf.get(CHANGELIST)
    request.user = alice  # never let in by the site, but the queryset must still be hers only
    assert list(model_admin.get_queryset(request)) == [mine]
    request.user = admin_user
    assert set(model_admin.get_queryset(request)) == {mine, theirs}


# What the change list costs


def test_change_list_never_counts_the_whole_table(client, alice, admin_user, place_order):
    for _ in range(3):
        place_order(alice)
    client.force_login(admin_user)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(CHANGELIST)
        filtered = client.get(CHANGELIST, {"status": "pending"})
    assert response.status_code == 200
    assert filtered.status_code == 200
    whole_table = [q["sql"] for q in queries.captured_queries if counts_whole_order_table(q["sql"])]
    assert whole_table == []


def test_change_list_count_is_capped(client, alice, admin_user, place_order, monkeypatch):
    monkeypatch.setattr(orders_admin, "COUNT_CAP", 2)
    for _ in range(4):
        place_order(alice)
    client.force_login(admin_user)
    response = client.get(CHANGELIST)
    assert response.status_code == 200
    assert response.context["cl"].result_count == 3  # "more than 2", found without counting all


@pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_class estimate: PostgreSQL")
def test_unfiltered_count_on_postgresql_is_the_planner_estimate(alice, place_order, monkeypatch):
    monkeypatch.setattr(orders_admin, "COUNT_CAP", 2)
    for _ in range(4):
        place_order(alice)
    with connection.cursor() as cursor:
        cursor.execute('ANALYZE "orders_order"')
    with CaptureQueriesContext(connection) as queries:
        unfiltered = orders_admin.CappedCountPaginator(Order.objects.all(), 50).count
        filtered = orders_admin.CappedCountPaginator(Order.objects.filter(owner=alice), 50).count
    assert unfiltered == 4  # ANALYZE of a tiny table counts it exactly
    assert filtered == 3  # filtered: counted, but only up to the cap
    assert "reltuples" in queries.captured_queries[0]["sql"]
    assert not any(counts_whole_order_table(q["sql"]) for q in queries.captured_queries)


def test_change_list_sorts_only_by_created_with_id_as_tie_breaker(client, admin_user):
    client.force_login(admin_user)
    response = client.get(CHANGELIST, {"o": "5"})  # column 5 is `created`, ascending
    assert response.status_code == 200
    assert response.context["cl"].queryset.query.order_by == ("created", "id")
    for column in ("3", "1.5", "-5.3"):  # `total`, `owner`: not sortable, even when asked
        unsorted = client.get(CHANGELIST, {"o": column})
        assert unsorted.context["cl"].queryset.query.order_by == ("-created", "-id")


# Search


def test_search_by_number_finds_exactly_that_order(client, alice, admin_user, place_order):
    wanted, other = place_order(alice), place_order(alice)
    client.force_login(admin_user)
    for term in (wanted.number, wanted.number.lower(), f"  {wanted.number} "):
        html = client.get(CHANGELIST, {"q": term}).content.decode()
        assert wanted.number in html
        assert other.number not in html


def test_search_by_owner_email(client, alice, bob, admin_user, place_order):
    hers, his = place_order(alice), place_order(bob)
    client.force_login(admin_user)
    html = client.get(CHANGELIST, {"q": "Alice@Example.com"}).content.decode()
    assert hers.number in html
    assert his.number not in html


# One order


def test_change_page_shows_lines_and_events_read_only(client, alice, admin_user, place_order):
    order = place_order(alice, [("PEN-BLUE", 2), ("STAPLER", 1)], status=Order.Status.PAID)
    client.force_login(admin_user)
    response = client.get(f"{CHANGELIST}{order.pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "PEN-BLUE" in html
    assert "STAPLER" in html
    assert "15.90" in html  # the total: 2 x 1.50 + 12.90
    assert 'name="lines-0-quantity"' not in html  # shown, not editable
    # The events inline lists both steps: placed (pending) and paid.
    events = response.context["inline_admin_formsets"][1]
    assert [form.original.to_status for form in events] == ["pending", "paid"]
    assert 'name="total"' not in html  # money and number are read-only


def _inline_management(prefix: str, count: int) -> dict[str, str]:
    return {
        f"{prefix}-TOTAL_FORMS": str(count),
        f"{prefix}-INITIAL_FORMS": str(count),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def test_status_change_in_admin_follows_the_pipeline(client, alice, admin_user, place_order):
    order = place_order(alice)
    client.force_login(admin_user)
    url = f"{CHANGELIST}{order.pk}/change/"
    form = {**_inline_management("lines", 1), **_inline_management("events", 1)}

    refused = client.post(url, {**form, "status": "delivered"})
    assert refused.status_code == 200  # the form again: pending can't jump to delivered
    assert refused.context["adminform"].form.errors["status"]

    accepted = client.post(url, {**form, "status": "paid"})
    assert accepted.status_code == 302
    order.refresh_from_db()
    assert order.status == "paid"
    last = order.events.order_by("-id").first()
    assert (last.from_status, last.to_status, last.actor_id) == ("pending", "paid", admin_user.pk)


# seed_orders


def _seed(**options) -> str:
    out = StringIO()
    call_command("seed_orders", stdout=out, **options)
    return out.getvalue()


def test_seed_creates_orders_with_correct_totals_and_valid_history():
    output = _seed(count=50, seed=7)
    assert "Seeded 50 orders" in output
    assert Order.objects.count() == 50
    for order in Order.objects.annotate(line_sum=Sum("lines__line_total")):
        assert order.total == order.line_sum
        assert order.total > Decimal("0")
        assert 1 <= order.lines.count() <= 4
        assert order.status in Order.Status.values
        events = list(order.events.order_by("at", "id"))
        assert (events[0].from_status, events[0].to_status) == ("", "pending")
        assert events[0].at == order.created
        for before, after in itertools.pairwise(events):
            assert after.from_status == before.to_status
            assert after.to_status in Order.TRANSITIONS[Order.Status(before.to_status)]
            assert after.at >= before.at
        assert events[-1].to_status == order.status
    for line in Order.objects.first().lines.all():
        assert line.line_total == line.unit_price * line.quantity


def test_seed_creates_demo_users_and_catalog_once_and_is_safe_to_rerun():
    _seed(count=50)
    _seed(count=50)
    assert Order.objects.count() == 100
    assert Product.objects.count() == len(CATALOG)
    assert Order.objects.values("number").distinct().count() == 100
    issuer = settings.OIDC_ISSUER
    roles = {
        sub: roles_of(User.objects.get(oidc_issuer=issuer, oidc_subject=sub))
        for sub in ("admin", "alice", "bob")
    }
    assert roles == {"admin": {"ADMIN", "USER"}, "alice": {"USER"}, "bob": {"USER"}}
    assert User.objects.filter(oidc_subject="alice").count() == 1


def test_seed_if_empty_adds_nothing_when_the_owners_have_orders():
    _seed(count=10, users="alice")
    output = _seed(count=10, users="alice", if_empty=True)
    assert "nothing added" in output
    assert Order.objects.count() == 10
    alice = User.objects.get(oidc_subject="alice")
    assert set(Order.objects.values_list("owner_id", flat=True)) == {alice.pk}


def test_seed_spreads_orders_over_other_customers_in_small_batches():
    _seed(count=30, users="alice", customers=3, batch_size=7)
    assert Order.objects.count() == 30
    owners = set(Order.objects.values_list("owner__oidc_subject", flat=True))
    assert owners <= {"alice", "customer-00001", "customer-00002", "customer-00003"}
    assert len(owners) > 1
    assert OrderEvent.objects.filter(from_status="").count() == 30
