"""The client IP: REMOTE_ADDR, or counted from X-Forwarded-For's right when proxies are trusted."""

import pytest
from django.test import RequestFactory

from portal.client_ip import client_ip

FACTORY = RequestFactory()


def asking(forwarded_for=None, remote="10.0.0.2"):
    extra = {"REMOTE_ADDR": remote}
    if forwarded_for is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return FACTORY.get("/", **extra)


def test_without_trusted_proxies_the_header_is_ignored(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_ip(asking("203.0.113.7")) == "10.0.0.2"


@pytest.mark.parametrize(
    ("hops", "header", "expected"),
    [
        (1, "203.0.113.7", "203.0.113.7"),
        # A client forging the left of the header does not move the answer.
        (1, "6.6.6.6, 203.0.113.7", "203.0.113.7"),
        (2, "6.6.6.6, 203.0.113.7, 10.0.0.9", "203.0.113.7"),
        (2, " 203.0.113.7 ,10.0.0.9 ", "203.0.113.7"),
    ],
)
def test_with_trusted_proxies_count_hops_from_the_right(settings, hops, header, expected):
    settings.TRUSTED_PROXY_COUNT = hops
    assert client_ip(asking(header)) == expected


def test_a_request_that_skipped_the_proxies_gets_the_nearest_address(settings):
    settings.TRUSTED_PROXY_COUNT = 2
    assert client_ip(asking("203.0.113.7")) == "203.0.113.7"
    assert client_ip(asking()) == "10.0.0.2"
