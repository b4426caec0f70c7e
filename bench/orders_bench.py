"""Order pages under load: gunicorn + PostgreSQL + Redis sessions, measured with wrk.

Creates a fresh PostgreSQL database, seeds 1k orders for alice, serves the portal with gunicorn
(2 sync workers, DEBUG off, sessions in Redis as in production) and measures with wrk: a bare
view (no session) as the baseline, then the signed-in order list, an order page and the JSON
API. Then it seeds up to 1M orders in total and measures the first and a deep page again.
Everything runs on 127.0.0.1, every load is bounded, and the database is dropped at the end.

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth), Redis on 127.0.0.1:6379 and wrk
(`apt-get install -y wrk`).

    make bench                      (or: .venv/bin/python -m bench.orders_bench [--quick])
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import (
    Gunicorn,
    check_prerequisites,
    http_get,
    pg_admin,
    signed_in_cookie,
)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REDIS_DB = 13
ALICE_ORDERS = 1000
DEEP_PAGE = 30
WRK_THREADS, WRK_CONNECTIONS = 2, 8
RATIO_GOAL = 0.22
RATIO_ROUNDS = 3
BARE = "bare view (no session)"
SIGNED_IN = "signed-in text view"
SCALE_GOAL = 1.25


@dataclass
class Result:
    name: str
    url: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def run_wrk(name: str, port: int, path: str, cookie: str, seconds: int) -> Result:
    command = ["wrk", f"-t{WRK_THREADS}", f"-c{WRK_CONNECTIONS}", f"-d{seconds}s", "--latency"]
    command += ["--timeout", "10s"]
    if cookie:
        command += ["-H", f"Cookie: {cookie}"]
    command.append(f"http://127.0.0.1:{port}{path}")
    out = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=seconds + 30
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    percentiles = {
        p: _ms(v, u) for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
    }
    # A rate that counts error pages (or redirects to sign-in) would be no figure at all.
    failures = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
    if failures:
        raise RuntimeError(f"wrk on {name} ({path}): {failures.group(0)}")
    result = Result(name, path, rate, percentiles["50"], percentiles["99"])
    print(
        f"  {name:<34} {rate:>8,.0f} req/s   p50 {result.p50_ms:6.2f} ms   "
        f"p99 {result.p99_ms:6.2f} ms",
        flush=True,
    )
    return result


def page_cursor(user, pages_in: int) -> str:
    """The `cursor` of page `pages_in` of the user's order list (keyset: page 1 has none)."""
    from orders.selectors import orders_page

    cursor = ""
    for _ in range(pages_in - 1):
        page = orders_page(user=user, cursor=cursor)
        if not page.older:
            raise RuntimeError(f"{user} has fewer than {pages_in} pages of orders")
        cursor = page.older
    return cursor


def cursor_at(user, offset: int) -> str:
    """A cursor for the page that starts `offset` orders into the user's list."""
    from orders.selectors import orders_visible_to
    from portal.cursors import encode_cursor

    newer = orders_visible_to(user).order_by("-created", "-id").values("created", "id")[offset - 1]
    return encode_cursor("older", newer["created"], newer["id"])


