"""Placing, following and changing orders, clicked through in headless Chromium."""

import re

import pytest
from playwright.sync_api import expect

from accounts import provider
from accounts.tests.fixtures import sign_in_as

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


@pytest.fixture(autouse=True)
def _fresh_provider_caches():
    provider.clear_caches()
    yield
    provider.clear_caches()


def test_alice_places_and_cancels_an_order_and_admin_marks_another_paid(
    page, browser, live_server, catalog, alice, place_order, screenshot
):
    # An earlier order of alice's, for the administrator to handle at the end.
    earlier = place_order(alice, [("NOTE-A5", 2)])

    sign_in_as(page, live_server, "alice")
    expect(page.get_by_role("heading", name="Your orders")).to_be_visible()
    expect(page.get_by_role("link", name=earlier.number)).to_be_visible()

    page.get_by_role("link", name="New order").click()
    expect(page.get_by_role("heading", name="New order")).to_be_visible()
    expect(page.get_by_text("Fax paper roll")).to_have_count(0)  # not for sale
    page.get_by_role("button", name="Place order").click()
    expect(page.get_by_role("alert")).to_contain_text("Choose at least one product")
    screenshot(page, "order-new-error")

    page.get_by_label("Quantity of Blue pen").fill("3")
    page.get_by_label("Quantity of Stapler").fill("1")
    screenshot(page, "order-new")
    page.set_viewport_size(PHONE)
    screenshot(page, "order-new-phone")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.get_by_role("button", name="Place order").click()

    page.wait_for_url(re.compile(re.escape(live_server.url) + r"/orders/ORD-[0-9A-Z-]+/$"))
    number = page.url.rstrip("/").rsplit("/", 1)[1]
    expect(page.get_by_text(f"Order {number} placed.")).to_be_visible()
    expect(page.get_by_role("cell", name="17.40 EUR")).to_be_visible()  # 3 x 1.50 + 12.90
    expect(page.get_by_role("button", name="Mark as paid")).to_have_count(0)
    screenshot(page, "order-detail")

    page.get_by_role("link", name="Back to orders").click()
    expect(page.get_by_role("link", name=number)).to_be_visible()
    expect(page.get_by_role("link", name=earlier.number)).to_be_visible()
    screenshot(page, "orders-list")
    page.set_viewport_size(PHONE)
    screenshot(page, "orders-list-phone")

    page.get_by_role("link", name=number).click()
    screenshot(page, "order-detail-phone")
    page.get_by_role("button", name="Cancel order").click()
    expect(page.get_by_text(f"Order {number} is now cancelled.")).to_be_visible()
    expect(page.get_by_role("button", name="Cancel order")).to_have_count(0)
    expect(page.locator(".facts .status-badge")).to_have_text("Cancelled")

    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(live_server.url + "/api/")
    expect(page.get_by_role("heading", name="Orders and images API")).to_be_visible()
    screenshot(page, "api-docs")

    admin_context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        admin_page = admin_context.new_page()
        admin_page.set_default_timeout(15_000)
        sign_in_as(admin_page, live_server, "admin")
        expect(admin_page.get_by_role("heading", name="All orders")).to_be_visible()
        admin_page.get_by_label("Order number or owner email").fill("alice@example.com")
        admin_page.get_by_role("button", name="Search").click()
        expect(admin_page.get_by_role("link", name=number)).to_be_visible()
        screenshot(admin_page, "orders-list-admin")

        admin_page.get_by_role("link", name=earlier.number).click()
        expect(admin_page.get_by_text("alice@example.com")).to_be_visible()
        admin_page.get_by_role("button", name="Mark as paid").click()
        expect(admin_page.get_by_text(f"Order {earlier.number} is now paid.")).to_be_visible()
        expect(admin_page.get_by_role("button", name="Mark as shipped")).to_be_visible()
        expect(admin_page.locator(".history li")).to_have_count(2)
        screenshot(admin_page, "order-detail-admin")
    finally:
        admin_context.close()

    earlier.refresh_from_db()
    assert earlier.status == "paid"
