"""Writes to orders: placing orders and changing their status, with every change recorded."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.roles import ADMIN, USER, has_role
from audit.services import Action, audit_record
from orders.models import IdempotencyKey, InvalidTransition, Order, OrderEvent, OrderLine, Product
from orders.selectors import status_changes_allowed
from portal.purge import BATCH_SIZE, delete_in_batches
from portal.text import is_storable

MAX_LINES = 50
MAX_QUANTITY = 1000
IDEMPOTENCY_KEY_HOURS = 24


class OrderRejected(ValueError):
    """Well-formed but unacceptable order input; the message is shown to the person."""


class NotAllowed(Exception):
    """The user may see the order but not make this change."""


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before with a different request body."""


def _normalised_lines(lines) -> list[tuple[str, int]]:
    """Validate the requested lines: known shape, quantities 1..1000, each SKU once."""
    if not lines:
        raise OrderRejected("an order needs at least one line")
    if len(lines) > MAX_LINES:
        raise OrderRejected(f"an order can have at most {MAX_LINES} lines")
    merged: dict[str, int] = {}
    for sku, quantity in lines:
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise OrderRejected(f"the quantity of {sku} must be a whole number of at least 1")
        merged[sku] = merged.get(sku, 0) + quantity
    # After merging: two lines of 600 are one line of 1,200.
    for sku, quantity in merged.items():
        if quantity > MAX_QUANTITY:
            raise OrderRejected(f"the quantity of {sku} can be at most {MAX_QUANTITY}")
    return list(merged.items())


@transaction.atomic
def order_place(*, owner, lines: list[tuple[str, int]]) -> Order:
    """Place an order for `owner`; prices come from the catalog, never from the client."""
    if not has_role(owner, USER, ADMIN):
        raise NotAllowed("your account has no role that can place orders")
    wanted = _normalised_lines(lines)
    # A SKU no column could hold (a form field named with a NUL) is simply not in the catalog.
    skus = [sku for sku, _ in wanted if is_storable(sku)]
    products = {p.sku: p for p in Product.objects.filter(sku__in=skus)}
    unknown = [sku for sku, _ in wanted if sku not in products or not products[sku].active]
    if unknown:
        raise OrderRejected(f"unknown or unavailable product: {', '.join(unknown)}")
    order_lines = [
        OrderLine(
            product=products[sku],
            sku=sku,
            name=products[sku].name,
            quantity=quantity,
            unit_price=products[sku].unit_price,
            line_total=products[sku].unit_price * quantity,
        )
        for sku, quantity in wanted
    ]
    order = Order.objects.create(
        owner=owner,
        currency=settings.CURRENCY,
        total=sum((line.line_total for line in order_lines), Decimal("0.00")),
    )
    for line in order_lines:
        line.order = order
    OrderLine.objects.bulk_create(order_lines)
    OrderEvent.objects.create(order=order, actor=owner, from_status="", to_status=order.status)
    return order


def request_fingerprint(body) -> str:
    """A stable hash of a request body, to tell a replay from a different request."""
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def idempotency_cutoff(now=None):
    """Keys made before this have expired: the same key again places a new order."""
    return (now or timezone.now()) - timedelta(hours=IDEMPOTENCY_KEY_HOURS)


def order_place_idempotent(
    *, owner, key: str, body_fingerprint: str, lines: list[tuple[str, int]]
) -> tuple[Order, bool]:
    """Place an order once per (user, key): a replay returns the first order and False."""
    existing = IdempotencyKey.objects.filter(user=owner, key=key).select_related("order").first()
    if existing is not None and existing.created >= idempotency_cutoff():
        return _replayed(existing, body_fingerprint), False
    try:
        with transaction.atomic():
            if existing is not None:
                # An expired key places a new order; it is forgotten with the same commit.
                IdempotencyKey.objects.filter(pk=existing.pk).delete()
            order = order_place(owner=owner, lines=lines)
            IdempotencyKey.objects.create(
                user=owner, key=key, request_hash=body_fingerprint, order=order
            )
    except IntegrityError:
        # Two requests with the same key raced; the other one won and holds the order.
        existing = IdempotencyKey.objects.select_related("order").get(user=owner, key=key)
        return _replayed(existing, body_fingerprint), False
    return order, True


def idempotency_keys_purge(*, now=None, batch_size: int = BATCH_SIZE) -> int:
    """Delete expired Idempotency-Keys (never their orders); answers how many. Safe to run on
    several machines at once."""
    expired = IdempotencyKey.objects.filter(created__lt=idempotency_cutoff(now)).only("pk")
    return delete_in_batches(expired, batch_size=batch_size)


def _replayed(existing: IdempotencyKey, body_fingerprint: str) -> Order:
    """The order a key already made, if this is the same request again."""
    if existing.request_hash != body_fingerprint:
        raise IdempotencyConflict("this Idempotency-Key was already used with another body")
    return existing.order


@transaction.atomic
def order_change_status(*, order: Order, to_status: str, actor) -> tuple[Order, bool]:
    """Move an order along the pipeline; (order, False) when it already has that status.

    ADMIN may make any change the pipeline allows; an order's owner may only cancel it while
    it is pending. Raises NotAllowed or InvalidTransition otherwise.
    """
    order = Order.objects.select_for_update().get(pk=order.pk)
    if to_status == order.status:
        return order, False
    allowed = has_role(actor, ADMIN) or to_status in status_changes_allowed(user=actor, order=order)
    if not allowed:
        if order.owner_id == actor.pk and to_status == Order.Status.CANCELLED:
            raise InvalidTransition(
                f"order {order.number} is {order.status}; only pending orders can be cancelled"
            )
        raise NotAllowed("only an administrator can make this change")
    order.check_transition(to_status)
    from_status = order.status
    order.status = to_status
    order.save(update_fields=["status", "updated"])
    OrderEvent.objects.create(
        order=order, actor=actor, from_status=from_status, to_status=to_status
    )
    audit_record(
        action=Action.ORDER_STATUS_CHANGED,
        actor=actor,
        target=f"order {order.number}",
        details={"from": from_status, "to": to_status},
    )
    return order, True
