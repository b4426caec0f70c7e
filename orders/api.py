"""Orders JSON API: plain Django views that parse input, call one selector or service, serialize.

The error shape, the endpoint decorator and the JSON reader are the portal's (`portal.api`). The
HTML pages and this API share the selectors (who sees what) and services (what may change).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.http import JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_safe

from accounts.roles import ADMIN, USER, has_role
from orders.models import IdempotencyKey, InvalidTransition, Order
from orders.selectors import (
    MAX_PAGE_SIZE,
    PAGE_SIZE,
    SEARCH_MAX_LENGTH,
    order_get_visible,
    order_lines_of,
    orders_page,
)
from orders.serializers import order_to_dict, orders_page_to_dict
from orders.services import (
    IdempotencyConflict,
    NotAllowed,
    OrderRejected,
    order_change_status,
    order_place,
    order_place_idempotent,
    request_fingerprint,
)
from portal.api import (
    ERROR_CODES,
    ApiError,
    api_endpoint,
    bad_request,
    check_fields,
    check_text,
    invalid,
    parse_limit,
    read_json_object,
)

# Service exceptions -> error codes. Their messages are written for people.
ORDER_ERRORS = {
    NotAllowed: "forbidden",
    InvalidTransition: "conflict",
    OrderRejected: "invalid",
    IdempotencyConflict: "invalid",
}

ORDER_FIELDS = ("lines",)
LINE_FIELDS = ("sku", "quantity")
STATUS_FIELDS = ("status",)
IDEMPOTENCY_KEY_MAX = IdempotencyKey._meta.get_field("key").max_length


def parse_order_body(body: dict) -> list[tuple[str, int]]:
    """{"lines": [{"sku": "WIDGET-1", "quantity": 2}]} -> [("WIDGET-1", 2)]; the service checks
    SKUs and quantity limits."""
    check_fields(body, ORDER_FIELDS, "the order")
    if not isinstance(body["lines"], list):
        raise bad_request('wrong type: "lines" must be a list of objects')
    lines = []
    for index, line in enumerate(body["lines"]):
        where = f"lines[{index}]"
        if not isinstance(line, dict):
            raise bad_request(f"wrong type: {where} must be an object with sku and quantity")
        check_fields(line, LINE_FIELDS, where)
        sku, quantity = line["sku"], line["quantity"]
        if not isinstance(sku, str):
            raise bad_request(f"wrong type: {where}.sku must be a string")
        if not isinstance(quantity, int) or isinstance(quantity, bool):
            raise bad_request(f"wrong type: {where}.quantity must be a whole number")
        lines.append((sku, quantity))
    return lines


def parse_status_body(body: dict) -> str:
    """{"status": "paid"} -> "paid"."""
    check_fields(body, STATUS_FIELDS, "the status change")
    status = body["status"]
    if not isinstance(status, str):
        raise bad_request('wrong type: "status" must be a string')
    if status not in Order.Status.values:
        raise invalid(f"'{status}' is not an order status; one of {', '.join(Order.Status.values)}")
    return status


def parse_idempotency_key(request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    key = check_text(key.strip(), "Idempotency-Key", max_length=IDEMPOTENCY_KEY_MAX)
    if not key:
        raise bad_request(f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} characters")
    return key


@dataclass(frozen=True)
class ListQuery:
    status: str
    query: str
    cursor: str
    limit: int


def parse_list_query(params) -> ListQuery:
    """?status=&q=&cursor=&limit= of GET /api/orders, checked."""
    status = params.get("status", "")
    if status and status not in Order.Status.values:
        raise bad_request(f"status must be one of {', '.join(Order.Status.values)}")
    limit = parse_limit(params, default=PAGE_SIZE, maximum=MAX_PAGE_SIZE)
    query = check_text(params.get("q", ""), "q", max_length=SEARCH_MAX_LENGTH)
    return ListQuery(status=status, query=query, cursor=params.get("cursor", ""), limit=limit)


def visible_order(request, number: str) -> Order:
    """The order if this caller may see it; otherwise a 404, whether or not it exists."""
    order = order_get_visible(user=request.user, number=number)
    if order is None:
        raise ApiError("not_found", f"there is no order {number} that you can see")
    return order


def order_response(request, order: Order, *, status: int = 200) -> JsonResponse:
    return JsonResponse(order_to_dict(order, request=request), status=status)


# -- views -------------------------------------------------------------------------------------


@require_safe
def api_docs(request):
    """GET /api/: the endpoints with curl examples, for people."""
    context = {
        "api_base": request.build_absolute_uri(reverse("api_docs")).rstrip("/"),
        "error_codes": ERROR_CODES,
        "statuses": Order.Status.values,
        "page_size": PAGE_SIZE,
        "max_page_size": MAX_PAGE_SIZE,
    }
    return render(request, "orders/api_docs.html", context)


@api_endpoint("GET", "POST", roles=(USER, ADMIN), errors=ORDER_ERRORS)
def orders_collection(request):
    """GET /api/orders lists the caller's visible orders, newest first; POST places one."""
    if request.method == "POST":
        return _order_create(request)
    params = parse_list_query(request.GET)
    page = orders_page(
        user=request.user,
        status=params.status,
        query=params.query,
        cursor=params.cursor,
        size=params.limit,
    )
    return JsonResponse(orders_page_to_dict(page, order_lines_of(page.orders), request=request))


def _order_create(request):
    """POST /api/orders: 201 and Location; a replayed Idempotency-Key gives the first order, 200."""
    body = read_json_object(request)
    lines = parse_order_body(body)
    key = parse_idempotency_key(request)
    if key is None:
        order, created = order_place(owner=request.user, lines=lines), True
    else:
        order, created = order_place_idempotent(
            owner=request.user, key=key, body_fingerprint=request_fingerprint(body), lines=lines
        )
    response = order_response(request, order, status=201 if created else 200)
    response["Location"] = request.build_absolute_uri(reverse("api_order", args=[order.number]))
    return response


@api_endpoint("GET", "DELETE", roles=(USER, ADMIN), errors=ORDER_ERRORS)
def order_item(request, number: str):
    """GET /api/orders/<number> shows an order; DELETE (ADMIN) cancels it, again is a no-op."""
    order = visible_order(request, number)
    if request.method == "DELETE":
        if not has_role(request.user, ADMIN):
            raise ApiError(
                "forbidden",
                "only an administrator can cancel with DELETE; the owner of a pending order "
                'sends PUT .../status with {"status": "cancelled"}',
            )
        order, _changed = order_change_status(
            order=order, to_status=Order.Status.CANCELLED, actor=request.user
        )
    return order_response(request, order)


@api_endpoint("PUT", roles=(USER, ADMIN), errors=ORDER_ERRORS)
def order_status(request, number: str):
    """PUT /api/orders/<number>/status {"status": ...}; the current status again is a no-op."""
    order = visible_order(request, number)
    to_status = parse_status_body(read_json_object(request))
    order, _changed = order_change_status(order=order, to_status=to_status, actor=request.user)
    return order_response(request, order)
