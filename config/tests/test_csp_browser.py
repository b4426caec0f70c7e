"""Every page under the real Content-Security-Policy in Chromium: signed out, as a USER (with a
real direct upload to S3, the gallery, an image, share links and sign-out) and as an ADMIN
(the admin site too). Any violation fails, and so does any image that didn't load, so a
thumbnail blocked by img-src can't pass unnoticed."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils.csp import CSP
from playwright.sync_api import expect

from accounts.roles import USER
from accounts.services import user_set_roles, user_upsert_from_claims
from accounts.tests.fixtures import sign_in_as
from config.tests.browser_waits import page_condition
from orders.models import Product
from orders.services import order_place
from uploads import s3
from uploads.models import Image, ShareLink
from uploads.tests import samples

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Chromium reports a violation twice: on the console ("... violates the following Content
# Security Policy directive ...") and as a securitypolicyviolation event, which this script,
# run before any of the page's own, puts on the console too.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => console.error(
  `securitypolicyviolation: ${event.effectiveDirective} blocked ` +
  `${event.blockedURI || "inline"} on ${event.documentURI}`));
"""
ALL_IMAGES_SETTLED = "() => Array.from(document.images).every((img) => img.complete)"
BROKEN_IMAGES = """() => Array.from(document.images)
  .filter((img) => !(img.complete && img.naturalWidth > 0))
  .map((img) => img.currentSrc || img.src || "(no src)")"""

# The pictures themselves, from S3; not the admin's icons under /static/.
CONTENT_IMAGES = """Array.from(document.images)
  .filter((img) => !new URL(img.src, location).pathname.startsWith("/static/")).length"""


class CspWatch:
    """Collects every CSP violation in a browser context, and images that didn't load."""

    def __init__(self, context):
        self.problems: list[str] = []
        context.add_init_script(REPORT_VIOLATIONS)
        context.on("console", self._console)

    def _console(self, message) -> None:
        text = message.text
        if "Content Security Policy" in text or text.startswith("securitypolicyviolation"):
            where = message.page.url if message.page else "?"
            self.problems.append(f"{where}: {text}")

    def images(self, tab, where: str, *, expected: int | None = None) -> None:
        """Every image on the page loaded (and `expected` pictures, when given)."""
        # An image that never finishes is reported below, with the ones that failed.
        page_condition(tab, ALL_IMAGES_SETTLED)
        broken = tab.evaluate(BROKEN_IMAGES)
        self.problems += [f"{where}: image not loaded: {src}" for src in broken]
        if expected is not None:
            count = tab.evaluate(CONTENT_IMAGES)
            if count != expected:
                self.problems.append(f"{where}: {count} images, expected {expected}")

    def visit(self, tab, url: str, where: str, *, status: int = 200, images: int = 0) -> None:
        response = tab.goto(url)
        if response.status != status:
            self.problems.append(f"{where}: answered {response.status}, expected {status}")
        self.images(tab, where, expected=images)

    def assert_none(self) -> None:
        assert not self.problems, "CSP violations or images not loaded:\n" + "\n".join(
            self.problems
        )


def picture(name: str, data: bytes, mime: str = "image/jpeg") -> dict:
    return {"name": name, "mimeType": mime, "buffer": data}


@pytest.fixture
def empty_bucket(local_stack):
    s3.delete_prefix("")
    yield
    s3.delete_prefix("")


@pytest.fixture
def an_order():
    alice = user_upsert_from_claims(
        issuer=settings.OIDC_ISSUER,
        claims={"sub": "alice", "email": "alice@example.com", "given_name": "Alice"},
    )
    user_set_roles(user=alice, roles={USER})
    Product.objects.create(sku="PEN-BLUE", name="Blue pen", unit_price=Decimal("1.50"))
    return order_place(owner=alice, lines=[("PEN-BLUE", 3)])


