"""`manage.py seed_orders --count N`: a demo catalog, demo users and N realistic orders.

Orders are spread over the past two years; each one went as far along the pipeline as its age
allows (pending -> paid -> shipped -> delivered, some cancelled), with one OrderEvent per step.
Rows are written with bulk_create in batches, one transaction per batch, so a million orders
take minutes, not hours.
"""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.roles import ADMIN, USER
from accounts.services import user_set_roles, user_upsert_from_claims
from orders.models import Order, OrderEvent, OrderLine, Product, new_order_number

Status = Order.Status

# The local provider's demo users (devstack/users.json), as (sub, given name, family name, roles).
DEMO_USERS = (
    ("admin", "Ada", "Admin", {ADMIN, USER}),
    ("alice", "Alice", "Archer", {USER}),
    ("bob", "Bob", "Baker", {USER}),
)
DEFAULT_OWNERS = ("admin", "alice", "bob")

CATALOG = (
    ("WIDGET-1", "Widget, small", "4.99"),
    ("WIDGET-2", "Widget, large", "9.49"),
    ("GADGET-1", "Gadget, standard", "24.90"),
    ("GADGET-2", "Gadget, pro", "79.00"),
    ("CABLE-USB-C-1M", "USB-C cable, 1 m", "7.95"),
    ("CHARGER-65W", "Charger, 65 W", "39.00"),
    ("STAND-ALU", "Laptop stand, aluminium", "54.50"),
    ("BAG-15", "Laptop bag, 15 inch", "64.99"),
)

HISTORY_DAYS = 730
NUMBER_ATTEMPTS = 5


def _ensure_users(subs: list[str]) -> dict[str, object]:
    """The demo users (always) and any other requested subs (as USERs), by (issuer, sub)."""
    known = {sub: (given, family, roles) for sub, given, family, roles in DEMO_USERS}
    users = {}
    for sub in dict.fromkeys([*known, *subs]):
        given, family, roles = known.get(sub, (sub.replace("-", " ").title(), "", {USER}))
        claims = {
            "sub": sub,
            "email": f"{sub}@example.com",
            "given_name": given,
            "family_name": family,
        }
        user = user_upsert_from_claims(issuer=settings.OIDC_ISSUER, claims=claims)
        user_set_roles(user=user, roles=roles)
        users[sub] = user
    return users


def _ensure_catalog() -> tuple[list[Product], bool]:
    """The active products; the demo catalog is created only when there is no product at all."""
    created = False
    if not Product.objects.exists():
        Product.objects.bulk_create(
            Product(sku=sku, name=name, unit_price=Decimal(price)) for sku, name, price in CATALOG
        )
        created = True
    products = list(Product.objects.filter(active=True).order_by("sku"))
    if not products:
        raise CommandError("the catalog has no active product to order")
    return products, created


class OrderFactory:
    """Builds unsaved orders, lines and events that look like a shop's real history."""

    def __init__(self, *, rng: random.Random, products, owners, staff, now: datetime):
        self.rng = rng
        self.products = products
        self.owners = owners
        self.staff = staff  # who ships and delivers (ADMINs), or None
        self.now = now
        self.currency = settings.CURRENCY

    def _steps(self, created: datetime, owner_id: int):
        """(at, from, to, actor id) for each status step this order has reached by now."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.06:
            path = [Status.CANCELLED]
        elif roll < 0.09:
            path = [Status.PAID, Status.CANCELLED]
        else:
            path = [Status.PAID, Status.SHIPPED, Status.DELIVERED]
        delays = {
            Status.PAID: timedelta(minutes=rng.randint(1, 48 * 60)),
            Status.SHIPPED: timedelta(minutes=rng.randint(60, 72 * 60)),
            Status.DELIVERED: timedelta(minutes=rng.randint(24 * 60, 7 * 24 * 60)),
            Status.CANCELLED: timedelta(minutes=rng.randint(5, 72 * 60)),
        }
        steps = [(created, "", Status.PENDING.value, owner_id)]
        at, status = created, Status.PENDING
        for to_status in path:
            at = at + delays[to_status]
            if at > self.now:
                break
            if to_status == Status.PAID:
                actor = None  # the payment provider
            elif to_status == Status.CANCELLED and status == Status.PENDING:
                actor = owner_id
            else:
                actor = rng.choice(self.staff) if self.staff else None
            steps.append((at, status.value, to_status.value, actor))
            status = to_status
        return steps

    def build(self, count: int):
        """`count` orders, each with its lines and its events (not yet saved)."""
        rng = self.rng
        built = []
        for _ in range(count):
            owner_id = rng.choice(self.owners)
            # Younger orders are more common: a shop that grows.
            age = timedelta(seconds=HISTORY_DAYS * 86400 * (1 - rng.random() ** 0.7))
            created = self.now - age
            lines = []
            for product in rng.sample(self.products, k=min(rng.randint(1, 4), len(self.products))):
                quantity = rng.choice((1, 1, 1, 2, 2, 3, 5, 10))
                price = product.unit_price
                line = (product.pk, product.sku, product.name, quantity, price, price * quantity)
                lines.append(line)
            steps = self._steps(created, owner_id)
            order = Order(
                number=new_order_number(),
                owner_id=owner_id,
                status=steps[-1][2],
                currency=self.currency,
                total=sum((line[-1] for line in lines), Decimal("0.00")),
                created=created,
            )
            built.append((order, lines, steps))
        return built


def _unique_numbers(built) -> None:
    """Give new numbers to the (very rare) orders whose number is taken or repeated."""
    for _attempt in range(NUMBER_ATTEMPTS):
        numbers = [order.number for order, _, _ in built]
        taken = set(Order.objects.filter(number__in=numbers).values_list("number", flat=True))
        seen: set[str] = set()
        clashes = 0
        for order, _, _ in built:
            if order.number in taken or order.number in seen:
                order.number = new_order_number()
                clashes += 1
            seen.add(order.number)
        if not clashes:
            return
    raise CommandError("could not find unused order numbers; is the table nearly full?")


LINE_COLUMNS = ("order_id", "product_id", "sku", "name", "quantity", "unit_price", "line_total")
EVENT_COLUMNS = ("order_id", "at", "from_status", "to_status", "actor_id")


def _copy_rows(model, columns, rows) -> None:
    """PostgreSQL's COPY: several times faster than INSERT for the many lines and events."""
    quote = connection.ops.quote_name
    sql = f"COPY {quote(model._meta.db_table)} ({', '.join(map(quote, columns))}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)


