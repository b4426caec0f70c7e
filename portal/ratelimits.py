"""Rate limits: how many requests one client IP, share link or API user may make in a window.

Counted with the `limits` library, fixed window (one atomic INCR per request; a burst of up to
twice the limit can straddle two windows, which is fine against guessing and floods). In Redis
when REDIS_URL is set, shared by every app process, under keys of our own prefix; otherwise in
this process's memory, so each process counts on its own.

A limit is a setting "N/unit" (RATE_SETTINGS): N requests per unit, s, m, h or d, optionally a
multiple ("10/10m": ten per ten minutes); "0" or empty turns it off. When Redis can't be
reached the limiter fails open: the request goes through and a warning is logged, because a
shared outage must not refuse every visitor.

`hit` is the one door: the page decorator `rate_limited`, the API's endpoint decorator and the
share-link password check all count through it.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import cache, lru_cache, wraps

import redis
from django.conf import settings
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from limits import (
    RateLimitItem,
    RateLimitItemPerDay,
    RateLimitItemPerHour,
    RateLimitItemPerMinute,
    RateLimitItemPerSecond,
)
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import FixedWindowRateLimiter

from portal.client_ip import client_ip
from portal.times import local_time

logger = logging.getLogger(__name__)

# Every limit that is a setting; the system check (portal.apps) parses each at start-up.
RATE_SETTINGS = (
    "RATELIMIT_SIGNIN",
    "RATELIMIT_SHARE_OPEN",
    "RATELIMIT_SHARE_OPEN_PER_LINK",
    "RATELIMIT_SHARE_PASSWORD",
    "RATELIMIT_API",
)
REDIS_KEY_PREFIX = "portal:ratelimit"
UNITS = {
    "s": RateLimitItemPerSecond,
    "m": RateLimitItemPerMinute,
    "h": RateLimitItemPerHour,
    "d": RateLimitItemPerDay,
}
_RATE = re.compile(r"(\d+)/(\d*)([a-z]+)")
# Redis is asked on the request's path: a hung server must not hold the request for long.
REDIS_TIMEOUT_SECONDS = 0.5
# While Redis is unreachable every request would warn; once a minute per process is enough.
WARN_EVERY_SECONDS = 60
_last_warning = 0.0


@dataclass(frozen=True)
class Refusal:
    """Over the limit: try again in `retry_after` whole seconds (when the window resets)."""

    retry_after: int

    @property
    def retry_at(self) -> str:
        """When, as people read it: "26 Nov 2026, 09:15 CET"."""
        return local_time(timezone.now() + timedelta(seconds=self.retry_after))

    @property
    def wait(self) -> str:
        """How long, in words: "40 seconds", "about 3 minutes", "about 2 hours"."""
        seconds = self.retry_after
        if seconds < 60:
            return f"{seconds} second{'s' if seconds != 1 else ''}"
        minutes = math.ceil(seconds / 60)
        if minutes < 60:
            return f"about {minutes} minute{'s' if minutes != 1 else ''}"
        hours = max(1, round(seconds / 3600))
        return f"about {hours} hour{'s' if hours != 1 else ''}"


def parse_rate(value: str, *, name: str = "LIMITER") -> RateLimitItem | None:
    """ "20/m" -> 20 per minute, "10/10m" -> 10 per 10 minutes; None for "0" or empty (off).
    ValueError names the bad part."""
    text = value.strip()
    if text in ("", "0"):
        return None
    match = _RATE.fullmatch(text)
    if match is None:
        raise ValueError(
            f'"{value}" is not N/unit: write e.g. 20/m, 100/h or 10/10m '
            "(units s, m, h, d); 0 or empty turns the limit off"
        )
    amount, multiples, unit = match.groups()
    if unit not in UNITS:
        raise ValueError(f'"{value}": unknown unit "{unit}" (one of s, m, h, d)')
    if int(amount) == 0:
        raise ValueError(f'"{value}" would refuse everything; to turn the limit off, set 0')
    if multiples and int(multiples) == 0:
        raise ValueError(f'"{value}": the window can\'t be 0{unit}')
    return UNITS[unit](int(amount), int(multiples or 1), namespace=name)


@lru_cache(maxsize=64)
def _parsed(name: str, value: str) -> RateLimitItem | None:
    return parse_rate(value, name=name)


def limit(name: str) -> RateLimitItem | None:
    """The limit the setting `name` holds now (None: off)."""
    return _parsed(name, getattr(settings, name))


def per_seconds(amount: int, seconds: int, *, name: str) -> RateLimitItem:
    """A limit fixed in code, not a setting: `amount` per `seconds`."""
    return RateLimitItemPerSecond(amount, seconds, namespace=name)


class _RedisStorage(RedisStorage):
    """limits' Redis storage, with the window's end to the millisecond (PTTL): its own uses TTL,
    whole seconds rounded down, which would tell clients to come back a little too early."""

    def get_expiry(self, key: str) -> float:
        return max(self.get_connection(True).pttl(self.prefixed_key(key)), 0) / 1000 + time.time()


@cache
def _redis_limiter(url: str) -> FixedWindowRateLimiter:
    storage = _RedisStorage(
        url,
        key_prefix=REDIS_KEY_PREFIX,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
    )
    return FixedWindowRateLimiter(storage)


@cache
def _memory_limiter() -> FixedWindowRateLimiter:
    return FixedWindowRateLimiter(MemoryStorage())


def limiter() -> FixedWindowRateLimiter:
    """Redis's when REDIS_URL is set, else this process's memory."""
    return _redis_limiter(settings.REDIS_URL) if settings.REDIS_URL else _memory_limiter()


def _storage_failed(error: Exception) -> None:
    global _last_warning
    now = time.monotonic()
    if now - _last_warning >= WARN_EVERY_SECONDS or not _last_warning:
        _last_warning = now
        logger.warning("rate limits are not applied: Redis is not answering (%s)", error)


def _refusal(item: RateLimitItem, key: tuple[str, ...]) -> Refusal:
    reset = limiter().get_window_stats(item, *key).reset_time
    return Refusal(retry_after=max(1, math.ceil(reset - time.time())))


def hit(item: RateLimitItem | None, *key: str) -> Refusal | None:
    """Count one request against `item` for `key`; a Refusal when it is over the limit.
    None also when the limit is off, or Redis is down (fail open)."""
    if item is None:
        return None
    try:
        if limiter().hit(item, *key):
            return None
        return _refusal(item, key)
    except redis.RedisError as error:
        _storage_failed(error)
        return None


def check(item: RateLimitItem | None, *key: str) -> Refusal | None:
    """Like hit, without counting: for limits that count only failures (wrong passwords)."""
    if item is None:
        return None
    try:
        if limiter().test(item, *key):
            return None
        return _refusal(item, key)
    except redis.RedisError as error:
        _storage_failed(error)
        return None


def reset() -> None:
    """Forget every count (tests): our keys in Redis, or this process's memory."""
    limiter().storage.reset()


