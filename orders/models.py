"""Catalog, orders, their lines and their history. The status pipeline lives on Order."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

# Crockford's base32 without I, L, O, U: order numbers people can read out on the phone.
NUMBER_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_order_number() -> str:
    """A random, human-readable number such as ORD-7KQ4M-2XD9P (50 bits: no guessing)."""
    chars = "".join(secrets.choice(NUMBER_ALPHABET) for _ in range(10))
    return f"ORD-{chars[:5]}-{chars[5:]}"


class Product(models.Model):
    sku = models.CharField("SKU", max_length=40, unique=True)
    name = models.CharField(max_length=200)
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)
    active = models.BooleanField(default=True, help_text="Only active products can be ordered.")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(unit_price__gte=0), name="product_price_not_negative"
            )
        ]

    def __str__(self):
        return f"{self.name} ({self.sku})"


class InvalidTransition(Exception):
    """A status change the pipeline does not allow; the message says what is possible."""


class Order(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PAID = "paid", "Paid"
        SHIPPED = "shipped", "Shipped"
        DELIVERED = "delivered", "Delivered"
        CANCELLED = "cancelled", "Cancelled"

    # The pipeline: pending -> paid -> shipped -> delivered, and pending/paid -> cancelled.
    TRANSITIONS = {
        Status.PENDING: (Status.PAID, Status.CANCELLED),
        Status.PAID: (Status.SHIPPED, Status.CANCELLED),
        Status.SHIPPED: (Status.DELIVERED,),
        Status.DELIVERED: (),
        Status.CANCELLED: (),
    }

    number = models.CharField(max_length=20, unique=True, default=new_order_number, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="orders",
        db_index=False,  # the (owner, created, id) index below serves every owner lookup
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    currency = models.CharField(max_length=3)
    total = models.DecimalField(max_digits=12, decimal_places=2)
    created = models.DateTimeField(default=timezone.now, editable=False)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created", "-id"]
        # Keyset pagination walks (created, id) newest first, overall, per owner and per status.
        indexes = [
            models.Index(fields=["-created", "-id"], name="order_newest"),
            models.Index(fields=["owner", "-created", "-id"], name="order_owner_newest"),
            models.Index(fields=["status", "-created", "-id"], name="order_status_newest"),
            models.Index(
                fields=["owner", "status", "-created", "-id"], name="order_owner_status_newest"
            ),
        ]

    def __str__(self):
        return self.number

    def next_statuses(self) -> tuple[str, ...]:
        return tuple(self.TRANSITIONS[self.Status(self.status)])

    def check_transition(self, to_status: str) -> None:
        """Raise InvalidTransition unless the pipeline allows going to `to_status` now."""
        if to_status not in self.Status.values:
            raise InvalidTransition(f"'{to_status}' is not an order status")
        if to_status not in self.next_statuses():
            allowed = ", ".join(self.next_statuses()) or "none (this order is final)"
            raise InvalidTransition(
                f"order {self.number} is {self.status}; it can't become {to_status} "
                f"(possible next: {allowed})"
            )


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    # Copied at order time: later catalog changes never rewrite an order.
    sku = models.CharField("SKU", max_length=40)
    name = models.CharField(max_length=200)
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)
    line_total = models.DecimalField(max_digits=12, decimal_places=2)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(quantity__gte=1), name="line_quantity_min_1")
        ]

    def __str__(self):
        return f"{self.quantity} x {self.sku}"


class OrderEvent(models.Model):
    """One change of an order's status: who, when, from, to."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True
    )
    at = models.DateTimeField(default=timezone.now)
    from_status = models.CharField(max_length=12, blank=True)  # empty: the order was placed
    to_status = models.CharField(max_length=12)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self):
        return f"{self.order_id}: {self.from_status or 'new'} -> {self.to_status}"


class IdempotencyKey(models.Model):
    """A client's Idempotency-Key for POST /api/orders: the same key and body give one order."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)
    request_hash = models.CharField(max_length=64)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="+")
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_once")]
        indexes = [models.Index(fields=["created"], name="idempotency_created")]

    def __str__(self):
        return f"{self.key} -> {self.order_id}"
