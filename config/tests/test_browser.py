import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_home_page_in_chromium(page, live_server, screenshot):
    page.goto(live_server.url + "/")
    assert page.title() == "Welcome · Order Portal"
    sign_in = page.get_by_role("link", name="Sign in with your company account")
    expect(sign_in).to_be_visible()
    assert sign_in.get_attribute("href") == "/oidc/authenticate/"
    # The stylesheet really loaded (the button is blue, not an unstyled link).
    assert sign_in.evaluate("el => getComputedStyle(el).backgroundColor") == "rgb(31, 79, 163)"
    screenshot(page, "home")
    page.set_viewport_size({"width": 390, "height": 844})
    expect(sign_in).to_be_visible()
    screenshot(page, "home-phone")