def profile_list_request(path: str, cookie: str, requests: int = 300) -> None:
    """Where one signed-in list request spends its time, measured in this process."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1", HTTP_COOKIE=cookie)
    for _ in range(20):
        client.get(path)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    if response.status_code != 200:
        raise RuntimeError(f"profiling GET {path}: {response.status_code}")
    print(f"\n  one GET {path} (signed in as alice): {len(queries)} SQL queries")
    for query in queries.captured_queries:
        print(f"    {float(query['time']) * 1000:5.2f} ms  {query['sql'][:90]}")

    def per_request_ms(target: str) -> float:
        started = time.perf_counter()
        for _ in range(requests):
            client.get(target)
        return (time.perf_counter() - started) / requests * 1000

    print(
        f"  in-process (Django test client, no HTTP), ms per request: {path} "
        f"{per_request_ms(path):.2f}, /bench/signed-in {per_request_ms('/bench/signed-in'):.2f}, "
        f"/bench/bare {per_request_ms('/bench/bare'):.2f}"
    )
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(requests):
        client.get(path)
    profiler.disable()
    stats = pstats.Stats(profiler).stats

    def cumulative(function) -> float:
        code = function.__code__
        return sum(
            entry[3]
            for (file, line, name), entry in stats.items()
            if (file, line, name) == (code.co_filename, code.co_firstlineno, code.co_name)
        )

    import psycopg
    from django.contrib import auth
    from django.contrib.sessions.backends.base import SessionBase
    from django.core.handlers.base import BaseHandler
    from django.template.backends.jinja2 import Template

    from accounts import roles
    from orders import selectors

    total = cumulative(BaseHandler.get_response)
    parts = {
        "session load (Redis)": SessionBase._get_session,
        "user lookup": auth.get_user,
        "roles lookup": roles.roles_of,
        "orders_page (SQL + rows)": selectors.orders_page,
        "  of it psycopg execute": psycopg.Cursor.execute,
        "page rendering (Jinja2)": Template.render,
    }
    print("  share of the profiled request time (cProfile inflates Python-heavy parts):")
    for label, function in parts.items():
        print(f"    {label:<26} {cumulative(function) / total * 100:5.1f} %")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100k orders and 5 s runs")
    parser.add_argument("--orders", type=int, help="orders in total for the big run")
    parser.add_argument("--seconds", type=int, help="seconds per wrk run")
    args = parser.parse_args()
    total_orders = args.orders or (100_000 if args.quick else 1_000_000)
    seconds = args.seconds or (5 if args.quick else 10)

    problem = check_prerequisites()
    if problem:
        print(f"orders bench: {problem}", file=sys.stderr)
        return 2

    run_id = f"{os.getpid()}_{secrets.token_hex(3)}"
    database = f"portal_bench_{run_id}"
    work = Path(tempfile.mkdtemp(prefix="orders-bench-"))
    env = {
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(40),
        "ALLOWED_HOSTS": "127.0.0.1",
        "OIDC_ISSUER": "http://127.0.0.1:9",  # never called: sessions are made here, kept fresh
        "OIDC_CLIENT_ID": "bench",
        "OIDC_CLIENT_SECRET": "bench",
        "S3_BUCKET": "bench",
        "SITE_ORIGIN": "http://127.0.0.1",  # required with DEBUG off; nothing here uses it
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{database}",
        "REDIS_URL": f"redis://127.0.0.1:6379/{REDIS_DB}",
        "BENCH_CACHE_PREFIX": f"orders-bench-{run_id}",
        "BENCH_STATIC_ROOT": str(work / "static"),
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, connections

    from accounts.models import User

    pg_admin(f'CREATE DATABASE "{database}"')
    server = None
    started = time.perf_counter()
    try:
        print(f"orders bench: database {database}, Redis db {REDIS_DB}, wrk {seconds} s runs")
        call_command("migrate", verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        call_command("seed_orders", count=ALICE_ORDERS, users="alice", seed=1)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        issuer = os.environ["OIDC_ISSUER"]
        alice = User.objects.get(oidc_issuer=issuer, oidc_subject="alice")
        admin = User.objects.get(oidc_issuer=issuer, oidc_subject="admin")
        alice_cookie, admin_cookie = signed_in_cookie(alice), signed_in_cookie(admin)
        newest = alice.orders.order_by("-created", "-id").first()

        server = Gunicorn(env, work / "gunicorn.log")
        port = server.port
        list_path = "/orders/"
        status, html = http_get(port, list_path, alice_cookie)
        if status != 200:
            raise RuntimeError(f"GET /orders/ as alice answered {status}, not 200")
        if html.count(newest.number[:4]) < 25:
            print("  note: /orders/ shows fewer than 25 order numbers")

        def urls(deep_admin: str | None = None):
            plan = [
                (SIGNED_IN, "/bench/signed-in", alice_cookie),
                ("alice list, page 1", list_path, alice_cookie),
                (
                    f"alice list, page {DEEP_PAGE}",
                    f"/orders/?cursor={page_cursor(alice, DEEP_PAGE)}",
                    alice_cookie,
                ),
                ("alice order detail", f"/orders/{newest.number}/", alice_cookie),
                ("alice GET /api/orders", "/api/orders", alice_cookie),
                ("admin list, page 1", "/orders/", admin_cookie),
                (
                    f"admin list, page {DEEP_PAGE}",
                    f"/orders/?cursor={page_cursor(admin, DEEP_PAGE)}",
                    admin_cookie,
                ),
                ("admin GET /api/orders", "/api/orders", admin_cookie),
                ("admin site order change list", "/admin/orders/order/", admin_cookie),
            ]
            if deep_admin:
                plan.append(deep_admin)
            for name, path, cookie in plan:
                code, _body = http_get(port, path, cookie)
                if code != 200:
                    raise RuntimeError(f"{name}: GET {path} answered {code}, not 200")
            return plan

        def measure(plan):
            print(f"  (load average before: {os.getloadavg()[0]:.2f})", flush=True)
            results = {BARE: run_wrk(BARE, port, "/bench/bare", "", seconds)}
            for name, path, cookie in plan:
                results[name] = run_wrk(name, port, path, cookie, seconds)
            return results

        print(f"\n[1] {ALICE_ORDERS:,} orders (all alice's)")
        small = measure(urls())
        print(f"\n  list / bare, {RATIO_ROUNDS} more rounds taken in turn (the machine is noisy):")
        rounds = ratio_rounds(port, list_path, alice_cookie, seconds)

        print(f"\n[2] seeding up to {total_orders:,} orders (alice keeps {ALICE_ORDERS:,})")
        customers = max(10, total_orders // 1000)
        call_command(
            "seed_orders",
            count=total_orders - ALICE_ORDERS,
            users="bob",
            customers=customers,
            seed=2,
        )
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
            # Write out the gigabyte the load left in memory now, not during the measurements.
            cursor.execute("CHECKPOINT")
        time.sleep(5)
        middle = total_orders // 2
        deep = (
            f"admin list, ~page {middle // 25:,}",
            f"/orders/?cursor={cursor_at(admin, middle)}",
            admin_cookie,
        )
        print(f"\n[3] {total_orders:,} orders ({customers + 1:,} other owners)")
        big = measure(urls(deep))
        print(f"\n  list / bare, {RATIO_ROUNDS} more rounds taken in turn:")
        big_rounds = ratio_rounds(port, list_path, alice_cookie, seconds)

        profile_list_request(list_path, alice_cookie)
        print_summary(small, big, total_orders, deep[0], rounds, big_rounds)
        print(f"\n(total bench time {time.perf_counter() - started:,.0f} s)")
        return 0
    finally:
        if server is not None:
            server.stop()
        connections.close_all()
        pg_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        _drop_bench_keys(env["BENCH_CACHE_PREFIX"])
        shutil.rmtree(work, ignore_errors=True)


def _drop_bench_keys(prefix: str) -> None:
    import redis

    client = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)
    keys = list(client.scan_iter(f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)


def ratio_rounds(port: int, list_path: str, cookie: str, seconds: int) -> list[float]:
    """list / bare throughput, measured in turn so both see the same machine."""
    ratios = []
    for _ in range(RATIO_ROUNDS):
        bare = run_wrk(BARE, port, "/bench/bare", "", seconds)
        listed = run_wrk("alice list, page 1", port, list_path, cookie, seconds)
        ratios.append(listed.requests_per_s / bare.requests_per_s)
    return ratios


def print_summary(
    small: dict,
    big: dict,
    total_orders: int,
    deep_name: str,
    rounds: list[float],
    big_rounds: list[float],
) -> None:
    big_label = f"{total_orders // 1000:,}k" if total_orders < 1_000_000 else "1M"
    print(f"\nSummary (2 sync gunicorn workers, wrk -t{WRK_THREADS} -c{WRK_CONNECTIONS})")
    header = f"  {'request':<30} {'1k req/s':>9} {'p50':>7} {'p99':>7}"
    header += f" | {big_label + ' req/s':>10} {'p50':>7} {'p99':>7} | {'p50 ratio':>9}"
    print(header)
    for name, after in big.items():
        before = small.get(name)
        left = (
            f"{before.requests_per_s:>9,.0f} {before.p50_ms:>7.2f} {before.p99_ms:>7.2f}"
            if before
            else f"{'':>9} {'':>7} {'':>7}"
        )
        ratio = f"{after.p50_ms / before.p50_ms:>9.2f}" if before else f"{'':>9}"
        row = f"  {name:<30} {left} | {after.requests_per_s:>10,.0f} {after.p50_ms:>7.2f}"
        print(f"{row} {after.p99_ms:>7.2f} | {ratio}")
    print()
    for label, results, more in (("1k", small, rounds), (big_label, big, big_rounds)):
        first = results["alice list, page 1"].requests_per_s / results[BARE].requests_per_s
        every = [first, *more]
        print(
            f"  list / bare throughput at {label} orders: median {statistics.median(every):.3f} "
            f"of {', '.join(f'{r:.3f}' for r in every)} (goal >= {RATIO_GOAL})"
        )
    small_first = small["admin list, page 1"].p50_ms
    for name in ("alice list, page 1", f"alice list, page {DEEP_PAGE}", "admin list, page 1"):
        print(
            f"  {name} p50 latency, {big_label} / 1k orders: "
            f"{big[name].p50_ms / small[name].p50_ms:.2f} (goal <= {SCALE_GOAL})"
        )
    for name in (f"admin list, page {DEEP_PAGE}", deep_name):
        print(
            f"  {name} p50 latency at {big_label} / admin page 1 at 1k: "
            f"{big[name].p50_ms / small_first:.2f} (goal <= {SCALE_GOAL})"
        )


if __name__ == "__main__":
    sys.exit(main())
