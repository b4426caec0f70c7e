"""Rate limits (portal/ratelimits.py): the setting's notation and its start-up check, the sign-in
start per client IP and the API per user, in memory and in Redis, and failing open when Redis
is down. The share-link limits are tested in uploads/tests/test_share_ratelimits.py."""

from __future__ import annotations

import logging
import socket

import pytest
import redis
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse

from accounts.tests.test_checks_and_scopes import check_output
from portal import ratelimits
from portal.ratelimits import Refusal, parse_rate

SIGN_IN = reverse("oidc_authentication_init")


def sign_in_start(client: Client, **extra):
    return client.get(SIGN_IN, **extra)


def assert_refused_page(answer, *, longest: int) -> None:
    """The friendly page: 429, a whole number of seconds to wait, plain words, never cached."""
    assert answer.status_code == 429
    assert 1 <= int(answer.headers["Retry-After"]) <= longest
    page = answer.content.decode()
    assert "Please wait a moment, then try again" in page
    assert "You can try again in" in page
    assert "no-store" in answer.headers["Cache-Control"]


# -- the notation and the start-up check -------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "amount", "seconds"),
    [("20/m", 20, 60), ("100/h", 100, 3600), ("5/s", 5, 1), ("10/10m", 10, 600), ("1/d", 1, 86400)],
)
def test_a_rate_is_n_per_unit_with_an_optional_multiple(value, amount, seconds):
    item = parse_rate(value)
    assert (item.amount, item.get_expiry()) == (amount, seconds)
    assert parse_rate(f" {value} ").get_expiry() == seconds


@pytest.mark.parametrize("value", ["0", "", "  "])
def test_zero_or_empty_turns_a_limit_off(value):
    assert parse_rate(value) is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("20", '"20" is not N/unit'),
        ("20/", '"20/" is not N/unit'),
        ("twenty/m", '"twenty/m" is not N/unit'),
        ("20/minute", 'unknown unit "minute"'),
        ("20/x", 'unknown unit "x"'),
        ("-1/m", '"-1/m" is not N/unit'),
        ("1.5/m", '"1.5/m" is not N/unit'),
        ("0/m", "would refuse everything; to turn the limit off, set 0"),
        ("10/0m", "the window can't be 0m"),
        ("20/M", '"20/M" is not N/unit'),
    ],
)
def test_a_bad_rate_says_what_is_wrong(value, message):
    with pytest.raises(ValueError, match=message):
        parse_rate(value)


def test_the_shipped_defaults_pass_the_check():
    from config import settings as shipped

    for name in ratelimits.RATE_SETTINGS:
        assert parse_rate(getattr(shipped, name)) is not None, name
    assert shipped.RATELIMIT_SIGNIN == "20/m"


@pytest.mark.django_db
@pytest.mark.parametrize("name", ratelimits.RATE_SETTINGS)
def test_a_bad_limit_stops_check_naming_the_variable_and_the_bad_part(settings, name):
    output = check_output(settings, **{name: "20/x"})
    assert f'{name}: "20/x": unknown unit "x"' in output
    assert "portal.E001" in output


@pytest.mark.django_db
def test_the_check_passes_good_and_off_limits(settings):
    assert check_output(settings, RATELIMIT_SIGNIN="10/10m", RATELIMIT_API="0") == ""
    assert check_output(settings, RATELIMIT_SHARE_OPEN="") == ""


def test_a_bad_limit_stops_the_real_manage_py_check():
    from config.tests.test_settings import run_check

    result = run_check(RATELIMIT_SHARE_PASSWORD="30 per hour")
    assert result.returncode != 0
    assert 'RATELIMIT_SHARE_PASSWORD: "30 per hour" is not N/unit' in result.stderr


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(1, "1 second"), (40, "40 seconds"), (60, "about 1 minute"), (61, "about 2 minutes"),
     (600, "about 10 minutes"), (3541, "about 1 hour"), (3600, "about 1 hour"),
     (5400, "about 2 hours")],
)  # fmt: skip
def test_the_wait_in_words(seconds, words):
    assert Refusal(retry_after=seconds).wait == words


