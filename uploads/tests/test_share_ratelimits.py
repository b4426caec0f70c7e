"""Rate limits on share links (portal/ratelimits.py): opening /s/<token> and /raw per client IP
and per link, and wrong passwords per client IP and per link, in memory and in Redis. A refused
open is never a view."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from playwright.sync_api import expect

from config.tests.test_accessibility import (  # noqa: F401 - axe_js is a fixture
    axe_js,
    problems_at_each_width,
)
from portal import ratelimits
from uploads import links
from uploads.links import link_create
from uploads.share_views import UNLOCK_COOKIE
from uploads.tests import samples
from uploads.tests.conftest import views_of
from uploads.tests.test_share_open import BROWSER, PASSWORD, page_of, raw_of

# One test drives Chromium against the live server, in a transaction of its own.
pytestmark = pytest.mark.django_db


@pytest.fixture
def image(alice, store_image):
    return store_image(alice, samples.plain("PNG"), filename="p.png", title="Pier")


@pytest.fixture
def link(alice, image):
    return link_create(image=image, created_by=alice)


def visitor(address: str = "10.1.0.1") -> Client:
    return Client(REMOTE_ADDR=address, HTTP_USER_AGENT=BROWSER)


def assert_share_refusal(answer, *, who: str) -> None:
    """The friendly page in the share pages' layout (no portal navigation), with Retry-After and
    the share pages' private headers."""
    assert answer.status_code == 429
    assert 1 <= int(answer.headers["Retry-After"]) <= 60
    page = answer.content.decode()
    assert "Please wait a moment, then try again" in page
    assert "Shared with you" in page
    assert "Sign in" not in page
    assert "Nothing is wrong with the link" in page
    assert "your account" not in page  # visitors of a link have none here
    if who == "link":
        assert "This shared image is being opened very often right now" in page
    else:
        assert "a lot of requests from your connection" in page
    assert "no-store" in answer.headers["Cache-Control"]
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    assert answer.headers["X-Robots-Tag"] == "noindex, nofollow"


def test_opens_past_the_per_ip_limit_get_the_429_page_and_count_no_view(
    limits_store, settings, link
):
    settings.RATELIMIT_SHARE_OPEN = "2/m"
    person = visitor()

    assert [person.get(page_of(link)).status_code for _ in range(2)] == [200, 200]
    refused = person.get(page_of(link))

    assert_share_refusal(refused, who="you")
    assert "<img" not in refused.content.decode()
    assert views_of(link) == 2
    # /raw is the same door: refused, no redirect to the image, no view.
    assert person.get(raw_of(link)).status_code == 429
    assert views_of(link) == 2


def test_the_per_ip_limit_spares_other_addresses(limits_store, settings, link):
    settings.RATELIMIT_SHARE_OPEN = "1/m"
    assert visitor("10.1.0.1").get(page_of(link)).status_code == 200
    assert visitor("10.1.0.1").get(page_of(link)).status_code == 429

    assert visitor("10.1.0.2").get(page_of(link)).status_code == 200
    assert views_of(link) == 2


def test_behind_a_trusted_proxy_the_forwarded_address_counts(limits_store, settings, link):
    settings.RATELIMIT_SHARE_OPEN = "1/m"
    settings.TRUSTED_PROXY_COUNT = 1
    balancer = visitor("10.9.9.9")

    assert balancer.get(page_of(link), HTTP_X_FORWARDED_FOR="203.0.113.7").status_code == 200
    assert balancer.get(page_of(link), HTTP_X_FORWARDED_FOR="203.0.113.7").status_code == 429
    assert balancer.get(page_of(link), HTTP_X_FORWARDED_FOR="198.51.100.4").status_code == 200


def test_the_per_link_limit_holds_across_addresses(limits_store, settings, link, alice, image):
    settings.RATELIMIT_SHARE_OPEN_PER_LINK = "3/m"
    other_link = link_create(image=image, created_by=alice)

    answers = [visitor(f"10.2.0.{n}").get(page_of(link)).status_code for n in range(1, 5)]
    refused = visitor("10.2.0.9").get(raw_of(link))

    assert answers == [200, 200, 200, 429]
    assert_share_refusal(refused, who="link")
    assert views_of(link) == 3
    # Another link is not held back by this one's crowd.
    assert visitor("10.2.0.1").get(page_of(other_link)).status_code == 200


def test_the_per_ip_limit_refuses_before_the_link_is_counted(limits_store, settings, link):
    """One address flooding a link uses up its own allowance, not the link's for everyone."""
    settings.RATELIMIT_SHARE_OPEN = "2/m"
    settings.RATELIMIT_SHARE_OPEN_PER_LINK = "3/m"
    flooder = visitor("10.3.0.1")
    assert [flooder.get(page_of(link)).status_code for _ in range(5)] == [200, 200] + [429] * 3

    assert visitor("10.3.0.2").get(page_of(link)).status_code == 200


def test_unknown_tokens_are_limited_too(limits_store, settings):
    settings.RATELIMIT_SHARE_OPEN = "2/m"
    guesser = visitor()
    answers = [guesser.get(f"/s/guess-{n}").status_code for n in range(3)]
    assert answers == [404, 404, 429]
    assert guesser.get("/s/" + "a" * 5000).status_code == 429


