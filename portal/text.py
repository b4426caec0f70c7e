"""Text from outside that a database column could never hold."""

from __future__ import annotations


def is_storable(text: str) -> bool:
    """True when a text column can hold `text`: PostgreSQL refuses NUL characters, and a lone
    surrogate ("\\ud800", which a JSON string can carry) has no UTF-8 form at all."""
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True
