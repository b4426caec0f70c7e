"""Share links in Chromium, as a visitor who was only sent the link: the image displays, the
password form works by keyboard, gone and unknown links say so; every share page passes
axe-core and fits a phone, at both widths, with screenshots to look at."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from config.tests.browser_waits import wait_for
from config.tests.test_accessibility import (  # noqa: F401 - axe_js is a fixture
    WIDTHS,
    axe_js,
    problems_at_each_width,
)
from uploads.links import link_create, link_revoke
from uploads.models import ShareLink
from uploads.tests import samples
from uploads.tests.conftest import views_of

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "blue whale 7"


@pytest.fixture
def visitor(browser):
    """A fresh anonymous browser: no cookies, never signed in to the portal."""
    context = browser.new_context(viewport=WIDTHS["laptop"])
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    yield tab
    context.close()


@pytest.fixture
def photo(alice, store_image):
    return store_image(
        alice, samples.photo(size=(1200, 800)), filename="IMG_7781.jpg", title="Lake in spring"
    )


def address(live_server, link, view="share_open") -> str:
    return live_server.url + reverse(view, args=[link.token])


def image_displays(tab) -> bool:
    return tab.locator("main img").evaluate("img => img.complete && img.naturalWidth > 0")


def check_at_both_widths(tab, axe_js, screenshot, name: str) -> list[str]:  # noqa: F811
    """axe-core and reflow at laptop and phone width; a screenshot of each."""
    return problems_at_each_width(tab, axe_js, f"share-{name}", screenshot=screenshot)


def test_an_anonymous_visitor_sees_the_image_then_the_gone_page(
    visitor,
    live_server,
    alice,
    photo,
    axe_js,  # noqa: F811
    screenshot,
):
    link = link_create(image=photo, created_by=alice, max_views=5)

    answer = visitor.goto(address(live_server, link))

    assert answer.status == 200
    expect(visitor.get_by_role("heading", level=1, name="Lake in spring")).to_be_visible()
    expect(visitor.get_by_role("img", name="Lake in spring")).to_be_visible()
    wait_for(visitor, "() => document.querySelector('main img').complete")
    assert image_displays(visitor)
    expect(visitor.get_by_text(re.compile(r"works until .* CES?T"))).to_be_visible()
    problems = check_at_both_widths(visitor, axe_js, screenshot, "page")

    link_revoke(link)
    gone = visitor.goto(address(live_server, link))

    assert gone.status == 410
    expect(
        visitor.get_by_role("heading", level=1, name="This link was turned off by its owner")
    ).to_be_visible()
    expect(visitor.locator("main img")).to_have_count(0)
    problems += check_at_both_widths(visitor, axe_js, screenshot, "gone-revoked")
    assert not problems, "axe-core found violations:\n" + "\n".join(problems)
    assert views_of(link) == 1


def test_a_download_link_offers_the_download(
    visitor,
    live_server,
    alice,
    photo,
    axe_js,  # noqa: F811
    screenshot,
):
    link = link_create(image=photo, created_by=alice, download=True, max_views=3)

    visitor.goto(address(live_server, link))

    wait_for(visitor, "() => document.querySelector('main img').complete")
    assert image_displays(visitor)
    download_button = visitor.get_by_role("link", name="Download the image")
    expect(download_button).to_be_visible()
    problems = check_at_both_widths(visitor, axe_js, screenshot, "page-download")
    with visitor.expect_download() as download:
        download_button.click()
    assert download.value.suggested_filename == "Lake in spring.jpg"
    assert not problems, "axe-core found violations:\n" + "\n".join(problems)


def test_the_password_flow_by_keyboard(
    visitor,
    live_server,
    alice,
    photo,
    axe_js,  # noqa: F811
    screenshot,
):
    link = link_create(image=photo, created_by=alice, password=PASSWORD)

    visitor.goto(address(live_server, link))

    expect(
        visitor.get_by_role("heading", level=1, name="This image is protected by a password")
    ).to_be_visible()
    field = visitor.get_by_label("Password")
    expect(field).to_be_focused()
    problems = check_at_both_widths(visitor, axe_js, screenshot, "password")

    visitor.keyboard.type("not it")
    with visitor.expect_navigation() as navigation:
        visitor.keyboard.press("Enter")
    assert navigation.value.status == 403
    expect(visitor.get_by_role("alert")).to_have_text(re.compile("That password is not right"))
    expect(field).to_be_focused()
    problems += check_at_both_widths(visitor, axe_js, screenshot, "password-wrong")

    visitor.keyboard.type(PASSWORD)
    visitor.keyboard.press("Enter")
    expect(visitor.get_by_role("heading", level=1, name="Lake in spring")).to_be_visible()
    wait_for(visitor, "() => document.querySelector('main img').complete")
    assert image_displays(visitor)
    assert PASSWORD not in visitor.url
    # The raw link now opens too, with the cookie the form set (scoped to this link).
    raw = visitor.request.get(address(live_server, link, "share_raw"), max_redirects=0)
    assert raw.status == 302
    assert views_of(link) == 2
    assert not problems, "axe-core found violations:\n" + "\n".join(problems)


def test_the_other_gone_pages_and_the_not_found_page(
    visitor,
    live_server,
    alice,
    photo,
    axe_js,  # noqa: F811
    screenshot,
):
    expired = link_create(image=photo, created_by=alice)
    ShareLink.objects.filter(pk=expired.pk).update(expires=timezone.now() - timedelta(minutes=1))
    used_up = link_create(image=photo, created_by=alice, max_views=1)
    ShareLink.objects.filter(pk=used_up.pk).update(views=1)
    problems = []

    for name, link, heading in [
        ("gone-expired", expired, "This link has expired"),
        ("gone-used-up", used_up, "This link has been viewed the maximum number of times"),
    ]:
        assert visitor.goto(address(live_server, link)).status == 410
        expect(visitor.get_by_role("heading", level=1, name=heading)).to_be_visible()
        problems += check_at_both_widths(visitor, axe_js, screenshot, name)

    missing = visitor.goto(live_server.url + reverse("share_open", args=["no-such-link"]))
    assert missing.status == 404
    expect(
        visitor.get_by_role("heading", level=1, name="We can't find this shared image")
    ).to_be_visible()
    problems += check_at_both_widths(visitor, axe_js, screenshot, "not-found")
    assert not problems, "axe-core found violations:\n" + "\n".join(problems)
