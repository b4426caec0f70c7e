"""The image pages clicked through in Chromium: two images uploaded at once straight to S3 with
their progress bars, a share link made, opened by a stranger and revoked; a failed upload
retried and a cancelled one; every image page checked by axe-core and for sideways scrolling
at laptop and phone width, with screenshots to look at."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import expect

from accounts.tests.fixtures import sign_in_as
from config.tests.browser_waits import wait_for
from config.tests.test_accessibility import (  # noqa: F401 - axe_js is a fixture
    WIDTHS,
    axe_js,
    problems_at_each_width,
)
from uploads import s3
from uploads.models import Image, ShareLink
from uploads.tests import samples
from uploads.tests.conftest import holdings

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def picture(name: str, data: bytes, mime: str = "image/jpeg") -> dict:
    return {"name": name, "mimeType": mime, "buffer": data}


class PageChecks:
    """axe-core and reflow at both widths on each page, with a screenshot of each; the
    problems are collected and asserted once at the end, so one run reports them all."""

    def __init__(self, axe_js, screenshot):  # noqa: F811
        self.axe_js = axe_js
        self.screenshot = screenshot
        self.problems: list[str] = []

    def check(self, tab, name: str) -> None:
        self.problems += problems_at_each_width(
            tab, self.axe_js, f"images-{name}", screenshot=self.screenshot
        )

    def assert_none(self) -> None:
        assert not self.problems, "axe-core found violations:\n" + "\n".join(self.problems)


@pytest.fixture
def checks(axe_js, screenshot):  # noqa: F811
    return PageChecks(axe_js, screenshot)


def progress_values(tab) -> list[float]:
    return tab.locator(".upload-item progress").evaluate_all("bars => bars.map(b => b.value)")


def upload_states(tab) -> list[str]:
    return tab.locator(".upload-item").evaluate_all("items => items.map(i => i.dataset.state)")


def test_two_images_at_once_a_link_opened_by_a_stranger_then_revoked(
    page, browser, live_server, checks
):
    sign_in_as(page, live_server, "alice", lands_on="/orders/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Images").click()
    expect(page.get_by_role("heading", level=1, name="Your images")).to_be_visible()
    expect(page.get_by_text("You have no images yet.")).to_be_visible()
    checks.check(page, "gallery-empty")

    page.locator(".empty-state").get_by_role("link", name="Upload your first images").click()
    expect(page.get_by_role("heading", level=1, name="Upload images")).to_be_visible()
    expect(page.get_by_label("Keep camera data (location, camera model)")).not_to_be_checked()
    checks.check(page, "upload")

    page.get_by_label("Images").set_input_files(
        [
            picture("harbour.jpg", samples.photo(size=(1600, 1200))),
            picture("garden.png", samples.plain("PNG", size=(900, 600)), "image/png"),
        ]
    )
    page.get_by_role("button", name="Upload", exact=True).click()

    items = page.locator(".upload-item")
    expect(items).to_have_count(2)
    expect(items.nth(0)).to_have_attribute("data-state", "done")
    expect(items.nth(1)).to_have_attribute("data-state", "done")
    assert progress_values(page) == [100, 100]
    expect(page.get_by_role("progressbar", name="harbour.jpg")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="2 of 2 files uploaded.")).to_be_visible()
    expect(page.get_by_role("link", name="Open “harbour”")).to_be_visible()
    checks.check(page, "upload-done")

    stored = {image.filename: image for image in Image.objects.all()}
    assert set(stored) == {"harbour.jpg", "garden.png"}
    keys = {key for image in stored.values() for key in (image.key, image.thumbnail_key)}
    assert holdings().keys == keys  # both objects and thumbnails, nothing left in incoming/
    assert not stored["harbour.jpg"].kept_metadata

    page.get_by_role("link", name="Go to your images").click()
    expect(page.locator(".gallery-item")).to_have_count(2)
    expect(page.get_by_text(re.compile(r"Your storage: .* of 1 GB used"))).to_be_visible()
    checks.check(page, "gallery")

    page.get_by_role("link", name="harbour").click()
    expect(page.get_by_role("heading", level=1, name="harbour")).to_be_visible()
    wait_for(page, "() => document.querySelector('.image-full').complete")
    assert page.locator(".image-full").evaluate("img => img.naturalWidth") == 1200  # upright
    checks.check(page, "image-no-links")

    page.get_by_label("Max views (optional)").fill("10")
    page.get_by_role("button", name="Create link").click()
    expect(page.get_by_text("Link created.")).to_be_visible()
    link = ShareLink.objects.get()
    address = page.get_by_label("Link address").input_value()
    assert address == f"{live_server.url}/s/{link.token}"
    checks.check(page, "image-with-link")

    stranger = browser.new_context(viewport=WIDTHS["laptop"])
    try:
        visitor = stranger.new_page()
        visitor.set_default_timeout(15_000)
        assert visitor.goto(address).status == 200
        # no title was given, and the file name is never shown to strangers
        expect(visitor.get_by_role("heading", level=1, name="Shared image")).to_be_visible()
        wait_for(visitor, "() => document.querySelector('main img').complete")
        assert visitor.locator("main img").evaluate("img => img.naturalWidth") > 0

        page.reload()
        expect(page.locator(".link-facts")).to_contain_text("1 of 10")
        # Typing a date picks "At a date and time I choose" (image-page.js).
        in_two_days = timezone.localtime() + timedelta(days=2)
        page.get_by_text("Change expiry or max views").click()
        card = page.locator(".link-card")
        card.get_by_role("textbox", name="Date and time").fill(
            in_two_days.strftime("%Y-%m-%dT%H:%M")
        )
        expect(card.get_by_label("At a date and time I choose")).to_be_checked()
        card.get_by_role("button", name="Save changes").click()
        expect(page.get_by_text("Link saved: it is open.")).to_be_visible()
        link.refresh_from_db()
        assert link.expires == in_two_days.replace(second=0, microsecond=0)

        page.get_by_role("button", name="Revoke link").click()
        expect(page.get_by_text("Link revoked: it no longer opens.")).to_be_visible()
        expect(page.locator(".link-state")).to_have_text("Revoked")
        checks.check(page, "image-link-revoked")

        gone = visitor.reload()
        assert gone.status == 410
        expect(
            visitor.get_by_role("heading", level=1, name="This link was turned off by its owner")
        ).to_be_visible()
        expect(visitor.locator("main img")).to_have_count(0)
    finally:
        stranger.close()

    page.get_by_role("link", name="Delete image…").click()
    expect(page.get_by_role("heading", level=1, name="Delete “harbour”?")).to_be_visible()
    checks.check(page, "image-delete")
    page.get_by_role("button", name="Delete image").click()
    expect(page.get_by_text("Deleted “harbour”.")).to_be_visible()
    expect(page.locator(".gallery-item")).to_have_count(1)

    page.get_by_role("link", name="Delete all my images…").click()
    expect(page.get_by_role("heading", level=1, name="Delete all my images?")).to_be_visible()
    checks.check(page, "delete-all")
    page.get_by_role("button", name="Delete 1 image").click()
    expect(page.get_by_text("Deleted 1 image.")).to_be_visible()
    assert holdings().keys == frozenset()
    checks.assert_none()


def test_a_failed_upload_says_so_and_retries_a_cancelled_one_says_cancelled(
    page, live_server, checks
):
    """The storage drops the first attempt, then holds the second until it is cancelled."""
    storage = settings.S3_ENDPOINT_URL.rstrip("/")
    attempts = []

    def storage_post(route):
        attempts.append(route.request.url)
        if len(attempts) == 1:
            route.abort("connectionreset")
        elif len(attempts) == 2:
            route.continue_()
        # the third is left hanging, for the person to cancel

    sign_in_as(page, live_server, "alice", lands_on="/orders/")
    page.route(lambda url: url.startswith(storage), storage_post)
    page.goto(live_server.url + "/images/upload/")

    page.get_by_label("Images").set_input_files([picture("boat.jpg", samples.photo())])
    page.get_by_role("button", name="Upload", exact=True).click()
    item = page.locator(".upload-item")
    expect(item).to_have_attribute("data-state", "failed")
    expect(item).to_contain_text("Not uploaded: the connection to the storage failed.")
    checks.check(page, "upload-failed")

    page.get_by_role("button", name="Retry upload of boat.jpg").click()
    expect(item).to_have_attribute("data-state", "done")
    assert progress_values(page) == [100]
    assert Image.objects.filter(filename="boat.jpg").count() == 1

    page.get_by_label("Images").set_input_files([picture("slow.jpg", samples.photo())])
    page.get_by_role("button", name="Upload", exact=True).click()
    slow = page.locator(".upload-item").nth(1)
    expect(slow).to_have_attribute("data-state", "uploading")
    page.get_by_role("button", name="Cancel upload of slow.jpg").click()
    expect(slow).to_have_attribute("data-state", "cancelled")
    expect(slow).to_contain_text("Cancelled.")
    expect(page.get_by_role("button", name="Retry upload of slow.jpg")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="1 of 2 files uploaded.")).to_be_visible()
    checks.check(page, "upload-cancelled")
    page.unroute_all(behavior="ignoreErrors")

    assert Image.objects.count() == 1
    assert not [key for key in s3.keys_under("users/") if "slow" in key]
    checks.assert_none()


def test_a_file_that_is_not_a_picture_is_refused_on_the_page(page, live_server, checks):
    sign_in_as(page, live_server, "alice", lands_on="/orders/")
    page.goto(live_server.url + "/images/upload/")
    before = holdings()
    filename, declared, make, word = samples.HOSTILE["html named .jpg"]

    page.get_by_label("Images").set_input_files([picture(filename, make(), declared)])
    page.get_by_role("button", name="Upload", exact=True).click()

    item = page.locator(".upload-item")
    expect(item).to_have_attribute("data-state", "refused")
    expect(item).to_contain_text(word)
    expect(page.get_by_role("button", name=f"Retry upload of {filename}")).to_be_hidden()
    checks.check(page, "upload-refused")
    assert holdings() == before
    checks.assert_none()


def test_the_pages_without_the_script_and_as_an_admin(
    page, browser, live_server, checks, store_image
):
    """The plain form path in a browser that didn't load upload.js, and an ADMIN's view of
    everyone's gallery."""
    page.route(re.compile(r".*/js/upload[.\w]*\.js$"), lambda route: route.abort())
    sign_in_as(page, live_server, "alice", lands_on="/orders/")
    page.goto(live_server.url + "/images/upload/")
    page.get_by_label("Images").set_input_files(
        [picture("fine.jpg", samples.photo()), picture("cut.jpg", samples.truncated_jpeg())]
    )
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("cut.jpg:")
    expect(page.get_by_text("Some files were not uploaded:")).to_be_visible()
    expect(page.get_by_role("link", name="fine")).to_be_visible()
    checks.check(page, "upload-form-partly-refused")
    page.get_by_role("button", name="Upload", exact=True).click()  # nothing chosen
    assert page.evaluate("document.getElementById('upload-files').validity.valueMissing")
    assert list(Image.objects.values_list("filename", flat=True)) == ["fine.jpg"]

    alice = Image.objects.get().owner
    store_image(
        alice,
        samples.plain("PNG"),
        filename="second.png",
        title="A longer title for a picture of the harbour at dawn with the fishing boats",
    )
    admin_context = browser.new_context(viewport=WIDTHS["laptop"])
    try:
        tab = admin_context.new_page()
        tab.set_default_timeout(15_000)
        sign_in_as(tab, live_server, "admin", lands_on="/orders/")
        tab.goto(live_server.url + "/images/")
        tab.get_by_role("link", name="Show everyone's images").click()
        expect(tab.get_by_role("heading", level=1, name="Everyone's images")).to_be_visible()
        expect(tab.locator(".gallery-item")).to_have_count(2)
        expect(tab.get_by_text("alice@example.com").first).to_be_visible()
        checks.check(tab, "gallery-admin-everyone")
        tab.locator(".gallery-item").first.get_by_role("link").click()
        expect(tab.locator(".facts")).to_contain_text("alice@example.com")
        checks.check(tab, "image-as-admin")

        tab.get_by_label("At a date and time I choose").check()
        tab.get_by_role("button", name="Create link").click()
        expect(tab.get_by_role("alert")).to_contain_text(
            "Choose the date and time the link should expire."
        )
        checks.check(tab, "image-link-refused")
        assert not ShareLink.objects.exists()

        tab.goto(live_server.url + "/images/delete-all/")
        expect(
            tab.get_by_text("You have no images, so there is nothing to delete.")
        ).to_be_visible()
        checks.check(tab, "delete-all-nothing")
    finally:
        admin_context.close()
    checks.assert_none()