def upload_two_images(tab, base_url: str, watch: CspWatch) -> None:
    """The upload page, then a real direct upload of two files to S3 (connect-src)."""
    watch.visit(tab, base_url + "/images/upload/", "upload")
    tab.get_by_label("Images").set_input_files(
        [
            picture("harbour.jpg", samples.photo(size=(800, 600))),
            picture("garden.png", samples.plain("PNG", size=(300, 200)), "image/png"),
        ]
    )
    tab.get_by_role("button", name="Upload", exact=True).click()
    items = tab.locator(".upload-item")
    expect(items).to_have_count(2)
    for index in range(2):
        expect(items.nth(index)).to_have_attribute("data-state", "done")
    # The direct path was taken: nothing reached the portal's form upload.
    assert Image.objects.count() == 2


def test_every_page_under_the_policy(page, browser, live_server, an_order, empty_bucket, settings):
    settings.ROOT_URLCONF = "config.tests.urls"  # the real pages, plus /boom/ and /forbidden/
    base = live_server.url
    watch = CspWatch(page.context)

    # -- signed out
    watch.visit(page, base + "/", "home")
    watch.visit(page, base + "/api/", "api guide")
    watch.visit(page, base + "/no-such-page/", "404", status=404)
    watch.visit(page, base + "/oidc/callback/?state=bogus", "sign-in failed", status=400)
    watch.visit(page, base + "/boom/", "500 (a page of its own)", status=500)
    watch.visit(page, base + "/forbidden/", "403", status=403)

    # -- a USER: orders, account (its copy button's script), uploads, gallery, image, links
    sign_in_as(page, live_server, "alice", lands_on="/orders/")
    watch.images(page, "orders")
    watch.visit(page, base + "/orders/new/", "order form")
    page.get_by_role("button", name="Place order").click()  # a form POST ('self')
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    watch.visit(page, f"{base}/orders/{an_order.number}/", "order")
    watch.visit(page, base + "/account/", "account")
    page.get_by_role("button", name="Copy API token").click()
    expect(page.get_by_text("Copied.")).to_be_visible()  # account.js ran

    upload_two_images(page, base, watch)
    watch.visit(page, base + "/images/", "gallery", images=2)  # thumbnails from S3 (img-src)
    harbour = Image.objects.get(filename="harbour.jpg")
    watch.visit(page, f"{base}/images/{harbour.pk}/", "image", images=1)
    page.get_by_role("button", name="Create link").click()
    expect(page.get_by_text("Link created.")).to_be_visible()
    open_link = ShareLink.objects.get()
    page.get_by_label("Max views (optional)").fill("5")
    page.get_by_label("Password (optional)").fill("harbour-secret")
    page.get_by_role("button", name="Create link").click()
    expect(page.get_by_text("Link created.")).to_be_visible()
    locked_link = ShareLink.objects.exclude(pk=open_link.pk).get()
    watch.images(page, "image with links", expected=1)
    watch.visit(page, f"{base}/images/{harbour.pk}/delete/", "delete image", images=1)
    watch.visit(page, base + "/images/delete-all/", "delete all")

    # -- a stranger opens the share links (the share pages' own policy)
    stranger = browser.new_context()
    try:
        strange_watch = CspWatch(stranger)
        visitor = stranger.new_page()
        visitor.set_default_timeout(15_000)
        strange_watch.visit(visitor, f"{base}/s/{open_link.token}", "share page", images=1)
        strange_watch.visit(visitor, f"{base}/s/{locked_link.token}", "share password")
        visitor.get_by_label("Password").fill("wrong")
        visitor.get_by_role("button", name="Show the image").click()  # a form POST ('self')
        expect(visitor.get_by_role("alert")).to_contain_text("password is not right")
        visitor.get_by_label("Password").fill("harbour-secret")
        visitor.get_by_role("button", name="Show the image").click()
        expect(visitor.locator("main img")).to_have_count(1)
        strange_watch.images(visitor, "share page after its password", expected=1)
        strange_watch.visit(visitor, f"{base}/s/no-such-token", "share not found", status=404)
        assert visitor.goto(f"{base}/s/{open_link.token}/raw").status == 200  # the S3 object
        watch.problems += strange_watch.problems
    finally:
        stranger.close()

    # -- sign-out: a POST whose redirect ends at the provider (form-action)
    watch.visit(page, base + "/oidc/logout/", "sign-out")
    page.get_by_role("button", name="Sign out now").click()
    page.wait_for_url(re.compile(r"/oauth2/end_session"))
    page.get_by_role("button", name="End session").click()
    page.wait_for_url(base + "/")
    watch.assert_none()


