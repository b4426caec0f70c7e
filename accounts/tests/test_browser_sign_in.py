"""A person's sign-in, admin visit and sign-out, clicked through in headless Chromium."""

import re

import pytest
from playwright.sync_api import expect

from accounts import provider
from accounts.tests.fixtures import sign_in_as

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _fresh_provider_caches():
    provider.clear_caches()
    yield
    provider.clear_caches()


def test_admin_signs_in_opens_admin_and_signs_out(page, live_server, local_stack, screenshot):
    sign_in_as(page, live_server, "admin", lands_on="/orders/")
    expect(page.get_by_role("heading", name="All orders")).to_be_visible()
    page.get_by_role("link", name="Account", exact=True).click()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    expect(page.locator(".roles").get_by_text("ADMIN", exact=True)).to_be_visible()
    screenshot(page, "account-admin")

    page.get_by_role("link", name="Admin site").click()
    expect(page.get_by_role("heading", name="Manage the portal")).to_be_visible()
    screenshot(page, "admin-index")

    page.goto(live_server.url + "/")
    page.get_by_role("link", name="Sign out").click()
    # Signing out ends the company sign-in too, so the portal confirms first.
    expect(
        page.get_by_text("signs you out of the portal and of your company sign-in")
    ).to_be_visible()
    screenshot(page, "sign-out-confirm")
    page.get_by_role("button", name="Sign out now").click()
    # The provider asks to confirm ending its session, then sends the user back to our home.
    page.wait_for_url(re.compile(re.escape(local_stack.issuer) + r"/oauth2/end_session"))
    page.get_by_role("button", name="End session").click()
    page.wait_for_url(live_server.url + "/")
    expect(page.get_by_role("link", name="Sign in with your company account")).to_be_visible()


def test_nobody_sees_the_no_access_page(page, live_server, screenshot):
    sign_in_as(page, live_server, "nobody", lands_on="/account/")
    expect(page.get_by_text("No role yet")).to_be_visible()
    screenshot(page, "account-no-role")
    response = page.goto(live_server.url + "/admin/")
    assert response.status == 403
    expect(page.get_by_role("heading", name="You don't have access to this page")).to_be_visible()
    screenshot(page, "admin-403-no-role")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "admin-403-no-role-phone")
