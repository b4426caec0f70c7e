"""Order pages: the list, placing an order, one order and its status buttons."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.text import capfirst
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.decorators import role_required
from accounts.roles import ADMIN, USER, has_role
from orders.models import InvalidTransition, Order
from orders.selectors import (
    SEARCH_MAX_LENGTH,
    order_get_visible,
    orders_page,
    products_for_sale,
    status_changes_allowed,
)
from orders.services import (
    MAX_QUANTITY,
    NotAllowed,
    OrderRejected,
    order_change_status,
    order_place,
)
from portal.cursors import BadCursor

# What each status button says; cancelling is the one that can't be undone.
STATUS_BUTTONS = {
    Order.Status.PAID: "Mark as paid",
    Order.Status.SHIPPED: "Mark as shipped",
    Order.Status.DELIVERED: "Mark as delivered",
    Order.Status.CANCELLED: "Cancel order",
}
QUANTITY_PREFIX = "qty-"


def _page_link(filters: dict[str, str], cursor: str | None) -> str | None:
    if not cursor:
        return None
    return "?" + urlencode({**{k: v for k, v in filters.items() if v}, "cursor": cursor})


@require_GET
@role_required(USER, ADMIN)
def order_list(request):
    """GET /orders/: the orders this person may see, newest first, filtered and paged."""
    is_admin = has_role(request.user, ADMIN)
    status = request.GET.get("status", "")
    if status not in Order.Status.values:
        status = ""
    query = request.GET.get("q", "").strip()[:SEARCH_MAX_LENGTH] if is_admin else ""
    search = {"user": request.user, "status": status, "query": query}
    try:
        page = orders_page(**search, cursor=request.GET.get("cursor", ""))
    except BadCursor as error:
        messages.error(request, capfirst(str(error)))
        page = orders_page(**search)
    filters = {"status": status, "q": query}
    return render(
        request,
        "orders/order_list.html",
        {
            "page": page,
            "is_admin": is_admin,
            "status": status,
            "query": query,
            "filtered": bool(status or query),
            "statuses": Order.Status.choices,
            "newer_url": _page_link(filters, page.newer),
            "older_url": _page_link(filters, page.older),
        },
    )


def _entered_quantities(post) -> dict[str, str]:
    """SKU -> what was typed, for every quantity field of the form (blank counts as 0)."""
    return {
        key.removeprefix(QUANTITY_PREFIX): value.strip()
        for key, value in post.items()
        if key.startswith(QUANTITY_PREFIX)
    }


def _lines_from(quantities: dict[str, str]) -> list[tuple[str, int | str]]:
    """Lines for every quantity other than 0; anything that is not a number goes to the
    service as typed, which rejects it with a message naming the product."""
    lines = []
    for sku, raw in quantities.items():
        if raw in ("", "0"):
            continue
        try:
            lines.append((sku, int(raw)))
        except ValueError:
            lines.append((sku, raw))
    return lines


@require_http_methods(["GET", "POST"])
@role_required(USER, ADMIN)
def order_new(request):
    """GET shows the catalog with a quantity per product; POST places the order."""
    quantities: dict[str, str] = {}
    error = ""
    if request.method == "POST":
        quantities = _entered_quantities(request.POST)
        lines = _lines_from(quantities)
        if not lines:
            error = "Choose at least one product: set its quantity to 1 or more."
        else:
            try:
                order = order_place(owner=request.user, lines=lines)
            except OrderRejected as rejected:
                error = capfirst(str(rejected)) + "."
            except NotAllowed as not_allowed:
                raise PermissionDenied(str(not_allowed)) from not_allowed
            else:
                messages.success(request, f"Order {order.number} placed.")
                return redirect("order_detail", number=order.number)
    rows = [(product, quantities.get(product.sku) or "0") for product in products_for_sale()]
    return render(
        request,
        "orders/order_new.html",
        {
            "rows": rows,
            "error": error,
            "currency": settings.CURRENCY,
            "max_quantity": MAX_QUANTITY,
            "prefix": QUANTITY_PREFIX,
        },
        status=422 if error else 200,
    )


def _visible_order_or_404(request, number, *, with_history=False):
    """Someone else's order is "not found", never "forbidden": its existence stays private."""
    order = order_get_visible(user=request.user, number=number, with_history=with_history)
    if order is None:
        raise Http404("No such order")
    return order


@require_GET
@role_required(USER, ADMIN)
def order_detail(request, number):
    """GET /orders/<number>/: one order, its lines and history, and what may happen next."""
    order = _visible_order_or_404(request, number, with_history=True)
    actions = [
        (status, STATUS_BUTTONS[status])
        for status in status_changes_allowed(user=request.user, order=order)
    ]
    return render(
        request,
        "orders/order_detail.html",
        {"order": order, "actions": actions, "is_admin": has_role(request.user, ADMIN)},
    )


@require_POST
@role_required(USER, ADMIN)
def order_set_status(request, number):
    """POST: move the order to `status`, then back to the order page with what happened."""
    order = _visible_order_or_404(request, number)
    to_status = request.POST.get("status", "")
    try:
        order, changed = order_change_status(order=order, to_status=to_status, actor=request.user)
    except InvalidTransition as invalid:
        messages.error(request, capfirst(str(invalid)) + ".")
    except NotAllowed as not_allowed:
        raise PermissionDenied(str(not_allowed)) from not_allowed
    else:
        if changed:
            messages.success(request, f"Order {order.number} is now {order.status}.")
        else:
            messages.info(request, f"Order {order.number} is already {order.status}.")
    return redirect("order_detail", number=order.number)