def test_admin_pages_under_the_policy(page, live_server, an_order, empty_bucket):
    base = live_server.url
    watch = CspWatch(page.context)
    sign_in_as(page, live_server, "admin", lands_on="/orders/")
    watch.images(page, "all orders")
    upload_two_images(page, base, watch)
    watch.visit(page, base + "/images/?all=1", "everyone's images", images=2)
    image = Image.objects.get(filename="harbour.jpg")
    for where, path, images in [
        ("admin index", "/admin/", 0),
        ("admin orders", "/admin/orders/order/", 0),
        ("admin order", f"/admin/orders/order/{an_order.pk}/change/", 0),
        ("admin new product", "/admin/orders/product/add/", 0),
        ("admin users", "/admin/accounts/user/?q=alice", 0),
        ("admin images", "/admin/uploads/image/", 2),
        ("admin image", f"/admin/uploads/image/{image.pk}/change/", 1),
    ]:
        watch.visit(page, base + path, where, images=images)
    # The admin's own scripts run: the navigation sidebar's toggle (nav_sidebar.js) and the
    # changelist's "select all" with its counter (actions.js), on the share links.
    page.get_by_role("button", name="Toggle navigation").click()
    expect(page.locator("#main")).not_to_have_class(re.compile(r"\bshifted\b"))
    page.goto(base + f"/images/{image.pk}/")
    page.get_by_role("button", name="Create link").click()
    expect(page.get_by_text("Link created.")).to_be_visible()
    watch.visit(page, base + "/admin/uploads/sharelink/", "admin share links")
    page.locator("#action-toggle").check()
    expect(page.locator(".action-counter")).to_contain_text("1 of 1 selected")
    page.get_by_role("link", name="Log out").click()  # the admin's POST form, to our sign-out
    expect(page.get_by_role("heading", level=1, name="Sign out")).to_be_visible()
    watch.assert_none()


def test_the_watch_catches_a_policy_that_blocks_what_the_pages_need(
    page, live_server, settings, empty_bucket
):
    """The tests above can fail: without the S3 origin in img-src and connect-src, and with
    script-src 'none', the upload falls back, the thumbnails don't load, and both are caught."""
    settings.SECURE_CSP = {
        **settings.SECURE_CSP,
        "script-src": [CSP.NONE],
        "img-src": [CSP.SELF],
        "connect-src": [CSP.SELF],
    }
    watch = CspWatch(page.context)
    sign_in_as(page, live_server, "alice", lands_on="/orders/")
    watch.visit(page, live_server.url + "/images/upload/", "upload")
    page.get_by_label("Images").set_input_files([picture("pier.jpg", samples.photo())])
    page.get_by_role("button", name="Upload", exact=True).click()  # the plain form path
    page.wait_for_url(re.compile(r"/images/\d+/$"))
    watch.visit(page, live_server.url + "/images/", "gallery", images=1)
    found = "\n".join(watch.problems)
    assert "script-src" in found  # upload.js blocked
    assert "img-src" in found  # the thumbnail blocked
    assert "gallery: image not loaded: " + live_server.url not in found
    assert re.search(r"gallery: image not loaded: http://127\.0\.0\.1:\d+/portal-test/", found)