def _insert(built) -> None:
    """Write one batch: orders first (their ids come back), then their lines and events."""
    orders = [order for order, _, _ in built]
    Order.objects.bulk_create(orders)
    lines = [(order.pk, *line) for order, order_lines, _ in built for line in order_lines]
    events = [(order.pk, *step) for order, _, steps in built for step in steps]
    if connection.vendor == "postgresql":
        _copy_rows(OrderLine, LINE_COLUMNS, lines)
        _copy_rows(OrderEvent, EVENT_COLUMNS, events)
    else:
        OrderLine.objects.bulk_create(
            OrderLine(**dict(zip(LINE_COLUMNS, row, strict=True))) for row in lines
        )
        OrderEvent.objects.bulk_create(
            OrderEvent(**dict(zip(EVENT_COLUMNS, row, strict=True))) for row in events
        )


def _write_batch(built) -> None:
    """One transaction per batch; on the rare number collision, pick new numbers and retry."""
    for _attempt in range(NUMBER_ATTEMPTS):
        _unique_numbers(built)
        try:
            with transaction.atomic():
                _insert(built)
            return
        except IntegrityError:
            # Someone else took a number between our check and our insert.
            for order, _, _ in built:
                order.pk = None
                order._state.adding = True
    raise CommandError("could not insert a batch of orders (order number collisions)")


class Command(BaseCommand):
    help = "Create the demo catalog and users (when missing) and N realistic orders."

    def add_arguments(self, parser):
        parser.add_argument("--count", type=int, default=300, help="orders to add (default 300)")
        parser.add_argument(
            "--users",
            default=",".join(DEFAULT_OWNERS),
            help="comma-separated subs who own the orders (default: admin,alice,bob); "
            "subs other than the demo users are created as USERs",
        )
        parser.add_argument(
            "--customers",
            type=int,
            default=0,
            help="also create this many customers (customer-00001, ...) who share the orders",
        )
        parser.add_argument("--batch-size", type=int, default=5000)
        parser.add_argument("--seed", type=int, default=None, help="random seed (repeatable)")
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="add nothing when the owners already have orders (for `make run`)",
        )

    def handle(self, *args, count, users, customers, batch_size, seed, if_empty, **options):
        if count < 0 or batch_size < 1 or customers < 0:
            raise CommandError("--count and --customers must be >= 0, --batch-size >= 1")
        subs = [sub.strip() for sub in users.split(",") if sub.strip()]
        subs += [f"customer-{i:05d}" for i in range(1, customers + 1)]
        if not subs:
            raise CommandError("--users names nobody to own the orders")

        started = time.perf_counter()
        with transaction.atomic():
            people = _ensure_users(subs)
            products, catalog_created = _ensure_catalog()
        owners = [people[sub].pk for sub in subs]
        if catalog_created:
            self.stdout.write(f"Catalog created: {len(products)} products")
        if if_empty and Order.objects.filter(owner_id__in=owners).exists():
            self.stdout.write("These users already have orders; nothing added (--if-empty).")
            return

        staff = [user.pk for sub, user in people.items() if user.is_staff]
        factory = OrderFactory(
            rng=random.Random(seed),  # noqa: S311 - demo data, not secrets
            products=products,
            owners=owners,
            staff=staff,
            now=timezone.now(),
        )
        sizes = [min(batch_size, count - start) for start in range(0, count, batch_size)]
        report_every = max(1, len(sizes) // 20)
        done = lines = events = 0
        # Build the next batch (pure Python) while the database writes this one.
        with ThreadPoolExecutor(max_workers=1) as builder:
            upcoming = builder.submit(factory.build, sizes[0]) if sizes else None
            for index, size in enumerate(sizes):
                built = upcoming.result()
                if index + 1 < len(sizes):
                    upcoming = builder.submit(factory.build, sizes[index + 1])
                _write_batch(built)
                done += size
                lines += sum(len(order_lines) for _, order_lines, _ in built)
                events += sum(len(steps) for _, _, steps in built)
                if len(sizes) > 1 and ((index + 1) % report_every == 0 or done == count):
                    rate = done / (time.perf_counter() - started)
                    self.stdout.write(f"  {done:,} / {count:,} orders ({rate:,.0f} orders/s)")

        elapsed = time.perf_counter() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {done:,} orders ({lines:,} lines, {events:,} events) for "
                f"{len(owners):,} owner(s) in {elapsed:.1f} s"
                + (f" ({done / elapsed:,.0f} orders/s)" if done else "")
            )
        )