# -- pages -------------------------------------------------------------------------------------

KeyOf = Callable[..., str | None]


def by_client_ip(request, **kwargs) -> str:
    return client_ip(request)


def rate_limited(
    *limits: tuple[str, KeyOf, str], layout: str = "base.html"
) -> Callable[[Callable], Callable]:
    """A page view counted against each (setting, key_of(request, **view_kwargs), who) in turn;
    the first one over its limit answers the friendly 429 page (templates/errors/429.html in
    `layout`), with Retry-After. A later limit is not counted when an earlier one refuses (a
    flood from one address doesn't use up a share link for everyone). `who` says whose requests
    were too many: "you" or "link"."""

    def decorator(view):
        @wraps(view)
        def limited(request, *args, **kwargs):
            for name, key_of, who in limits:
                key = key_of(request, **kwargs)
                if key is None:
                    continue
                if (refusal := hit(limit(name), key)) is not None:
                    return too_many_requests(request, refusal, who=who, layout=layout)
            return view(request, *args, **kwargs)

        return limited

    return decorator


def too_many_requests(request, refusal: Refusal, *, who: str, layout: str):
    """The friendly 429 page: what happened and when to try again."""
    context = {
        "layout": layout,
        "who": who,
        "wait": refusal.wait,
        "retry_at": refusal.retry_at,
        "again_url": request.get_full_path() if request.method == "GET" else None,
    }
    response = render(request, "errors/429.html", context, status=429)
    response.headers["Retry-After"] = str(refusal.retry_after)
    add_never_cache_headers(response)
    return response