@pytest.mark.parametrize("off", ["0", ""])
def test_share_limits_off(limits_store, settings, link, off):
    settings.RATELIMIT_SHARE_OPEN = off
    settings.RATELIMIT_SHARE_OPEN_PER_LINK = off
    person = visitor()
    assert {person.get(page_of(link)).status_code for _ in range(5)} == {200}
    assert views_of(link) == 5


# -- wrong passwords ---------------------------------------------------------------------------


def test_wrong_passwords_past_the_per_ip_limit_are_refused_on_every_link(
    limits_store, settings, alice, image
):
    settings.RATELIMIT_SHARE_PASSWORD = "2/h"
    first = link_create(image=image, created_by=alice, password=PASSWORD)
    second = link_create(image=image, created_by=alice, password=PASSWORD)
    guesser = visitor("10.4.0.1")

    assert guesser.post(page_of(first), {"password": "guess"}).status_code == 403
    assert guesser.post(page_of(second), {"password": "guess"}).status_code == 403
    stopped = guesser.post(page_of(first), {"password": PASSWORD})

    assert stopped.status_code == 429
    assert 3000 < int(stopped.headers["Retry-After"]) <= 3600
    page = stopped.content.decode()
    assert "Too many wrong passwords were tried from your connection" in page
    assert "You can try again in about 1 hour" in page
    assert UNLOCK_COOKIE not in stopped.cookies
    # Someone else, elsewhere, still gets in with the right password.
    other = visitor("10.4.0.2").post(page_of(first), {"password": PASSWORD})
    assert other.status_code == 303
    assert UNLOCK_COOKIE in other.cookies


def test_right_passwords_use_up_no_tries(limits_store, settings, alice, image):
    settings.RATELIMIT_SHARE_PASSWORD = "1/h"
    link = link_create(image=image, created_by=alice, password=PASSWORD)
    person = visitor()
    for _ in range(3):
        assert person.post(page_of(link), {"password": PASSWORD}).status_code == 303


def test_the_per_link_password_limit_holds_across_addresses(
    limits_store, settings, monkeypatch, alice, image
):
    monkeypatch.setattr(links, "PASSWORD_TRIES", 3)
    link = link_create(image=image, created_by=alice, password=PASSWORD)

    for n in range(3):
        answer = visitor(f"10.5.0.{n}").post(page_of(link), {"password": "guess"})
        assert answer.status_code == 403
    stopped = visitor("10.5.0.9").post(page_of(link), {"password": PASSWORD})

    assert stopped.status_code == 429
    assert 500 < int(stopped.headers["Retry-After"]) <= links.PASSWORD_TRIES_SECONDS
    assert "Too many wrong passwords were tried for this link" in stopped.content.decode()
    assert "about 10 minutes" in stopped.content.decode()


def test_the_password_limit_off(limits_store, settings, alice, image):
    settings.RATELIMIT_SHARE_PASSWORD = "0"
    link = link_create(image=image, created_by=alice, password=PASSWORD)
    guesser = visitor()
    # Only the per-link limit (PASSWORD_TRIES) is left.
    for _ in range(links.PASSWORD_TRIES):
        assert guesser.post(page_of(link), {"password": "guess"}).status_code == 403
    assert guesser.post(page_of(link), {"password": "guess"}).status_code == 429


# -- in Chromium -------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_share_429_page_and_the_password_refusal_pass_axe(
    page,
    live_server,
    settings,
    alice,
    image,
    axe_js,  # noqa: F811
    screenshot,
):
    settings.REDIS_URL = ""  # this process's memory: the live server runs in it
    # The password form's posts are opens too: three fit, the fourth of the plain link doesn't.
    settings.RATELIMIT_SHARE_OPEN_PER_LINK = "3/m"
    settings.RATELIMIT_SHARE_PASSWORD = "1/h"
    ratelimits.reset()
    link = link_create(image=image, created_by=alice)
    protected = link_create(image=image, created_by=alice, password=PASSWORD)

    page.goto(live_server.url + page_of(protected))
    page.get_by_label("Password").fill("not it")
    with page.expect_navigation():
        page.get_by_role("button", name="Show the image").click()
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Show the image").click()

    assert navigation.value.status == 429
    expect(page.get_by_role("alert")).to_have_text(
        re.compile(
            r"Too many wrong passwords were tried from your connection\. "
            r"You can try again in about 1 hour \(after .* CES?T\)"
        )
    )
    problems = problems_at_each_width(
        page, axe_js, "share-password-rate-limited", screenshot=screenshot
    )

    for _ in range(3):
        page.goto(live_server.url + page_of(link))
    answer = page.goto(live_server.url + page_of(link))

    assert answer.status == 429
    expect(
        page.get_by_role("heading", level=1, name="Please wait a moment, then try again")
    ).to_be_visible()
    busy = "This shared image is being opened very often right now"
    expect(page.get_by_text(busy)).to_be_visible()
    expect(page.get_by_text(re.compile(r"\(after .* CES?T\)"))).to_be_visible()
    expect(page.get_by_role("link", name="Go to the home page")).to_have_count(0)
    problems += problems_at_each_width(page, axe_js, "share-rate-limited", screenshot=screenshot)
    assert not problems, "axe-core found violations:\n" + "\n".join(problems)
    ratelimits.reset()
