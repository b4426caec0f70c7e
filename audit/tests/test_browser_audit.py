"""An ADMIN reads the audit trail in the admin site, in headless Chromium: their own sign-in is
on it, with its time zone, and the filters narrow it."""

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


def test_admin_finds_their_sign_in_in_the_audit_trail(page, live_server, screenshot):
    sign_in_as(page, live_server, "admin", lands_on="/orders/")
    page.goto(live_server.url + "/admin/")
    page.get_by_role("link", name="Audit events").click()
    expect(page.get_by_role("heading", name="Select audit event to view")).to_be_visible()
    rows = page.locator("#result_list tbody tr")
    expect(rows.filter(has_text="signed in")).to_have_count(1)
    expect(rows.filter(has_text="roles changed at sign-in")).to_have_count(1)
    expect(rows.first).to_contain_text(re.compile(r"\d\d:\d\d:\d\d CES?T"))  # Europe/Berlin
    screenshot(page, "admin-audit-trail")

    page.locator("#changelist-filter").get_by_role("link", name="signed in", exact=True).click()
    expect(rows).to_have_count(1)
    rows.first.locator("th a").click()
    expect(page.get_by_role("heading", name="View audit event")).to_be_visible()
    expect(page.locator("input[name=_save]")).to_have_count(0)
    screenshot(page, "admin-audit-event")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "admin-audit-event-phone")
    page.go_back()
    screenshot(page, "admin-audit-trail-phone")
