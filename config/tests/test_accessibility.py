"""axe-core's WCAG 2.2 AA and best-practice rules on every portal page, as each kind of visitor,
at laptop and at phone width, in headless Chromium. Django's own admin pages are exempt."""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from accounts.roles import USER
from accounts.services import user_set_roles, user_upsert_from_claims
from accounts.tests.fixtures import sign_in_as
from orders.models import Product
from orders.services import order_place

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Installed from the npm registry at the version package-lock.json pins (`npm ci`).
AXE_JS = Path(settings.BASE_DIR) / "node_modules" / "axe-core" / "axe.min.js"
AXE_OPTIONS = {
    "runOnly": {
        "type": "tag",
        "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"],
    },
    "resultTypes": ["violations"],
}
# axe does not check reflow (WCAG 1.4.10): at phone width nothing may push the page sideways.
SCROLLS_SIDEWAYS = "document.documentElement.scrollWidth > window.innerWidth"
WIDTHS = {"laptop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
# Where each visitor lands after signing in from the home page: alice is a USER, admin an ADMIN
# and a USER, nobody has no role (devstack/users.json).
LANDS_ON = {"alice": "/orders/", "admin": "/orders/", "nobody": "/account/"}


@dataclass(frozen=True)
class PortalPage:
    name: str
    path: str
    status: int
    heading: str  # part of the page's h1, proof that the page meant is the page checked
    submit: str = ""  # a button to press once loaded; the answer to that is what gets checked
    forget_csrf_cookie: bool = False  # before pressing it, as a browser blocking cookies would


def pages_for(who: str, order_number: str) -> list[PortalPage]:
    """The pages this visitor can reach, in an order that keeps them signed in to the end."""
    pages = [
        PortalPage("home", "/", 200, "Your orders and images"),
        PortalPage("api-guide", "/api/", 200, "Orders and images API"),
        PortalPage("not-found", "/no-such-page/", 404, "We can't find that page"),
        PortalPage("server-error", "/boom/", 500, "Something went wrong"),
    ]
    if who in ("alice", "admin"):
        pages += [
            PortalPage("orders", "/orders/", 200, "orders"),
            PortalPage("orders-no-match", "/orders/?status=delivered", 200, "orders"),
            PortalPage("order-new", "/orders/new/", 200, "New order"),
            PortalPage("order-new-refused", "/orders/new/", 422, "New order", "Place order"),
            PortalPage("order-detail", f"/orders/{order_number}/", 200, order_number),
            PortalPage("account", "/account/", 200, "Your account"),
            PortalPage(
                "form-expired",
                "/orders/new/",
                403,
                "form has expired",
                submit="Place order",
                forget_csrf_cookie=True,
            ),
        ]
    if who == "nobody":
        pages += [
            PortalPage("account", "/account/", 200, "Your account"),
            PortalPage("no-access", "/orders/", 403, "You don't have access"),
        ]
    pages += [
        PortalPage("sign-out", "/oidc/logout/", 200, "Sign out"),
        PortalPage("sign-in-failed", "/oidc/callback/?state=bogus", 400, "couldn't sign you in"),
    ]
    return pages


@pytest.fixture(scope="session")
def axe_js() -> Path:
    """axe-core's script, installed by `make test`; a missing one fails CI like Chromium does."""
    if not AXE_JS.exists():
        reason = "axe-core is not installed (run `npm ci` at the project root)"
        if os.environ.get("REQUIRE_BROWSER"):
            pytest.fail(f"REQUIRE_BROWSER is set but {reason}")
        pytest.skip(reason)
    return AXE_JS


@pytest.fixture
def alice_order():
    """An order of alice's with two lines, and the catalog it came from."""
    alice = user_upsert_from_claims(
        issuer=settings.OIDC_ISSUER,
        claims={"sub": "alice", "email": "alice@example.com", "given_name": "Alice"},
    )
    user_set_roles(user=alice, roles={USER})
    Product.objects.bulk_create(
        [
            Product(sku="PEN-BLUE", name="Blue pen", unit_price=Decimal("1.50")),
            Product(sku="STAPLER", name="Stapler", unit_price=Decimal("12.90")),
        ]
    )
    return order_place(owner=alice, lines=[("PEN-BLUE", 3), ("STAPLER", 1)])


def axe_violations(tab, axe_js: Path) -> list[dict]:
    """Run axe-core on the page as it is laid out now."""
    if not tab.evaluate("typeof axe !== 'undefined'"):
        # Through DevTools, not a <script> tag, which the pages' CSP rightly refuses.
        tab.evaluate(axe_js.read_text() + "\n;undefined")
    return tab.evaluate(
        "options => axe.run(document, options).then(r => r.violations)", AXE_OPTIONS
    )


def describe(violations: list[dict], where: str) -> list[str]:
    """One line per rule broken (id, impact, help), then the selectors of what breaks it."""
    lines = []
    for violation in violations:
        lines.append(
            f"{where}: {violation['id']} ({violation['impact']}): {violation['help']}"
            f" <{violation['helpUrl']}>"
        )
        lines += [f"    {' >> '.join(map(str, node['target']))}" for node in violation["nodes"]]
    return lines


def problems_at_each_width(tab, axe_js: Path, where: str, *, screenshot=None) -> list[str]:
    """axe-core and reflow at laptop and phone width, the tab left at laptop width; with
    `screenshot` (the fixture), a picture at each width named <where>-<width>."""
    problems = []
    for width_name, viewport in WIDTHS.items():
        tab.set_viewport_size(viewport)
        at = f"{where}, {width_name} ({viewport['width']} px)"
        problems += describe(axe_violations(tab, axe_js), at)
        if tab.evaluate(SCROLLS_SIDEWAYS):
            problems.append(f"{at}: the page scrolls sideways (WCAG 1.4.10, reflow)")
        if screenshot is not None:
            screenshot(tab, f"{where}-{viewport['width']}")
    tab.set_viewport_size(WIDTHS["laptop"])
    return problems


def open_page(tab, base_url: str, portal_page: PortalPage) -> None:
    response = tab.goto(base_url + portal_page.path)
    if portal_page.forget_csrf_cookie:
        tab.context.clear_cookies(name="csrftoken")
    if portal_page.submit:
        with tab.expect_navigation() as navigation:
            tab.get_by_role("button", name=portal_page.submit).click()
        response = navigation.value
    assert response.status == portal_page.status, f"{portal_page.name}: {response.status}"
    expect(tab.get_by_role("heading", level=1, name=portal_page.heading)).to_be_visible()


@pytest.mark.parametrize("who", ["anonymous", "alice", "admin", "nobody"])
def test_every_portal_page_passes_axe_at_both_widths(
    who, page, live_server, axe_js, alice_order, screenshot, settings
):
    settings.ROOT_URLCONF = "config.tests.urls"  # the real pages plus /boom/, for the 500 page
    if who != "anonymous":
        sign_in_as(page, live_server, who, lands_on=LANDS_ON[who])
    problems = []
    for portal_page in pages_for(who, alice_order.number):
        page.set_viewport_size(WIDTHS["laptop"])
        open_page(page, live_server.url, portal_page)
        problems += problems_at_each_width(page, axe_js, f"{portal_page.name} as {who}")
        page.set_viewport_size(WIDTHS["phone"])
        screenshot(page, f"a11y-{who}-{portal_page.name}-phone")
    assert not problems, "axe-core found violations:\n" + "\n".join(problems)


def test_axe_reports_what_the_portal_once_had(page, axe_js):
    """The harness really fails: a scrolling box nobody can reach with the keyboard (the fault
    the curl example under the access token had on phones) and an unlabelled field are both
    reported, with the rule, its impact and the offending selectors."""
    page.set_content(
        '<!doctype html><html lang="en"><head><title>Broken</title></head><body><main>'
        '<h1>Broken</h1><div id="box" style="width:5rem;overflow-x:auto;white-space:nowrap">'
        "a line far too long to fit in such a narrow box</div>"
        '<input id="nameless" type="text"></main></body></html>'
    )
    violations = axe_violations(page, axe_js)
    found = {violation["id"]: violation for violation in violations}
    assert set(found) == {"scrollable-region-focusable", "label"}
    report = "\n".join(describe(violations, "test page"))
    assert "scrollable-region-focusable (serious)" in report
    assert "    #box" in report
    assert "    #nameless" in report
    assert not page.evaluate(SCROLLS_SIDEWAYS)


def test_a_page_wider_than_a_phone_is_caught(page):
    page.set_viewport_size(WIDTHS["phone"])
    page.set_content('<!doctype html><html lang="en"><body><div style="width:30rem">x</div>')
    assert page.evaluate(SCROLLS_SIDEWAYS)