def test_the_time_to_come_back_names_its_zone(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    assert Refusal(retry_after=30).retry_at.endswith(("CET", "CEST"))


# -- starting a sign-in, per client IP ---------------------------------------------------------


@pytest.mark.django_db
def test_sign_in_starts_past_the_limit_get_the_friendly_429(limits_store, settings):
    settings.RATELIMIT_SIGNIN = "2/m"
    visitor = Client()

    assert [sign_in_start(visitor).status_code for _ in range(2)] == [302, 302]
    refused = sign_in_start(visitor)

    assert_refused_page(refused, longest=60)
    page = refused.content.decode()
    assert "a lot of requests from your connection" in page
    assert f'href="{SIGN_IN}"' in page  # "Try again" goes back to where they were going
    assert 'href="/"' in page
    assert "Sign in with your company account" in page or "Sign in" in page  # the portal's layout


@pytest.mark.django_db
def test_made_up_callbacks_are_limited_on_their_own_count(limits_store, settings):
    from audit.models import AuditEvent

    settings.RATELIMIT_SIGNIN = "2/m"
    visitor = Client()
    callback = reverse("oidc_authentication_callback")

    answers = [visitor.get(callback, {"state": "made-up", "code": "x"}) for _ in range(3)]

    assert [answer.status_code for answer in answers[:2]] == [400, 400]
    assert_refused_page(answers[2], longest=60)
    assert AuditEvent.objects.filter(action="sign_in_failed").count() == 2  # none for the 429
    # The starts have a count of their own: a real sign-in still begins.
    assert sign_in_start(visitor).status_code == 302


@pytest.mark.django_db
def test_the_sign_in_limit_is_per_client_ip(limits_store, settings):
    settings.RATELIMIT_SIGNIN = "1/m"
    assert sign_in_start(Client(), REMOTE_ADDR="10.0.0.1").status_code == 302
    assert sign_in_start(Client(), REMOTE_ADDR="10.0.0.1").status_code == 429

    assert sign_in_start(Client(), REMOTE_ADDR="10.0.0.2").status_code == 302


@pytest.mark.django_db
def test_behind_a_trusted_proxy_the_forwarded_address_is_limited(limits_store, settings):
    settings.RATELIMIT_SIGNIN = "1/m"
    settings.TRUSTED_PROXY_COUNT = 1
    balancer = {"REMOTE_ADDR": "10.9.9.9"}

    first = sign_in_start(Client(), HTTP_X_FORWARDED_FOR="203.0.113.7", **balancer)
    assert first.status_code == 302
    # A forged left part of the header doesn't make a new client.
    forged = "6.6.6.6, 203.0.113.7"
    assert sign_in_start(Client(), HTTP_X_FORWARDED_FOR=forged, **balancer).status_code == 429
    other = sign_in_start(Client(), HTTP_X_FORWARDED_FOR="198.51.100.4", **balancer)
    assert other.status_code == 302


@pytest.mark.django_db
@pytest.mark.parametrize("off", ["0", ""])
def test_a_limit_set_to_0_or_empty_is_off(limits_store, settings, off):
    settings.RATELIMIT_SIGNIN = off
    visitor = Client()
    assert {sign_in_start(visitor).status_code for _ in range(5)} == {302}


@pytest.mark.django_db
@pytest.mark.skipif(not django_settings.REDIS_URL, reason="REDIS_URL is not set")
def test_in_redis_the_counts_live_under_our_own_prefix(settings):
    settings.RATELIMIT_SIGNIN = "5/m"
    ratelimits.reset()
    sign_in_start(Client(), REMOTE_ADDR="10.0.0.7")

    server = redis.Redis.from_url(settings.REDIS_URL)
    keys = server.keys(f"{ratelimits.REDIS_KEY_PREFIX}:*")
    assert [key for key in keys if b"RATELIMIT_SIGNIN/10.0.0.7/" in key], keys
    ratelimits.reset()
    assert not server.keys(f"{ratelimits.REDIS_KEY_PREFIX}:*")


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.django_db
def test_with_redis_unreachable_the_limiter_fails_open_and_warns(settings, caplog, monkeypatch):
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"
    settings.RATELIMIT_SIGNIN = "1/m"
    monkeypatch.setattr(ratelimits, "_last_warning", 0.0)
    visitor = Client()

    with caplog.at_level(logging.WARNING, logger="portal.ratelimits"):
        answers = [sign_in_start(visitor).status_code for _ in range(3)]

    assert answers == [302, 302, 302]
    warnings = [r.getMessage() for r in caplog.records if r.name == "portal.ratelimits"]
    # Once, not once per request: an outage would flood the log.
    assert len(warnings) == 1
    assert "rate limits are not applied: Redis is not answering" in warnings[0]


# -- the API, per user -------------------------------------------------------------------------

ME = reverse("api_me")


@pytest.mark.django_db
@pytest.mark.usefixtures("op_settings")
def test_the_api_past_the_limit_answers_rate_limited(
    limits_store, settings, client, token_for, alice, bob
):
    settings.RATELIMIT_API = "2/m"
    headers = token_for(alice)

    assert [client.get(ME, headers=headers).status_code for _ in range(2)] == [200, 200]
    refused = client.get(ME, headers=headers)

    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    body = refused.json()
    assert body["error"] == "rate_limited"
    assert body["detail"].startswith("too many requests from your account; try again in ")
    assert "no-store" in refused.headers["Cache-Control"]
    # Another user, even from the same address, is not limited.
    assert client.get(ME, headers=token_for(bob)).status_code == 200


@pytest.mark.django_db
@pytest.mark.usefixtures("op_settings")
def test_the_api_limit_counts_signed_in_sessions_too(limits_store, settings, browser_of, alice):
    settings.RATELIMIT_API = "1/m"
    browser = browser_of(alice)

    assert browser.get(ME).status_code == 200
    assert browser.get(ME).json()["error"] == "rate_limited"


@pytest.mark.django_db
@pytest.mark.usefixtures("op_settings")
def test_refused_callers_use_up_no_ones_allowance(limits_store, settings, client, token_for, alice):
    settings.RATELIMIT_API = "1/m"
    for _ in range(3):
        assert client.get(ME).status_code == 401  # no caller to count
        assert client.options(ME).status_code == 204
        assert client.post(ME, headers=token_for(alice)).status_code == 405

    assert client.get(ME, headers=token_for(alice)).status_code == 200
    assert client.get(ME, headers=token_for(alice)).status_code == 429


@pytest.mark.django_db
@pytest.mark.usefixtures("op_settings")
def test_the_api_limit_off(limits_store, settings, client, token_for, alice):
    settings.RATELIMIT_API = "0"
    headers = token_for(alice)
    assert {client.get(ME, headers=headers).status_code for _ in range(5)} == {200}
