"""Orders as JSON-ready dicts for the API: money as decimal strings, times in UTC ending in Z."""

from __future__ import annotations

from decimal import Decimal

from django.urls import reverse

from orders.models import Order, OrderLine
from orders.selectors import OrderRow, Page
from portal.times import utc_timestamp


def money(amount: Decimal) -> str:
    """A decimal string with two places ("19.98"): floats would round money."""
    return f"{amount:.2f}"


def line_to_dict(line: OrderLine) -> dict:
    return {
        "sku": line.sku,
        "product": line.name,
        "quantity": line.quantity,
        "unit_price": money(line.unit_price),
        "line_total": money(line.line_total),
    }


def order_to_dict(order: Order, *, request=None) -> dict:
    """One order with its lines; prefetch `lines` and select `owner` to avoid a query per order."""
    return _order_dict(order, order.owner.email, order.lines.all(), request)


def order_row_to_dict(row: OrderRow, lines: list[OrderLine], *, request=None) -> dict:
    """An order from a list page (selectors.orders_page) with the lines fetched for it."""
    return _order_dict(row, row.owner_email, lines, request)


def _order_dict(order: Order | OrderRow, owner_email: str, lines, request) -> dict:
    path = reverse("api_order", args=[order.number])
    return {
        "number": order.number,
        "url": request.build_absolute_uri(path) if request is not None else path,
        "status": order.status,
        "currency": order.currency,
        "total": money(order.total),
        "owner": owner_email,
        "created": utc_timestamp(order.created),
        "updated": utc_timestamp(order.updated),
        "lines": [line_to_dict(line) for line in lines],
    }


def orders_page_to_dict(page: Page, lines_by_order: dict[int, list[OrderLine]], *, request=None):
    """A page of the order list: newest first, `next` leads to older orders (null at the end)."""
    return {
        "results": [
            order_row_to_dict(row, lines_by_order.get(row.id, []), request=request)
            for row in page.orders
        ],
        "next": page.older,
        "previous": page.newer,
    }
