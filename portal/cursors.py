"""Keyset page cursors: an opaque link to the rows before or after one (created, id) position.

A cursor is base64 of "direction|created|id". Whoever holds one can edit it, so decoding refuses
anything we would not have made, before it reaches a query.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import NamedTuple

DIRECTIONS = ("older", "newer")


class BadCursor(ValueError):
    """A page cursor that we did not make (or that was cut short)."""


class Cursor(NamedTuple):
    direction: str  # "older": the rows after this position, newest first; "newer": before it
    created: datetime
    id: int


def encode_cursor(direction: str, created: datetime, id: int) -> str:
    raw = f"{direction}|{created.isoformat()}|{id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        direction, created, pk = raw.split("|")
        moment, pk = datetime.fromisoformat(created), int(pk)
        # A link someone edited by hand must be refused here, not overflow in the database.
        if direction not in DIRECTIONS or moment.utcoffset() is None:
            raise ValueError(raw)
        if not 0 < pk < 2**63:
            raise ValueError(pk)
        return Cursor(direction, moment.astimezone(UTC), pk)
    except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError) as error:
        raise BadCursor("this page link is not valid; start again from the first page") from error
