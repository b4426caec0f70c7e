"""Reads that encode a rule: which orders a user may see, and how lists are paged."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet

from accounts.models import User
from accounts.roles import ADMIN, USER, has_role
from orders.models import Order, Product

PAGE_SIZE = 25
MAX_PAGE_SIZE = 100


def orders_visible_to(user) -> QuerySet[Order]:
    """The one rule: ADMIN sees every order, USER their own, anyone else none."""
    if has_role(user, ADMIN):
        return Order.objects.all()
    if has_role(user, USER):
        return Order.objects.filter(owner=user)
    return Order.objects.none()


def order_get_visible(*, user, number: str) -> Order | None:
    """One order by number, or None when it doesn't exist or isn't the user's to see."""
    return (
        orders_visible_to(user)
        .select_related("owner")
        .prefetch_related("lines", "events__actor")
        .filter(number=number)
        .first()
    )


def status_changes_allowed(*, user, order: Order) -> tuple[str, ...]:
    """The statuses this user may move this order to now (the buttons a page shows)."""
    possible = order.next_statuses()
    if has_role(user, ADMIN):
        return possible
    if order.owner_id == user.pk and order.status == Order.Status.PENDING:
        return tuple(s for s in possible if s == Order.Status.CANCELLED)
    return ()


def products_for_sale() -> QuerySet[Product]:
    return Product.objects.filter(active=True).order_by("name")


class BadCursor(ValueError):
    """A page cursor that we did not make (or that was cut short)."""


@dataclass(frozen=True)
class Page:
    orders: list[Order]
    newer: str | None  # cursor for the page before this one (newer orders), if any
    older: str | None  # cursor for the page after this one (older orders), if any


def _encode_cursor(direction: str, order: Order) -> str:
    raw = f"{direction}|{order.created.isoformat()}|{order.pk}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str, datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        direction, created, pk = raw.split("|")
        if direction not in ("older", "newer"):
            raise ValueError(direction)
        return direction, datetime.fromisoformat(created), int(pk)
    except (ValueError, binascii.Error, UnicodeDecodeError) as error:
        raise BadCursor("this page link is not valid; start again from the first page") from error


def orders_search(*, user, status: str = "", query: str = "") -> QuerySet[Order]:
    """The orders a user sees, filtered by status and (for ADMIN) by number or owner email."""
    orders = orders_visible_to(user)
    if status:
        orders = orders.filter(status=status)
    query = query.strip()
    if query and has_role(user, ADMIN):
        orders = orders_matching(orders, query)
    return orders


def orders_matching(orders: QuerySet[Order], query: str) -> QuerySet[Order]:
    """An exact order number, or the orders of the owner with this exact email.

    Each case is one index lookup: numbers are stored upper-case (unique index), and owners are
    found first, so the orders come from the (owner, created, id) index. An OR across the join
    would let the database walk all orders newest-first looking for a match.
    """
    query = query.strip()
    if "@" in query:
        owners = User.objects.filter(email__iexact=query).values_list("pk", flat=True)[:50]
        return orders.filter(owner_id__in=list(owners))
    return orders.filter(number=query.upper())


def orders_page(
    orders: QuerySet[Order], *, cursor: str = "", size: int = PAGE_SIZE, with_owner: bool = True
) -> Page:
    """Keyset pagination on (created, id): the same cost on page 1 and page 40,000."""
    size = max(1, min(size, MAX_PAGE_SIZE))
    if with_owner:
        orders = orders.select_related("owner")
    if not cursor:
        rows = list(orders.order_by("-created", "-id")[: size + 1])
        has_newer = False
        has_older = len(rows) > size
        rows = rows[:size]
    else:
        direction, created, pk = _decode_cursor(cursor)
        # The created__lte/gte bound lets the database seek in the (created, id) index; the
        # OR alone is only a filter, which at 1M orders reads every row before the cursor.
        if direction == "older":
            after = Q(created__lt=created) | Q(created=created, id__lt=pk)
            rows = list(
                orders.filter(after, created__lte=created).order_by("-created", "-id")[: size + 1]
            )
            has_older = len(rows) > size
            rows = rows[:size]
            has_newer = True
        else:
            before = Q(created__gt=created) | Q(created=created, id__gt=pk)
            rows = list(
                orders.filter(before, created__gte=created).order_by("created", "id")[: size + 1]
            )
            has_newer = len(rows) > size
            rows = list(reversed(rows[:size]))
            has_older = True
    return Page(
        orders=rows,
        newer=_encode_cursor("newer", rows[0]) if rows and has_newer else None,
        older=_encode_cursor("older", rows[-1]) if rows and has_older else None,
    )
