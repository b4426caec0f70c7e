"""Reads that encode a rule: which orders a user may see, and how lists are paged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from django.db import connection
from django.db.models import QuerySet

from accounts.models import User, display_name
from accounts.roles import ADMIN, USER, has_role
from orders.models import Order, OrderLine, Product
from portal.cursors import decode_cursor, encode_cursor
from portal.sql import field_converters
from portal.text import is_storable

PAGE_SIZE = 25
MAX_PAGE_SIZE = 100
NUMBER_MAX_LENGTH = Order._meta.get_field("number").max_length
SEARCH_MAX_LENGTH = User._meta.get_field("email").max_length  # an email; numbers are shorter


@dataclass(frozen=True)
class OrderScope:
    """Whose orders someone may see: everybody's (owner_id None) or one owner's."""

    owner_id: int | None


def order_scope(user) -> OrderScope | None:
    """The one rule: ADMIN sees every order, USER their own, anyone else none (None)."""
    if has_role(user, ADMIN):
        return OrderScope(owner_id=None)
    if has_role(user, USER):
        return OrderScope(owner_id=user.pk)
    return None


def orders_visible_to(user) -> QuerySet[Order]:
    """The orders `order_scope` allows, as a queryset (order pages, API and admin)."""
    scope = order_scope(user)
    if scope is None:
        return Order.objects.none()
    if scope.owner_id is None:
        return Order.objects.all()
    return Order.objects.filter(owner_id=scope.owner_id)


def _could_be_number(text: str) -> bool:
    """False for text no order number column holds (too long, a NUL): no need to ask."""
    return len(text) <= NUMBER_MAX_LENGTH and is_storable(text)


def order_get_visible(*, user, number: str, with_history: bool = False) -> Order | None:
    """One order by number with its lines (and its events, for the order page), or None when
    it doesn't exist or isn't the user's to see."""
    if not _could_be_number(number):
        return None
    related = ("lines", "events__actor") if with_history else ("lines",)
    return (
        orders_visible_to(user)
        .select_related("owner")
        .prefetch_related(*related)
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


@dataclass(frozen=True)
class Page:
    orders: list[OrderRow]
    newer: str | None  # cursor for the page before this one (newer orders), if any
    older: str | None  # cursor for the page after this one (older orders), if any


@dataclass(frozen=True)
class OrderSearch:
    """What an ADMIN's search box asks for: an exact order number, or the owners with an email.

    Each is one index lookup: numbers are stored upper-case (unique index), and owners are
    found first, so their orders come from the (owner, created, id) index. An OR across the
    join would let the database walk all orders newest-first looking for a match.
    """

    number: str | None = None
    owner_ids: tuple[int, ...] = ()


def order_search(query: str) -> OrderSearch:
    """What `query` asks for; text that no column could hold matches nothing (no owner ids)."""
    query = query.strip()
    if len(query) > SEARCH_MAX_LENGTH or not is_storable(query):
        return OrderSearch()
    if "@" in query:
        owners = User.objects.filter(email__iexact=query).values_list("pk", flat=True)[:50]
        return OrderSearch(owner_ids=tuple(owners))
    number = query.upper()
    return OrderSearch(number=number) if len(number) <= NUMBER_MAX_LENGTH else OrderSearch()


def orders_matching(orders: QuerySet[Order], query: str) -> QuerySet[Order]:
    """`orders` narrowed to what the search box asks for (the admin site's search)."""
    search = order_search(query)
    if search.number is not None:
        return orders.filter(number=search.number)
    return orders.filter(owner_id__in=search.owner_ids)


class OrderRow(NamedTuple):
    """One order as lists show it: no lines, the owner's name and email alongside."""

    id: int
    number: str
    status: str
    total: Decimal
    currency: str
    created: datetime
    updated: datetime
    owner_id: int
    owner_email: str
    owner_name: str


# The list's one statement, written out: on the busiest page, building and compiling it with
# the ORM took three times as long as running it (0.55 of 0.75 ms per request).
_ORDER_COLUMNS = "o.id, o.number, o.status, o.total, o.currency, o.created, o.updated, o.owner_id"
_OWNER_COLUMNS = "u.email, u.first_name, u.last_name, u.username"
_CONVERTED = {3: "total", 5: "created", 6: "updated"}  # columns the database may hand back raw
_converters_by_vendor: dict[str, list] = {}


def _converters(connection) -> list:
    """Django's own per-backend conversions of the list's money and time columns.

    PostgreSQL needs none; SQLite returns naive times and floats, which Django makes aware
    and Decimal. Asking Django keeps this exactly what the ORM would have returned.
    """
    found = _converters_by_vendor.get(connection.vendor)
    if found is None:
        found = []
        for index, name in _CONVERTED.items():
            column, functions = field_converters(Order._meta.get_field(name), "o", connection)
            if functions:
                found.append((index, column, functions))
        _converters_by_vendor[connection.vendor] = found
    return found


def _order_rows(sql: str, params: list, *, owner: tuple[str, str] | None) -> list[OrderRow]:
    """Rows for `sql`; `owner` is (email, name) when every row has the same owner, else each
    record ends with that owner's columns (_OWNER_COLUMNS)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        records = cursor.fetchall()
    converters = _converters(connection)
    rows = []
    for record in records:
        if converters:
            record = list(record)
            for index, column, functions in converters:
                for function in functions:
                    record[index] = function(record[index], column, connection)
        if owner is None:
            *order, email, first_name, last_name, username = record
            name = display_name(
                first_name=first_name, last_name=last_name, email=email, username=username
            )
            rows.append(OrderRow(*order, owner_email=email, owner_name=name))
        else:
            rows.append(OrderRow(*record, owner_email=owner[0], owner_name=owner[1]))
    return rows


def orders_page(
    *, user, status: str = "", query: str = "", cursor: str = "", size: int = PAGE_SIZE
) -> Page:
    """A page of the orders `order_scope` lets this user see, newest first, filtered by status
    and (ADMIN only) by number or owner email.

    Keyset pagination on (created, id): the same cost on page 1 and page 40,000.
    """
    size = max(1, min(size, MAX_PAGE_SIZE))
    direction, created, pk = decode_cursor(cursor) if cursor else ("older", None, None)
    scope = order_scope(user)
    if scope is None:
        return Page(orders=[], newer=None, older=None)
    where, params = [], []
    if scope.owner_id is not None:
        where.append("o.owner_id = %s")
        params.append(scope.owner_id)
    if status:
        where.append("o.status = %s")
        params.append(status)
    query = query.strip()
    if query and scope.owner_id is None:
        search = order_search(query)
        if search.number is not None:
            where.append("o.number = %s")
            params.append(search.number)
        elif search.owner_ids:
            where.append(f"o.owner_id IN ({', '.join(['%s'] * len(search.owner_ids))})")
            params += search.owner_ids
        else:
            return Page(orders=[], newer=None, older=None)
    if created is not None:
        created = connection.ops.adapt_datetimefield_value(created)
        # The created <=/>= bound lets the database seek in the (created, id) index; the OR
        # alone is only a filter, which at 1M orders reads every row before the cursor.
        if direction == "older":
            where.append("o.created <= %s AND (o.created < %s OR (o.created = %s AND o.id < %s))")
        else:
            where.append("o.created >= %s AND (o.created > %s OR (o.created = %s AND o.id > %s))")
        params += [created, created, created, pk]
    if scope.owner_id is None:
        columns = f"{_ORDER_COLUMNS}, {_OWNER_COLUMNS}"
        join = f"JOIN {User._meta.db_table} u ON u.id = o.owner_id"
        owner = None
    else:  # one owner: the one asking, whose name and email are at hand
        columns, join, owner = _ORDER_COLUMNS, "", (user.email, user.display_name)
    order = "DESC" if direction == "older" else "ASC"
    # Only constant SQL and placeholders are joined here; every value travels in params.
    sql = (
        f"SELECT {columns} FROM {Order._meta.db_table} o {join} "  # noqa: S608
        f"WHERE {' AND '.join(where) or '1 = 1'} "
        f"ORDER BY o.created {order}, o.id {order} LIMIT %s"
    )
    rows = _order_rows(sql, [*params, size + 1], owner=owner)
    more = len(rows) > size
    rows = rows[:size]
    if direction == "older":
        has_newer, has_older = created is not None, more
    else:
        rows.reverse()
        has_newer, has_older = more, True
    return Page(
        orders=rows,
        newer=encode_cursor("newer", rows[0].created, rows[0].id) if rows and has_newer else None,
        older=encode_cursor("older", rows[-1].created, rows[-1].id) if rows and has_older else None,
    )


def order_lines_of(rows: list[OrderRow]) -> dict[int, list[OrderLine]]:
    """The lines of these orders by order id, in one query (for the API's list)."""
    lines: dict[int, list[OrderLine]] = {row.id: [] for row in rows}
    for line in OrderLine.objects.filter(order_id__in=list(lines)).order_by("order_id", "id"):
        lines[line.order_id].append(line)
    return lines
