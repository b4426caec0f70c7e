"""Rate limits on share links (portal/ratelimits.py): opening /s/<token> and /raw per client IP
and per link, and wrong passwords per client IP and per link, in memory and in Redis. A refused
open is never a view."""

from __future__ import annotations

import pytest
from django.test import Client

from uploads import links
from uploads.links import link_create
from uploads.share_views import UNLOCK_COOKIE
from uploads.tests import samples
from uploads.tests.conftest import views_of
from uploads.tests.test_share_open import BROWSER, PASSWORD, page_of, raw_of

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
    assert "Shared with you" in page and "Sign in" not in page
    if who == "link":
        assert "This shared image has been opened very many times" in page
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
