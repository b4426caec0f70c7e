"""The order list's rows, as HTML built once in Python.

The list is the portal's busiest page. Building its 25 rows with f-strings, escaping every text
value, costs a fraction of the template engine's per-variable work (and of format_html's); the
page around the rows stays an ordinary template.
"""

from __future__ import annotations

from html import escape

from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from orders.models import Order

STATUS_LABELS = dict(Order.Status.choices)


def _time_text(local) -> str:
    """ "26 Nov 2026, 08:15 CET": a local time with its zone named (as the |date filters do)."""
    return f"{local.day} {local:%b %Y, %H:%M} {local.tzname()}"


def _owner_cell(order: Order) -> str:
    owner = order.owner
    name = owner.display_name
    email = f'<br><span class="hint">{escape(owner.email)}</span>' if owner.email != name else ""
    return f'<td data-label="Owner">{escape(name)}{email}</td>'


def order_rows_html(orders: list[Order], *, with_owner: bool) -> SafeString:
    """The <tr> elements of the order list table; every text value is escaped."""
    rows = []
    for order in orders:
        local = timezone.localtime(order.created)
        number = escape(order.number)
        status = escape(order.status)
        rows.append(
            f'<tr><th scope="row" data-label="Order">'
            f'<a class="order-number" href="/orders/{number}/">{number}</a></th>'
            f'<td data-label="Placed"><time datetime="{local.isoformat()}">'
            f"{escape(_time_text(local))}</time></td>"
            f'<td data-label="Status"><span class="status-badge status-{status}">'
            f"{escape(STATUS_LABELS.get(order.status, order.status))}</span></td>"
            f"{_owner_cell(order) if with_owner else ''}"
            f'<td data-label="Total" class="num">{escape(f"{order.total} {order.currency}")}</td>'
            f"</tr>\n"
        )
    return mark_safe("".join(rows))  # noqa: S308 - built above from escaped values only
