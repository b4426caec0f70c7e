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
