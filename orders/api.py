"""Orders JSON API: plain Django views that parse input, call one selector or service, serialize.

Every error is {"error": <code>, "detail": <sentence>} with a code from ERROR_CODES. The HTML
pages and this API share the selectors (who sees what) and services (what may change).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import wraps

from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse, JsonResponse, RawPostDataException
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.views.decorators.http import require_safe

from accounts.api_auth import api_error, api_view
from accounts.roles import ADMIN, USER, has_role
from orders.models import IdempotencyKey, InvalidTransition, Order
from orders.selectors import (
    MAX_PAGE_SIZE,
    PAGE_SIZE,
    BadCursor,
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

# The closed list of error codes: (code, HTTP status, when). The docs page shows this table.
ERROR_CODES = (
    ("bad_request", 400, "malformed JSON, a value of the wrong type or a bad query parameter"),
    ("unauthenticated", 401, "no token or session, or an expired or invalid token"),
    ("forbidden", 403, "no portal role, not your change to make, or a failed CSRF check"),
    ("not_found", 404, "no such order, or not one you may see"),
    ("method_not_allowed", 405, "this path doesn't take that method (see the Allow header)"),
    ("conflict", 409, "the order's status can't change that way now"),
    ("invalid", 422, "well-formed but unacceptable: unknown SKU or field, quantity below 1, ..."),
    ("unavailable", 503, "the sign-in provider is not answering; retry later"),
)

# Service and selector exceptions -> (status, code). Their messages are written for people.
EXCEPTION_ERRORS = {
    BadCursor: (400, "bad_request"),
    NotAllowed: (403, "forbidden"),
    InvalidTransition: (409, "conflict"),
    OrderRejected: (422, "invalid"),
    IdempotencyConflict: (422, "invalid"),
}

ORDER_FIELDS = ("lines",)
LINE_FIELDS = ("sku", "quantity")
STATUS_FIELDS = ("status",)
IDEMPOTENCY_KEY_MAX = IdempotencyKey._meta.get_field("key").max_length


class ApiError(Exception):
    """Input the API refuses; becomes api_error(status, code, detail)."""

    def __init__(self, status: int, code: str, detail: str):
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


def bad_request(detail: str) -> ApiError:
    return ApiError(400, "bad_request", detail)


def invalid(detail: str) -> ApiError:
    return ApiError(422, "invalid", detail)


def _error_response(error: Exception) -> JsonResponse:
    """A service's or selector's exception as its JSON error; the messages are for people."""
    for kind, (status, code) in EXCEPTION_ERRORS.items():
        if isinstance(error, kind):
            return api_error(status, code, str(error))
    raise error


def api_endpoint(*methods: str):
    """Answer only `methods` (JSON 405 otherwise), turn known exceptions into JSON errors, and
    keep responses out of shared caches (they depend on who asks)."""
    allowed = list(methods) + (["HEAD"] if "GET" in methods else []) + ["OPTIONS"]
    allow_header = ", ".join(allowed)

    def decorator(view):
        @wraps(view)
        def endpoint(request, *args, **kwargs):
            if request.method == "OPTIONS":
                response = HttpResponse(status=204, headers={"Allow": allow_header})
            elif request.method not in allowed:
                response = api_error(
                    405,
                    "method_not_allowed",
                    f"{request.method} is not allowed here; use {allow_header}",
                    headers={"Allow": allow_header},
                )
            else:
                try:
                    response = view(request, *args, **kwargs)
                except ApiError as error:
                    response = api_error(error.status, error.code, error.detail)
                except tuple(EXCEPTION_ERRORS) as error:
                    response = _error_response(error)
            add_never_cache_headers(response)
            patch_vary_headers(response, ["Authorization", "Cookie"])
            return response

        # CSRF is checked by api_view, and only for calls authenticated by the session cookie.
        endpoint.csrf_exempt = True
        return endpoint

    return decorator


# -- input -------------------------------------------------------------------------------------


def read_json_object(request) -> dict:
    """The request body as a JSON object, or a 400 saying what is wrong with it."""
    try:
        body = json.loads(request.body)
    except RequestDataTooBig:
        raise bad_request("the request body is too large") from None
    except RawPostDataException:
        raise bad_request("send the body as JSON (Content-Type: application/json)") from None
    except ValueError as error:  # includes JSONDecodeError and UnicodeDecodeError
        raise bad_request(f"the body is not valid JSON ({error})") from None
    if not isinstance(body, dict):
        raise bad_request("wrong type: the body must be a JSON object")
    return body


def _check_fields(data: dict, allowed: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        names = ", ".join(f'"{name}"' for name in unknown)
        raise invalid(f"unknown field {names} in {where}; allowed: {', '.join(allowed)}")
    missing = [name for name in allowed if name not in data]
    if missing:
        raise invalid(f'{where} needs "{missing[0]}"')


def parse_order_body(body: dict) -> list[tuple[str, int]]:
    """{"lines": [{"sku": "WIDGET-1", "quantity": 2}]} -> [("WIDGET-1", 2)]; the service checks
    SKUs and quantity limits."""
    _check_fields(body, ORDER_FIELDS, "the order")
    if not isinstance(body["lines"], list):
        raise bad_request('wrong type: "lines" must be a list of objects')
    lines = []
    for index, line in enumerate(body["lines"]):
        where = f"lines[{index}]"
        if not isinstance(line, dict):
            raise bad_request(f"wrong type: {where} must be an object with sku and quantity")
        _check_fields(line, LINE_FIELDS, where)
        sku, quantity = line["sku"], line["quantity"]
        if not isinstance(sku, str):
            raise bad_request(f"wrong type: {where}.sku must be a string")
        if not isinstance(quantity, int) or isinstance(quantity, bool):
            raise bad_request(f"wrong type: {where}.quantity must be a whole number")
        lines.append((sku, quantity))
    return lines


def parse_status_body(body: dict) -> str:
    """{"status": "paid"} -> "paid"."""
    _check_fields(body, STATUS_FIELDS, "the status change")
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
    key = key.strip()
    if not key or len(key) > IDEMPOTENCY_KEY_MAX:
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
    raw_limit = params.get("limit", "")
    is_number = raw_limit.isascii() and raw_limit.isdigit() and len(raw_limit) <= 4
    limit = int(raw_limit) if is_number else None
    if not raw_limit:
        limit = PAGE_SIZE
    elif limit is None or not 1 <= limit <= MAX_PAGE_SIZE:
        raise bad_request(f"limit must be a whole number from 1 to {MAX_PAGE_SIZE}")
    return ListQuery(
        status=status, query=params.get("q", ""), cursor=params.get("cursor", ""), limit=limit
    )


def visible_order(request, number: str) -> Order:
    """The order if this caller may see it; otherwise a 404, whether or not it exists."""
    order = order_get_visible(user=request.user, number=number)
    if order is None:
        raise ApiError(404, "not_found", f"there is no order {number} that you can see")
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


@api_endpoint("GET", "POST")
@api_view(USER, ADMIN)
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


@api_endpoint("GET", "DELETE")
@api_view(USER, ADMIN)
def order_item(request, number: str):
    """GET /api/orders/<number> shows an order; DELETE (ADMIN) cancels it, again is a no-op."""
    order = visible_order(request, number)
    if request.method == "DELETE":
        if not has_role(request.user, ADMIN):
            raise ApiError(
                403,
                "forbidden",
                "only an administrator can cancel with DELETE; the owner of a pending order "
                'sends PUT .../status with {"status": "cancelled"}',
            )
        order, _changed = order_change_status(
            order=order, to_status=Order.Status.CANCELLED, actor=request.user
        )
    return order_response(request, order)


@api_endpoint("PUT")
@api_view(USER, ADMIN)
def order_status(request, number: str):
    """PUT /api/orders/<number>/status {"status": ...}; the current status again is a no-op."""
    order = visible_order(request, number)
    to_status = parse_status_body(read_json_object(request))
    order, _changed = order_change_status(order=order, to_status=to_status, actor=request.user)
    return order_response(request, order)
