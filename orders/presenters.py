"""The order list's rows, formatted once in Python.

The list is the portal's busiest page. Rendering its 25 rows with format_html (which escapes
every value) costs a fraction of the template engine's per-variable work, filters, includes and
URL reversals; the page around the rows stays an ordinary template.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from orders.models import Order

STATUS_LABELS = dict(Order.Status.choices)


def local_time_text(moment) -> str:
    """ "26 Nov 2026, 08:15 CET": the portal's time zone, always named."""
    local = timezone.localtime(moment)
    return f"{local.day} {local:%b %Y, %H:%M} {local.tzname()}"


@dataclass(frozen=True, slots=True)
class OrderRow:
    number: str
    url: str
    placed_iso: str
    placed_text: str
    status: str
    status_label: str
    owner_name: str
    owner_email: str
    total_text: str


def order_rows(orders: list[Order], *, with_owner: bool) -> list[OrderRow]:
    rows = []
    for order in orders:
        owner = order.owner if with_owner else None
        owner_name = owner.display_name if owner else ""
        rows.append(
            OrderRow(
                number=order.number,
                url=f"/orders/{order.number}/",
                placed_iso=timezone.localtime(order.created).isoformat(),
                placed_text=local_time_text(order.created),
                status=order.status,
                status_label=STATUS_LABELS[order.status],
                owner_name=owner_name,
                owner_email=owner.email if owner and owner.email != owner_name else "",
                total_text=f"{order.total} {order.currency}",
            )
        )
    return rows


ROW_HTML = (
    '<tr><th scope="row" data-label="Order"><a class="order-number" href="{}">{}</a></th>'
    '<td data-label="Placed"><time datetime="{}">{}</time></td>'
    '<td data-label="Status"><span class="status-badge status-{}">{}</span></td>'
    "{}"
    '<td data-label="Total" class="num">{}</td></tr>\n'
)
OWNER_HTML = '<td data-label="Owner">{}{}</td>'
OWNER_EMAIL_HTML = '<br><span class="hint">{}</span>'


def order_rows_html(rows: list[OrderRow], *, with_owner: bool) -> SafeString:
    """The <tr> elements of the order list table (every value escaped)."""

    def owner_cell(row: OrderRow) -> str:
        if not with_owner:
            return ""
        email = format_html(OWNER_EMAIL_HTML, row.owner_email) if row.owner_email else ""
        return format_html(OWNER_HTML, row.owner_name, email)

    return format_html_join(
        "",
        ROW_HTML,
        (
            (
                row.url,
                row.number,
                row.placed_iso,
                row.placed_text,
                row.status,
                row.status_label,
                owner_cell(row),
                row.total_text,
            )
            for row in rows
        ),
    )
