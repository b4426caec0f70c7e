"""The template helpers: url_maker gives exactly what reverse() gives."""

from __future__ import annotations

import pytest
from django.urls import NoReverseMatch, reverse

from config.jinja2 import url_maker

VALUES = ["ORD-7KQ4M-2XD9P", "a_b", "x" * 300, "ä", "a b", "50%", "?q=1", "<x>", "a.b", 7]


@pytest.mark.parametrize("name", ["order_detail", "order_set_status", "api_order"])
def test_url_maker_gives_what_reverse_gives(name):
    make = url_maker(name)
    for value in VALUES:
        assert make(value) == reverse(name, args=[value])
    with pytest.raises(NoReverseMatch):
        make("a/b")


def test_url_maker_for_a_route_without_an_argument_refuses_like_reverse():
    with pytest.raises(NoReverseMatch):
        url_maker("order_list")("ORD-1")


@pytest.mark.parametrize("name", ["home", "order_list", "account", "admin:index", "oidc_logout"])
def test_url_gives_what_reverse_gives_also_under_a_script_prefix(name):
    """url() keeps reverse()'s answers; a deployment under a path prefix gets its own."""
    from django.urls import get_script_prefix, set_script_prefix

    from config.jinja2 import url

    before = get_script_prefix()
    assert url(name) == reverse(name)
    try:
        set_script_prefix("/portal/")
        assert url(name) == reverse(name)
        assert url(name).startswith("/portal/")
    finally:
        set_script_prefix(before)
    assert url(name) == reverse(name)
    assert url("order_detail", "ORD-1") == reverse("order_detail", args=["ORD-1"])
