"""The "Please wait a moment" page in Chromium: what a person sees after too many sign-in
starts, at laptop and phone width, checked by axe-core, with screenshots to look at."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from config.tests.test_accessibility import (  # noqa: F401 - axe_js is a fixture
    axe_js,
    problems_at_each_width,
)
from portal import ratelimits

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_sign_in_429_page_is_clear_and_passes_axe(
    page,
    live_server,
    settings,
    axe_js,  # noqa: F811
    screenshot,
):
    settings.REDIS_URL = ""  # this process's memory: the live server runs in it
    settings.RATELIMIT_SIGNIN = "1/m"
    ratelimits.reset()
    sign_in = live_server.url + reverse("oidc_authentication_init")

    page.goto(sign_in)  # on to the provider's page
    answer = page.goto(sign_in)

    assert answer.status == 429
    assert 1 <= int(answer.headers["retry-after"]) <= 60
    expect(
        page.get_by_role("heading", level=1, name="Please wait a moment, then try again")
    ).to_be_visible()
    wait = re.compile(r"You can try again in (\d+ seconds?|about 1 minute) \(after .* CES?T\)")
    expect(page.get_by_text(wait)).to_be_visible()
    expect(page.get_by_role("link", name="Try again")).to_have_attribute(
        "href", reverse("oidc_authentication_init")
    )
    expect(page.get_by_role("link", name="Go to the home page")).to_be_visible()
    problems = problems_at_each_width(page, axe_js, "rate-limited-sign-in", screenshot=screenshot)
    assert not problems, "axe-core found violations:\n" + "\n".join(problems)
    ratelimits.reset()
