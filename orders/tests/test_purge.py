"""`orders_purge`: expired Idempotency-Keys go in batches, fresh ones and every order stay, and
two runners at once share the work without errors."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from orders.models import IdempotencyKey, Order
from orders.services import (
    idempotency_cutoff,
    idempotency_keys_purge,
    order_place_idempotent,
    request_fingerprint,
)
from portal.tests.at_once import needs_row_locks, run_at_once

LINES = [("PEN-BLUE", 1)]


def keys_made(owner, order, *, count: int, age: timedelta, prefix: str) -> list[str]:
    """`count` keys of `owner` for `order`, made `age` ago."""
    created = timezone.now() - age
    IdempotencyKey.objects.bulk_create(
        IdempotencyKey(
            user=owner, key=f"{prefix}-{n}", request_hash="x", order=order, created=created
        )
        for n in range(count)
    )
    return [f"{prefix}-{n}" for n in range(count)]


def run_purge(*args) -> str:
    out = StringIO()
    call_command("orders_purge", *args, stdout=out)
    return out.getvalue().strip()


@pytest.fixture
def an_order(alice, place_order) -> Order:
    return place_order(alice)


def test_expired_keys_go_and_fresh_keys_and_orders_stay(alice, an_order):
    keys_made(alice, an_order, count=5, age=timedelta(hours=25), prefix="old")
    fresh = keys_made(alice, an_order, count=3, age=timedelta(hours=23), prefix="new")

    assert run_purge("--batch-size", "2") == (
        "Deleted 5 expired Idempotency-Keys (older than 24 hours)"
    )
    assert sorted(IdempotencyKey.objects.values_list("key", flat=True)) == sorted(fresh)
    assert Order.objects.filter(pk=an_order.pk).exists()
    assert run_purge() == "Deleted 0 expired Idempotency-Keys (older than 24 hours)"


def test_the_purge_uses_the_rule_that_placing_uses(alice, catalog):
    """A key the purge keeps still replays; one it would delete places a new order."""
    body = request_fingerprint({"lines": LINES})
    first, _ = order_place_idempotent(owner=alice, key="k", body_fingerprint=body, lines=LINES)
    just_kept = idempotency_cutoff() + timedelta(seconds=5)
    IdempotencyKey.objects.filter(key="k").update(created=just_kept)

    assert idempotency_keys_purge() == 0
    again, placed = order_place_idempotent(owner=alice, key="k", body_fingerprint=body, lines=LINES)
    assert (again, placed) == (first, False)

    IdempotencyKey.objects.filter(key="k").update(
        created=idempotency_cutoff() - timedelta(seconds=5)
    )
    assert idempotency_keys_purge() == 1
    new, placed = order_place_idempotent(owner=alice, key="k", body_fingerprint=body, lines=LINES)
    assert placed is True
    assert new != first


def test_a_batch_size_below_one_is_refused(db):
    with pytest.raises(CommandError, match="--batch-size must be at least 1, not 0"):
        run_purge("--batch-size", "0")


@needs_row_locks
@pytest.mark.django_db(transaction=True)
def test_two_runners_at_once_delete_each_key_once(alice, place_order):
    order = place_order(alice)
    keys_made(alice, order, count=1200, age=timedelta(days=2), prefix="old")
    fresh = keys_made(alice, order, count=40, age=timedelta(hours=1), prefix="new")

    outputs = run_at_once(lambda: run_purge("--batch-size", "50"))

    deleted = [int(output.split()[1]) for output in outputs]
    assert sum(deleted) == 1200  # every key deleted once, by one runner or the other
    assert sorted(IdempotencyKey.objects.values_list("key", flat=True)) == sorted(fresh)
    assert Order.objects.filter(pk=order.pk).exists()
