"""/healthz and /readyz, for load balancers and orchestrators.

`HealthCheckMiddleware` stands first in MIDDLEWARE and answers both paths itself: before host
validation (a probe's Host header is whatever address it dialled), before the HTTPS redirect
(probes speak plain HTTP inside the network), and before sessions, CSRF, the session re-check
and rate limits, none of which a probe may touch or trip. The checks are plain functions.

Required checks fail the probe (503): the database always, the cache when sessions live in it.
S3 and the provider only make it "degraded" (200): an outage every process shares must not pull
them all out of the pool and take the orders down with the images.
"""

from __future__ import annotations

import logging
import threading
import time
from functools import cache

import redis
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connection
from django.http import HttpResponseNotAllowed, JsonResponse
from django.utils.cache import patch_cache_control
from redis.backoff import NoBackoff
from redis.retry import Retry

from accounts import provider
from uploads import s3

logger = logging.getLogger(__name__)

HEALTHZ_PATH = "/healthz"
READYZ_PATH = "/readyz"
SESSIONS_IN_CACHE = "django.contrib.sessions.backends.cache"


class CheckFailed(Exception):
    """A check's short reason: names what failed, never an address, a key or a password."""


def check_database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as error:
        raise CheckFailed(f"query failed ({type(error).__name__})") from error
    return {}


@cache
def _redis(url: str, timeout: float) -> redis.Redis:
    # Its own client: Django's cache client has no timeouts and retries a refused connection.
    return redis.Redis.from_url(
        url, socket_connect_timeout=timeout, socket_timeout=timeout, retry=Retry(NoBackoff(), 0)
    )


def check_cache() -> dict:
    if not settings.REDIS_URL:
        return {"backend": "local memory"}
    try:
        _redis(settings.REDIS_URL, settings.READYZ_TIMEOUT_SECONDS).ping()
    except redis.RedisError as error:
        raise CheckFailed(f"Redis not answering ({type(error).__name__})") from error
    return {"backend": "redis"}


def check_storage() -> dict:
    try:
        s3.bucket_answers(bucket=settings.S3_BUCKET, timeout=settings.READYZ_TIMEOUT_SECONDS)
    except s3.S3Error as error:
        raise CheckFailed(str(error)) from error
    return {}


def check_provider() -> dict:
    try:
        provider.discovery_check(timeout=settings.READYZ_TIMEOUT_SECONDS)
    except (provider.ProviderError, ImproperlyConfigured) as error:
        raise CheckFailed(str(error)) from error
    return {}


def run_check(check) -> dict:
    """{"ok": True, "ms": ...} or {"ok": False, "ms": ..., "error": "..."}."""
    started = time.perf_counter()
    try:
        details = check()
    except CheckFailed as failure:
        ok, details = False, {"error": str(failure)}
    except Exception as error:  # a probe answers whatever broke, and says what
        logger.warning("readiness check %s raised", check.__name__, exc_info=True)
        ok, details = False, {"error": f"unexpected {type(error).__name__}"}
    else:
        ok = True
    return {"ok": ok, "ms": round((time.perf_counter() - started) * 1000, 1), **details}


# The last answers of the checks that call other companies' services, reused for a few seconds.
_remembered: dict[str, tuple[float, dict]] = {}
_remember_locks = {"storage": threading.Lock(), "provider": threading.Lock()}


def forget_remembered_checks() -> None:
    """For tests: the next probe runs every check."""
    _remembered.clear()


def run_check_cached(name: str, check, seconds: float) -> dict:
    """The check's answer, run at most once per `seconds` in this process (concurrent probes
    wait for the one that runs it); a reused answer says "cached": true."""
    with _remember_locks[name]:
        last = _remembered.get(name)
        if last is not None and time.monotonic() - last[0] < seconds:
            return {**last[1], "cached": True}
        result = run_check(check)
        _remembered[name] = (time.monotonic(), result)
        return result


def readiness() -> tuple[int, dict]:
    """(HTTP status, body) of /readyz."""
    results = {
        "database": run_check(check_database),
        "cache": run_check(check_cache),
        "storage": run_check_cached(
            "storage", check_storage, settings.READYZ_STORAGE_CACHE_SECONDS
        ),
        "provider": run_check_cached(
            "provider", check_provider, settings.READYZ_PROVIDER_CACHE_SECONDS
        ),
    }
    required = ["database"]
    if settings.SESSION_ENGINE == SESSIONS_IN_CACHE:
        required.append("cache")  # without it nobody is signed in
    if not all(results[name]["ok"] for name in required):
        status = "fail"
    elif all(result["ok"] for result in results.values()):
        status = "ok"
    else:
        status = "degraded"
    return (503 if status == "fail" else 200), {"status": status, "checks": results}


def healthz(request) -> JsonResponse:
    """The process is up: no I/O at all."""
    return JsonResponse({"status": "ok"})


def readyz(request) -> JsonResponse:
    status, body = readiness()
    return JsonResponse(body, status=status)


PROBES = {HEALTHZ_PATH: healthz, READYZ_PATH: readyz}


class HealthCheckMiddleware:
    """Answers /healthz and /readyz before any other middleware runs (it must come first)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        probe = PROBES.get(request.path_info)  # never request.get_host(): no host check here
        if probe is None:
            return self.get_response(request)
        if request.method in ("GET", "HEAD"):
            response = probe(request)
        else:
            response = HttpResponseNotAllowed(["GET", "HEAD"])
        patch_cache_control(response, no_store=True)
        # Django's request logger reports every 5xx as an error; a failing probe is an answer
        # the load balancer acts on, not a server error (config/tests/test_health.py checks it).
        response._has_been_logged = True
        return response


# (setting, smallest, largest)
LIMITS = (
    ("READYZ_TIMEOUT_SECONDS", 0.05, 30),
    ("READYZ_STORAGE_CACHE_SECONDS", 0, 3600),
    ("READYZ_PROVIDER_CACHE_SECONDS", 0, 3600),
)


@checks.register()
def check_readyz_settings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    errors = []
    for name, smallest, largest in LIMITS:
        value = getattr(settings, name)
        if not smallest <= value <= largest:
            errors.append(
                checks.Error(
                    f"{name}: {value} — must be from {smallest} to {largest} seconds",
                    id="config.E001",
                )
            )
    if settings.MIDDLEWARE[:1] != [f"{__name__}.{HealthCheckMiddleware.__name__}"]:
        errors.append(
            checks.Warning(
                f"MIDDLEWARE: {__name__}.HealthCheckMiddleware must come first, so probes are "
                "answered before host checks and the HTTPS redirect",
                id="config.W001",
            )
        )
    return errors
