"""The shared pieces on their own: page cursors, storable text, the closed list of error codes."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest

from portal.api import ERROR_CODES, ApiError, api_endpoint, api_error
from portal.cursors import BadCursor, decode_cursor, encode_cursor
from portal.text import is_storable


def test_a_cursor_comes_back_as_it_went_in_in_utc():
    moment = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=1)))

    cursor = decode_cursor(encode_cursor("newer", moment, 42))

    assert cursor == ("newer", moment, 42)
    assert cursor.created.tzinfo is UTC


@pytest.mark.parametrize(
    "raw",
    [
        "sideways|2026-03-01T09:30:00+00:00|1",  # no such direction
        "older|2026-03-01T09:30:00|1",  # no time zone
        "older|2026-03-01T09:30:00+00:00|0",  # ids start at 1
        f"older|2026-03-01T09:30:00+00:00|{2**63}",  # beyond 64 bits
        "older|2026-03-01T09:30:00+00:00",  # cut short
    ],
)
def test_a_cursor_we_did_not_make_is_refused(raw):
    with pytest.raises(BadCursor):
        decode_cursor(base64.urlsafe_b64encode(raw.encode()).decode())
    with pytest.raises(BadCursor):
        decode_cursor("not base64 ✓")


@pytest.mark.parametrize(
    ("text", "storable"),
    [("ORD-7KQ4M", True), ("Zoë", True), ("", True), ("a\x00b", False), ("\ud800", False)],
)
def test_storable_text(text, storable):
    assert is_storable(text) is storable


def test_errors_use_the_closed_list_and_its_statuses():
    for code, status, _when in ERROR_CODES:
        assert api_error(code, "a sentence").status_code == status
    with pytest.raises(ValueError, match="not one of"):
        ApiError("teapot", "short and stout")
    with pytest.raises(ValueError, match="teapot"):
        api_endpoint("GET", roles=(), errors={KeyError: "teapot"})
