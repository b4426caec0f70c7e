"""What each middleware costs every request: the bench's bare view through Django's WSGI handler.

The bare view (bench/urls.py: no session, no database) is called through the full production
middleware stack (DEBUG off), then with each middleware left out in turn, all in one process and
one run; the difference is that middleware's cost per request. The request's log line is
measured twice: filtered out (LOG_LEVEL=WARNING) and written as JSON (to /dev/null).

No HTTP and no server: this is the Python cost alone, the floor every page pays.

    make bench    (or: .venv/bin/python -m bench.middleware_bench)
"""

from __future__ import annotations

import io
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.update(
    {
        "DEBUG": "0",
        "SECRET_KEY": "middleware-bench-" + "x" * 40,
        "ALLOWED_HOSTS": "127.0.0.1",
        "OIDC_ISSUER": "http://127.0.0.1:9",  # never called
        "OIDC_CLIENT_ID": "bench",
        "OIDC_CLIENT_SECRET": "bench",
        "S3_BUCKET": "bench",
        "SITE_ORIGIN": "http://127.0.0.1",
        "DATABASE_URL": f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3",  # never opened
        "BENCH_STATIC_ROOT": tempfile.mkdtemp(),
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "LOG_LEVEL": "WARNING",
    }
)
os.environ.pop("REDIS_URL", None)  # the bare view reads no session: no cache is touched

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

from portal.logs import json_formatter  # noqa: E402

REQUESTS, ROUNDS = 2000, 7
PATH = "/bench/bare"


def environ() -> dict:
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": PATH,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
    }


class Stack:
    """A WSGI handler with the given middleware, and the bare view's time through it."""

    def __init__(self, middleware: list[str]):
        with override_settings(MIDDLEWARE=middleware):
            self.handler = WSGIHandler()
        self.status = ""

    def _start_response(self, status, headers, exc_info=None):
        self.status = status

    def request(self) -> None:
        body = self.handler(environ(), self._start_response)
        b"".join(body)
        body.close()

    def answers(self) -> bool:
        """Whether it serves the bare view (the auth middleware, say, needs the session's)."""
        logging.disable(logging.CRITICAL)  # a stack that can't answer is reported, once
        try:
            self.request()
        except Exception:  # noqa: BLE001 - whatever a broken stack raises
            return False
        finally:
            logging.disable(logging.NOTSET)
        if not self.status.startswith("200"):
            return False
        for _ in range(300):  # warm up
            self.request()
        return True

    def microseconds(self) -> float:
        """One round: the mean of REQUESTS requests."""
        started = time.perf_counter()
        for _ in range(REQUESTS):
            self.request()
        return (time.perf_counter() - started) / REQUESTS * 1e6


def paired(full: Stack, other: Stack) -> tuple[float, float]:
    """(median time of `other`, median of full minus other), the two timed in turn each round,
    so the machine's drift falls on both alike."""
    times, differences = [], []
    for _ in range(ROUNDS):
        with_all, without = full.microseconds(), other.microseconds()
        times.append(without)
        differences.append(with_all - without)
    return statistics.median(times), statistics.median(differences)


def main() -> int:
    names = list(settings.MIDDLEWARE)
    print(f"middleware bench: GET {PATH} through Django's WSGI handler, DEBUG off, no HTTP")
    full = Stack(names)
    if not full.answers():
        raise RuntimeError(f"GET {PATH} answered {full.status!r} with every middleware")
    print(
        f"  all {len(names)} middleware, log line filtered out: "
        f"{statistics.median(full.microseconds() for _ in range(ROUNDS)):.1f} µs a request"
    )
    print("  each left out in turn, timed in turn with the full stack:")
    for name in names:
        short = name.rsplit(".", 1)[-1]
        other = Stack([m for m in names if m != name])
        if not other.answers():
            print(f"    {short:<34} others need it: not measured alone")
            continue
        _, cost = paired(full, other)
        print(f"    {short:<34} costs {cost:6.1f} µs")
    nothing = Stack([])
    nothing.answers()
    bare, cost = paired(full, nothing)
    print(f"  no middleware at all: {bare:.1f} µs; the whole stack costs {cost:.1f} µs")

    # The request's line as production writes it: JSON, at INFO, to a stream (here /dev/null).
    root = logging.getLogger()
    handler = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115 - closed below
    handler.setFormatter(json_formatter())
    saved_handlers, saved_level = root.handlers[:], root.level
    differences = []
    try:
        for _ in range(ROUNDS):
            filtered = full.microseconds()
            root.handlers[:] = [handler]
            root.setLevel(logging.INFO)
            try:
                written = full.microseconds()
            finally:
                root.handlers[:] = saved_handlers
                root.setLevel(saved_level)
            differences.append(written - filtered)
    finally:
        handler.stream.close()
    print(f"  the request's log line written as JSON: {statistics.median(differences):.1f} µs more")
    return 0


if __name__ == "__main__":
    sys.exit(main())
