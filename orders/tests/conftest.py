"""Order fixtures shared by the page and API tests: a catalog and an order factory (the people
come from accounts.tests.people)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from orders.models import Order, Product
from orders.services import order_change_status, order_place

# How to reach each status from pending, one allowed step at a time.
PATH_TO_STATUS = {
    Order.Status.PENDING: (),
    Order.Status.PAID: (Order.Status.PAID,),
    Order.Status.SHIPPED: (Order.Status.PAID, Order.Status.SHIPPED),
    Order.Status.DELIVERED: (Order.Status.PAID, Order.Status.SHIPPED, Order.Status.DELIVERED),
    Order.Status.CANCELLED: (Order.Status.CANCELLED,),
}


@pytest.fixture
def catalog(db) -> dict[str, Product]:
    """Three products for sale and one that is not (FAX-ROLL), by SKU."""
    products = [
        Product(sku="PEN-BLUE", name="Blue pen", unit_price=Decimal("1.50")),
        Product(sku="NOTE-A5", name="Notebook A5", unit_price=Decimal("4.20")),
        Product(sku="STAPLER", name="Stapler", unit_price=Decimal("12.90")),
        Product(sku="FAX-ROLL", name="Fax paper roll", unit_price=Decimal("3.00"), active=False),
    ]
    return {product.sku: product for product in Product.objects.bulk_create(products)}


@pytest.fixture
def place_order(catalog, request):
    """Place an order through the real service: place_order(alice), optionally with
    lines=[(sku, quantity)], status= (walked along the pipeline by an admin) and created=."""

    def place(owner, lines=None, *, status: str = Order.Status.PENDING, created=None) -> Order:
        order = order_place(owner=owner, lines=lines or [("PEN-BLUE", 2)])
        if created is not None:
            Order.objects.filter(pk=order.pk).update(created=created)
            order.events.update(at=created)
            order.refresh_from_db()
        if PATH_TO_STATUS[status]:
            actor = request.getfixturevalue("admin_user")
            for step in PATH_TO_STATUS[status]:
                order, _changed = order_change_status(order=order, to_status=step, actor=actor)
        return order

    return place
