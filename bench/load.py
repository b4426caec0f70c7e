"""`make load`: mixed traffic against the portal served the production way, then proof that
nothing was lost.

The portal runs as `make serve` runs it (gunicorn with config/gunicorn.py: gthread workers,
DEBUG off), on a fresh PostgreSQL database, Redis (cache, sessions, share-link counters, rate
limits), SeaweedFS as S3, and an OpenID provider of our own on 127.0.0.1 that signs JWT access
tokens as Okta does. Requests come as if through one load balancer (TRUSTED_PROXY_COUNT=1,
X-Forwarded-Proto: https) from one client address; the rate limits are set far above the load,
since all of it is one address and one user.

Phase 1, mixed traffic for --seconds (60) at 32 connections in all, one wrk process per kind,
all at once: order list and order pages (a session cookie), order placement (POST /api/orders
with a Bearer token and an Idempotency-Key; every tenth order's key sent once more), the
gallery, share-link opens (/s/<token> and /s/<token>/raw, with a browser's User-Agent) and the
other API reads. Then the checks: the orders in the database are exactly the keys answered 201,
the retries (answered 200) made no order, and each link's view count is the opens it answered.

Phase 2, two servers (two gunicorns on different ports) and placement only, split across both
for --placement-seconds, with the CPU time the app and PostgreSQL spent per order. Then the SQL
statements of one placed order, counted in this process (Django's CaptureQueriesContext, the
test client calling the API with a Bearer token).

    make load                       (or: .venv/bin/python -m bench.load [--seconds 10])
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import (
    ROOT,
    Gunicorn,
    check_prerequisites,
    drop_redis_keys,
    http_get,
    pg_admin,
    signed_in_cookie,
)

REDIS_DB = 7
CONNECTIONS = 32
# Each kind's share of the 32 connections (one wrk thread each).
SPLIT = {
    "order list": 4,
    "order page": 4,
    "place order": 8,
    "gallery": 4,
    "share link open": 6,
    "API reads": 6,
}
P99_GOAL_MS = 250
RETRY_EVERY = 10  # every tenth order's key is sent once more
GRACE_SECONDS = 3  # wrk runs this much longer, so every thread's last request is answered
WRK_TIMEOUT = "10s"
ORDERS_SEEDED = 1000
GALLERY_IMAGES = 30
SHARE_LINKS = 20
CLIENT_IP = "203.0.113.10"  # the one client address, as the load balancer forwards it
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0"
ORDER_BODY = {
    "lines": [{"sku": "WIDGET-1", "quantity": 2}, {"sku": "CABLE-USB-C-1M", "quantity": 1}]
}
# Far above anything one address and one user send here (the defaults would refuse the load).
# Counted as usual (in Redis), so their cost is in the figures.
RATE_LIMITS_HIGH = {
    "RATELIMIT_SIGNIN": "1000000/m",
    "RATELIMIT_SHARE_OPEN": "1000000/m",
    "RATELIMIT_SHARE_OPEN_PER_LINK": "1000000/m",
    "RATELIMIT_SHARE_PASSWORD": "1000000/m",
    "RATELIMIT_API": "1000000/m",
}
RATE_LIMIT_KEYS = "portal:ratelimit:*"
LUA = ROOT / "bench" / "lua"
GROUPS = {"groups": ["portal-users"]}


@dataclass
class Answer:
    status: int
    sent: float
    answered: float
    label: str  # rotate.lua: the item's number (1-based); place.lua: "<key> new|retry"


@dataclass
class Kind:
    """One kind of traffic: its wrk script (rotate.lua or place.lua), its configuration, and
    once run, what it was answered."""

    name: str
    connections: int
    script: str
    config: dict
    port: int = 0
    answers: list[Answer] = field(default_factory=list)
    socket_errors: int = 0
    cut_off: int = 0  # threads whose last request was still unanswered when wrk ended
    resent: int = 0  # requests sent again after their connection closed unanswered

    def is_expected(self, answer: Answer) -> bool:
        if self.script == "place.lua":
            how = answer.label.split()[1]
            return (answer.status, how) in ((201, "new"), (200, "retry"))
        return answer.status == self.config["items"][int(answer.label) - 1]["expect"]


@dataclass
class Figures:
    name: str
    connections: int
    requests: int
    per_second: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    socket_errors: int
    unexpected: dict  # status -> count, of answers this request must not get
    cut_off: int
    resent: int

    @property
    def errors(self) -> int:
        return self.socket_errors + sum(self.unexpected.values()) + self.cut_off + self.resent


# -- the wrk side --------------------------------------------------------------------------------


def lua_value(value) -> str:
    """A Python value (dict, list, str, number, bool) as a Lua constructor."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"[{lua_value(k)}] = {lua_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "{" + ", ".join(lua_value(item) for item in value) + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))  # a JSON string is a valid Lua string for what we send


def _slug(kind: Kind) -> str:
    return kind.name.replace(" ", "-")


def start_wrk(kind: Kind, work: Path, deadline: float, seconds: int) -> subprocess.Popen:
    """wrk for one kind: -t equal to -c (one connection per thread), self-stopping at deadline."""
    config = {**kind.config, "deadline": deadline, "report_path": str(work / _slug(kind))}
    script = work / f"{_slug(kind)}.lua"
    script.write_text(
        f"config = {lua_value(config)}\n"
        f"dofile({lua_value(str(LUA / kind.script))})\n"
        f"dofile({lua_value(str(LUA / 'common.lua'))})\n"
    )
    command = [
        *("wrk", f"-t{kind.connections}", f"-c{kind.connections}"),
        *(f"-d{seconds + GRACE_SECONDS}s", "--timeout", WRK_TIMEOUT, "-s", str(script)),
        f"http://127.0.0.1:{kind.port}/",
    ]
    log = (work / f"{_slug(kind)}.wrk.txt").open("w")
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)


def read_logs(kind: Kind, work: Path) -> None:
    """The threads' answer logs and wrk's socket error counts (see bench/lua/common.lua)."""
    kind.answers, kind.cut_off, kind.resent = [], 0, 0
    for number in range(1, kind.connections + 1):
        path = work / f"{_slug(kind)}-{number}.log"
        lines = path.read_text().splitlines() if path.exists() else []
        if not lines or lines[-1] != "end":
            kind.cut_off += 1
        for line in lines:
            if line.startswith("resend "):
                kind.resent += 1
            elif line != "end":
                status, sent, answered, label = line.split(" ", 3)
                kind.answers.append(Answer(int(status), float(sent), float(answered), label))
    counts = (work / f"{_slug(kind)}-errors").read_text().split()
    kind.socket_errors = sum(int(count) for count in counts)


def run_kinds(kinds: list[Kind], work: Path, seconds: int) -> list[Figures]:
    """All kinds at once, for `seconds`; their figures once every wrk has ended."""
    deadline = time.monotonic() + seconds
    processes = [start_wrk(kind, work, deadline, seconds) for kind in kinds]
    try:
        for kind, process in zip(kinds, processes, strict=True):
            if process.wait(timeout=seconds + GRACE_SECONDS + 60) != 0:
                log = (work / f"{_slug(kind)}.wrk.txt").read_text()
                raise RuntimeError(f"wrk for {kind.name} failed ({process.returncode}):\n{log}")
            read_logs(kind, work)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    return [figures_of(kind) for kind in kinds]


def percentile(sorted_values: list[float], share: float) -> float:
    """The value at that share of the sorted values (nearest rank)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(share * len(sorted_values)))
    return sorted_values[rank - 1]


def figures_of(kind: Kind) -> Figures:
    latencies = sorted((a.answered - a.sent) * 1000 for a in kind.answers)
    unexpected: dict = {}
    for answer in kind.answers:
        if not kind.is_expected(answer):
            unexpected[answer.status] = unexpected.get(answer.status, 0) + 1
    started = min((a.sent for a in kind.answers), default=0.0)
    ended = max((a.answered for a in kind.answers), default=1.0)
    return Figures(
        name=kind.name,
        connections=kind.connections,
        requests=len(kind.answers),
        per_second=len(kind.answers) / (ended - started),
        p50_ms=percentile(latencies, 0.50),
        p99_ms=percentile(latencies, 0.99),
        max_ms=latencies[-1] if latencies else 0.0,
        socket_errors=kind.socket_errors,
        unexpected=unexpected,
        cut_off=kind.cut_off,
        resent=kind.resent,
    )


def print_figures(rows: list[Figures]) -> None:
    print(
        f"  {'kind':<17} {'conns':>5} {'requests':>9} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'max ms':>7} {'errors':>6}"
    )
    for row in rows:
        print(
            f"  {row.name:<17} {row.connections:>5} {row.requests:>9,} {row.per_second:>8,.1f} "
            f"{row.p50_ms:>7.1f} {row.p99_ms:>7.1f} {row.max_ms:>7.1f} {row.errors:>6}"
        )
        if row.errors:
            print(
                f"    errors: socket {row.socket_errors}, unexpected answers {row.unexpected}, "
                f"closed unanswered and sent again {row.resent}, cut off at the end {row.cut_off}"
            )
    total = sum(row.per_second for row in rows)
    print(
        f"  {'all':<17} {sum(r.connections for r in rows):>5} "
        f"{sum(r.requests for r in rows):>9,} {total:>8,.1f}"
    )


# -- what was sent, and the checks ---------------------------------------------------------------


class Checks:
    def __init__(self):
        self.failed: list[str] = []

    def check(self, name: str, passed: bool, detail: str) -> None:
        print(f"  {'PASS' if passed else 'FAIL'}  {name}: {detail}")
        if not passed:
            self.failed.append(name)


def check_errors(checks: Checks, rows: list[Figures]) -> None:
    for row in rows:
        checks.check(
            f"{row.name}: no errors",
            row.errors == 0,
            f"{row.socket_errors} socket errors, {sum(row.unexpected.values())} unexpected "
            f"answers, {row.resent} closed unanswered, {row.cut_off} cut off",
        )


def check_orders(checks: Checks, kinds: list[Kind], buyer) -> int:
    """The buyer's orders are exactly the keys answered 201; the retries made none. Answers the
    number of orders placed."""
    from orders.models import IdempotencyKey, Order

    created, replayed = [], []
    for kind in kinds:
        for answer in kind.answers:
            key, how = answer.label.split()
            if (answer.status, how) == (201, "new"):
                created.append(key)
            elif (answer.status, how) == (200, "retry"):
                replayed.append(key)
    name = kinds[0].name if len(kinds) == 1 else "two servers"
    keys_in_database = set(IdempotencyKey.objects.filter(user=buyer).values_list("key", flat=True))
    orders = Order.objects.filter(owner=buyer).count()
    keyed_orders = IdempotencyKey.objects.filter(user=buyer).values("order").distinct().count()
    distinct = set(created)
    missing, extra = distinct - keys_in_database, keys_in_database - distinct
    checks.check(
        f"{name}: the orders are the keys answered 201",
        len(created) == len(distinct) and not missing and not extra and orders == len(distinct),
        f"{len(distinct):,} keys answered 201 ({len(created) - len(distinct)} of them twice), "
        f"{len(keys_in_database):,} keys and {orders:,} orders in the database "
        f"({len(missing)} answered but missing, {len(extra)} stored but never answered 201)",
    )
    checks.check(
        f"{name}: the retries made no second order",
        set(replayed) <= distinct and keyed_orders == orders == len(distinct),
        f"{len(replayed):,} retries answered 200, each a key answered 201 before: "
        f"{'yes' if set(replayed) <= distinct else 'NO'}; {orders:,} orders, {keyed_orders:,} "
        "of them made by a key",
    )
    return orders


def check_views(checks: Checks, kind: Kind, links, opened_before: dict[str, int]) -> None:
    """Each link's view count is the opens of it that showed the image (page 200, raw 302),
    the sanity check's included."""
    from uploads import viewers

    opened = {link.token: opened_before.get(link.token, 0) for link in links}
    items = kind.config["items"]
    for answer in kind.answers:
        if kind.is_expected(answer):
            opened[items[int(answer.label) - 1]["token"]] += 1
    fresh = list(type(links[0]).objects.filter(pk__in=[link.pk for link in links]))
    viewers.load_views(fresh)
    counted = {link.token: link.views for link in fresh}
    wrong = [token for token in opened if counted[token] != opened[token]]
    checks.check(
        "share link open: each link's view count is its opens answered",
        not wrong,
        f"{sum(opened.values()):,} opens answered 200 (page) or 302 (raw) on {len(links)} "
        f"links ({sum(opened_before.values())} of them before the load, checking it answers), "
        f"{sum(counted.values()):,} views counted; {len(wrong)} links differ",
    )


# -- the portal and its data ---------------------------------------------------------------------


@dataclass
class Seeded:
    alice: object
    buyer: object
    buyer_two: object
    cookie: str
    alice_token: str
    buyer_token: str
    buyer_two_token: str
    order_numbers: list[str]
    list_paths: list[str]
    gallery_paths: list[str]
    image_ids: list[int]
    links: list


def seed(op) -> Seeded:
    from django.core.management import call_command
    from django.db import connection

    from accounts.roles import USER
    from accounts.tests.people import make_user
    from bench.orders_bench import page_cursor
    from uploads.links import link_create
    from uploads.selectors import images_page
    from uploads.services import image_store
    from uploads.tests import samples

    call_command("seed_orders", count=ORDERS_SEEDED, users="alice", seed=1)
    alice = make_user("alice", USER)
    buyer, buyer_two = make_user("buyer", USER), make_user("buyer-2", USER)
    photo = samples.photo(size=(320, 240))
    images = [
        image_store(owner=alice, file=io.BytesIO(photo), filename=f"photo-{number}.jpg")
        for number in range(GALLERY_IMAGES)
    ]
    # No max views: every open must be a view. One image per link, as people share.
    links = [link_create(image=image, created_by=alice) for image in images[:SHARE_LINKS]]
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    numbers = list(alice.orders.order_by("-created").values_list("number", flat=True)[:20])
    page_two = images_page(user=alice).older

    def token(sub):
        return op.issue_access_token(sub, overrides={"sub": sub, **GROUPS})

    return Seeded(
        alice=alice,
        buyer=buyer,
        buyer_two=buyer_two,
        cookie=signed_in_cookie(alice),
        alice_token=token("alice"),
        buyer_token=token("buyer"),
        buyer_two_token=token("buyer-2"),
        order_numbers=numbers,
        list_paths=["/orders/", *(f"/orders/?cursor={page_cursor(alice, n)}" for n in (2, 3))],
        gallery_paths=["/images/", *([f"/images/?cursor={page_two}"] if page_two else [])],
        image_ids=[image.pk for image in images[:10]],
        links=links,
    )


def base_headers(**more: str) -> dict[str, str]:
    """What every request carries: the load balancer's headers and a browser's User-Agent."""
    return {
        "X-Forwarded-Proto": "https",
        "X-Forwarded-For": CLIENT_IP,
        "User-Agent": BROWSER,
        **more,
    }


def mixed_kinds(data: Seeded, port: int, run_id: str) -> list[Kind]:
    from django.urls import reverse

    session = base_headers(Cookie=data.cookie)
    alice_api = base_headers(Authorization=f"Bearer {data.alice_token}")

    def items(paths, expect=200, **extra):
        return [{"path": path, "expect": expect, **extra} for path in paths]

    share = []
    for link in data.links:
        share += items([reverse("share_open", args=[link.token])], 200, token=link.token)
        share += items([reverse("share_raw", args=[link.token])], 302, token=link.token)
    api_paths = [
        reverse("api_orders"),
        *(reverse("api_order", args=[number]) for number in data.order_numbers[:5]),
        reverse("api_images"),
        *(reverse("api_image", args=[image_id]) for image_id in data.image_ids[:5]),
    ]
    kinds = [
        Kind("order list", SPLIT["order list"], "rotate.lua",
             {"headers": session, "items": items(data.list_paths)}),
        Kind("order page", SPLIT["order page"], "rotate.lua",
             {"headers": session, "items": items(
                 reverse("order_detail", args=[number]) for number in data.order_numbers)}),
        placement_kind("place order", SPLIT["place order"], data.buyer_token, f"load-{run_id}"),
        Kind("gallery", SPLIT["gallery"], "rotate.lua",
             {"headers": session, "items": items(data.gallery_paths)}),
        Kind("share link open", SPLIT["share link open"], "rotate.lua",
             {"headers": base_headers(), "items": share}),
        Kind("API reads", SPLIT["API reads"], "rotate.lua",
             {"headers": alice_api, "items": items(api_paths)}),
    ]  # fmt: skip
    for kind in kinds:
        kind.port = port
    return kinds


def placement_kind(name: str, connections: int, token: str, key_prefix: str) -> Kind:
    from django.urls import reverse

    headers = base_headers(Authorization=f"Bearer {token}", **{"Content-Type": "application/json"})
    config = {
        "headers": headers,
        "path": reverse("api_orders"),
        "body": json.dumps(ORDER_BODY),
        "key_prefix": key_prefix,
        "retry_every": RETRY_EVERY,
    }
    return Kind(name, connections, "place.lua", config)


def sanity_check(kinds: list[Kind]) -> dict[str, int]:
    """One request of each GET kind answers as wrk will expect, before the load starts.
    Answers the share-link opens it made (they count as views), by token."""
    opened: dict[str, int] = {}
    for kind in kinds:
        if kind.script != "rotate.lua":
            continue
        item = kind.config["items"][0]
        status, body = http_get(kind.port, item["path"], headers=kind.config["headers"])
        if status != item["expect"]:
            raise RuntimeError(
                f"{kind.name}: GET {item['path']} answered {status}, not {item['expect']}: "
                f"{body[:300]!r}"
            )
        if "token" in item:
            opened[item["token"]] = opened.get(item["token"], 0) + 1
    return opened


# -- CPU time, for orders per core ---------------------------------------------------------------


TICKS = os.sysconf("SC_CLK_TCK")


def _stat_times(pid: int) -> tuple[float, float]:
    """(own CPU seconds, CPU seconds of reaped children) of a process; (0, 0) once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0, 0.0
    own = (int(fields[11]) + int(fields[12])) / TICKS
    return own, (int(fields[13]) + int(fields[14])) / TICKS


def app_cpu_seconds(servers: list[Gunicorn]) -> float:
    """The arbiters', their live workers' and their exited workers' CPU time (max-requests
    replaces workers during the run)."""
    total = 0.0
    for server in servers:
        for number, pid in enumerate(server.pids()):
            own, reaped = _stat_times(pid)
            total += own + (reaped if number == 0 else 0.0)
    return total


def postgres_backends(database: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend serving `database`."""
    import psycopg

    from bench.common import PG_ADMIN_URL

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        pids = [
            row[0]
            for row in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [database],
            )
        ]
    readings = {pid: _stat_times(pid)[0] for pid in pids}
    return {pid: cpu for pid, cpu in readings.items() if cpu > 0}  # 0: it just ended


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / TICKS, sum(values) / TICKS


def wal_lsn() -> int:
    import psycopg

    from bench.common import PG_ADMIN_URL

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        return conn.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn").fetchone()[0]


@dataclass
class CpuUse:
    app: float
    postgres: float
    wrk: float
    machine: float
    wall: float
    workers_replaced: int

    def print(self) -> None:
        cores = len(os.sched_getaffinity(0))
        others = self.machine - self.app - self.postgres - self.wrk
        print(
            f"  CPU seconds in those {self.wall:.1f} s (of {self.wall * cores:.1f} on {cores} "
            f"cores): app {self.app:.1f}, PostgreSQL (this database's backends) "
            f"{self.postgres:.1f}, wrk {self.wrk:.1f}, the rest of the machine (Redis, S3, "
            f"PostgreSQL's own processes, other users) {others:.1f}; idle "
            f"{self.wall * cores - self.machine:.1f}"
        )
        print(
            f"  gunicorn workers replaced during it (GUNICORN_MAX_REQUESTS): "
            f"{self.workers_replaced}"
        )


class CpuMeter:
    """CPU time of the app, PostgreSQL, wrk and the machine over a block; and the gunicorn
    workers seen, sampled twice a second, to count the ones max-requests replaced."""

    def __init__(self, servers: list[Gunicorn], database: str):
        self.servers, self.database = servers, database
        self.workers: set[int] = set()
        self.backends: dict[int, float] = {}
        self.stopping = threading.Event()

    def _watch(self) -> None:
        while not self.stopping.wait(0.5):
            self._see_workers()
            self._see_backends()

    def _see_workers(self) -> None:
        for server in self.servers:
            self.workers.update(server.pids()[1:])

    def _see_backends(self) -> None:
        """A backend ends with its connection (a replaced worker's): keep its last reading."""
        self.backends.update(postgres_backends(self.database))

    def __enter__(self):
        self._see_workers()
        self.first_workers = len(self.workers)
        self.app = app_cpu_seconds(self.servers)
        self.postgres = postgres_backends(self.database)
        self.backends.update(self.postgres)
        self.watcher = threading.Thread(target=self._watch, daemon=True)
        self.watcher.start()
        self.wrk = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.machine = machine_busy_seconds()[0]
        self.started = time.monotonic()
        return self

    def __exit__(self, *exc):
        self.wall = time.monotonic() - self.started
        wrk = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.stopping.set()
        self.watcher.join()
        self._see_workers()
        self._see_backends()
        self.use = CpuUse(
            app=app_cpu_seconds(self.servers) - self.app,
            postgres=sum(cpu - self.postgres.get(pid, 0.0) for pid, cpu in self.backends.items()),
            wrk=(wrk.ru_utime + wrk.ru_stime) - (self.wrk.ru_utime + self.wrk.ru_stime),
            machine=machine_busy_seconds()[0] - self.machine,
            wall=self.wall,
            workers_replaced=len(self.workers) - self.first_workers,
        )
        return False


# -- SQL statements per placed order ------------------------------------------------------------


def statements_per_order(token: str, orders: int = 20) -> dict:
    """POST /api/orders in this process (the test client, a Bearer token, a new key each time),
    each under CaptureQueriesContext; the first call (JWT check, caches) is not counted."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    client = Client(
        headers={**base_headers(), "Authorization": f"Bearer {token}"},
        HTTP_HOST="127.0.0.1",
    )
    path, body = reverse("api_orders"), ORDER_BODY

    def place(key: str):
        with CaptureQueriesContext(connection) as queries:
            answer = client.post(
                path, body, content_type="application/json", headers={"Idempotency-Key": key}
            )
        return answer.status_code, [query["sql"] for query in queries.captured_queries]

    run = secrets.token_hex(4)
    place(f"sql-{run}-warm")
    wal_before = wal_lsn()
    counts, statements = [], []
    for number in range(orders):
        status, statements = place(f"sql-{run}-{number}")
        if status != 201:
            raise RuntimeError(f"placing an order in-process answered {status}")
        counts.append(len(statements))
    wal_bytes = (wal_lsn() - wal_before) / orders
    replay_status, replay = place(f"sql-{run}-0")
    return {
        "counts": counts,
        "statements": statements,
        "replay_status": replay_status,
        "replay_count": len(replay),
        "wal_bytes": wal_bytes,
    }


TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")


def is_transaction_control(sql: str) -> bool:
    return sql.split(' "', 1)[0].strip().upper() in TRANSACTION_CONTROL


def print_statements(result: dict) -> None:
    counts = result["counts"]
    control = sum(1 for sql in result["statements"] if is_transaction_control(sql))
    print(
        f"  SQL statements per placed order: {min(counts)}"
        + (f" to {max(counts)}" if max(counts) != min(counts) else "")
        + f", of which {control} transaction control and {len(result['statements']) - control} "
        f"queries (each of {len(counts)} orders: Django's CaptureQueriesContext around the test "
        "client's POST /api/orders with a Bearer token and a new key). One order's:"
    )
    for sql in result["statements"]:
        print(f"    {sql[:110]}")
    print(
        f"  a replayed key: {result['replay_count']} statements, answered {result['replay_status']}"
    )
    print(
        f"  WAL written per placed order: {result['wal_bytes']:,.0f} bytes (pg_current_wal_lsn "
        "around them; the whole cluster's, so other databases' writes count in on a shared "
        "machine)"
    )


# -- the run -------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=60, help="length of the mixed phase")
    parser.add_argument(
        "--placement-seconds", type=int, default=20, help="length of the two-server phase"
    )
    parser.add_argument(
        "--placement-only", action="store_true", help="only the two-server placement phase"
    )
    parser.add_argument(
        "--workers", type=int, help="WEB_CONCURRENCY (default: config/gunicorn.py's)"
    )
    parser.add_argument(
        "--threads", type=int, help="GUNICORN_THREADS (default: config/gunicorn.py's)"
    )
    args = parser.parse_args()

    problem = check_prerequisites()
    if problem:
        print(f"load: {problem}", file=sys.stderr)
        return 2
    # Stopped by SIGTERM too, the servers, the database and the keys are cleaned up (finally).
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))

    run_id = f"{os.getpid()}_{secrets.token_hex(3)}"
    database = f"portal_load_{run_id}"
    work = Path(tempfile.mkdtemp(prefix="load-"))
    access_key, secret_key = f"load-{secrets.token_hex(4)}", secrets.token_urlsafe(24)
    os.environ.setdefault("GOMEMLIMIT", "256MiB")
    from accounts.tests.oidc_test_provider import OIDCTestProvider
    from devstack.servers import start_test_stack, stop_servers

    stack = start_test_stack(state_dir=work / "stack", access_key=access_key, secret_key=secret_key)
    op = OIDCTestProvider(
        users={"alice": GROUPS, "buyer": GROUPS, "buyer-2": GROUPS}, client_id="load"
    ).start()
    redis_url = f"redis://127.0.0.1:6379/{REDIS_DB}"
    cache_prefix = f"load-{run_id}"
    env = {
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(40),
        "ALLOWED_HOSTS": "127.0.0.1",
        "TRUSTED_PROXY_COUNT": "1",
        "OIDC_ISSUER": op.issuer,
        "OIDC_CLIENT_ID": op.client_id,
        "OIDC_CLIENT_SECRET": op.client_secret,
        "OIDC_API_AUDIENCE": op.api_audience,
        "S3_BUCKET": "load",
        "S3_ENDPOINT_URL": stack[1].url,
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret_key,
        "SITE_ORIGIN": "https://127.0.0.1",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{database}",
        "REDIS_URL": redis_url,
        "BENCH_CACHE_PREFIX": cache_prefix,
        "BENCH_STATIC_ROOT": str(work / "static"),
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "LOG_LEVEL": "WARNING",
        **RATE_LIMITS_HIGH,
    }
    if args.workers:
        env["WEB_CONCURRENCY"] = str(args.workers)
    if args.threads:
        env["GUNICORN_THREADS"] = str(args.threads)
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    from uploads import s3
    from uploads.viewers import REDIS_PREFIX, REDIS_VIEWS_PREFIX

    pg_admin(f'CREATE DATABASE "{database}"')
    servers: list[Gunicorn] = []
    checks = Checks()
    config = ROOT / "config" / "gunicorn.py"
    try:
        print(f"load: database {database}, Redis db {REDIS_DB}, SeaweedFS {stack[1].url}")
        call_command("migrate", verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        s3.bucket_create_private(bucket=env["S3_BUCKET"], origin=env["SITE_ORIGIN"])
        data = seed(op)
        connections.close_all()
        workers = os.environ.get("WEB_CONCURRENCY") or f"{len(os.sched_getaffinity(0))} (cores)"
        threads = os.environ.get("GUNICORN_THREADS") or "4 (default)"
        print(
            f"  served as `make serve` does: gunicorn -c config/gunicorn.py (gthread), "
            f"{workers} workers x {threads} threads per server; DEBUG off (bench/settings.py); "
            f"behind one load balancer (TRUSTED_PROXY_COUNT=1) from one client address"
        )
        print(
            "  rate limits on, set far above the load (one address, one user): "
            + ", ".join(f"{name}={value}" for name, value in RATE_LIMITS_HIGH.items())
        )
        print(f"  load average before: {os.getloadavg()[0]:.2f} (a shared machine is noisy)")

        if not args.placement_only:
            server = Gunicorn(env, work / "gunicorn.log", config=config)
            servers.append(server)
            kinds = mixed_kinds(data, server.port, run_id)
            opened_before = sanity_check(kinds)
            print(
                f"\n[1] mixed traffic, {args.seconds} s, {CONNECTIONS} connections "
                f"(one wrk process per kind, one connection per wrk thread)"
            )
            with CpuMeter([server], database) as meter:
                rows = run_kinds(kinds, work, args.seconds)
            server.stop()
            servers.remove(server)
            print_figures(rows)
            meter.use.print()
            requests = sum(row.requests for row in rows)
            print(
                f"  app CPU per request: {meter.use.app / requests * 1000:.2f} ms, PostgreSQL "
                f"backends' {meter.use.postgres / requests * 1000:.2f} ms (all kinds together)"
            )
            by_name = {kind.name: kind for kind in kinds}
            print("\n  checks:")
            check_errors(checks, rows)
            check_orders(checks, [by_name["place order"]], data.buyer)
            check_views(checks, by_name["share link open"], data.links, opened_before)
            slow = [row.name for row in rows if row.p99_ms > P99_GOAL_MS]
            print(
                f"  {'PASS' if not slow else 'FAIL'}  goal p99 <= {P99_GOAL_MS} ms for every "
                f"kind: {', '.join(slow) + ' over it' if slow else 'met'} (a goal, measured on "
                "this machine at this moment: it does not change the exit status)"
            )

        print(
            f"\n[2] two servers, placement only, {args.placement_seconds} s, {CONNECTIONS} "
            "connections split across both"
        )
        servers += [Gunicorn(env, work / f"gunicorn-{n}.log", config=config) for n in (1, 2)]
        placing = [
            placement_kind(f"place on server {n}", CONNECTIONS // 2, data.buyer_two_token,
                           f"two-{run_id}-{n}")
            for n in (1, 2)
        ]  # fmt: skip
        for kind, server in zip(placing, servers, strict=True):
            kind.port = server.port
        with CpuMeter(servers, database) as meter:
            rows = run_kinds(placing, work, args.placement_seconds)
        for server in servers:
            server.stop()
        servers.clear()
        print_figures(rows)
        placed_per_second = sum(row.per_second for row in rows)
        print("\n  checks:")
        check_errors(checks, rows)
        placed = check_orders(checks, placing, data.buyer_two)
        use = meter.use
        print(
            f"\n  orders placed per second, two servers: {placed_per_second:,.1f} "
            f"({placed:,} orders in {args.placement_seconds} s)"
        )
        use.print()
        print(
            f"  so one core does: {placed / use.app:,.0f} orders/s of app work, "
            f"{placed / use.postgres:,.0f} orders/s of PostgreSQL backend work "
            f"({use.app / placed * 1000:.2f} and {use.postgres / placed * 1000:.2f} ms CPU per "
            "order)"
        )

        print("\n[3] SQL statements per placed order (in this process)")
        print_statements(statements_per_order(data.buyer_two_token))

        if checks.failed:
            print(f"\nFAIL: {len(checks.failed)} checks failed: {', '.join(checks.failed)}")
            for log in sorted(work.glob("gunicorn*.log")):
                tail = log.read_text()[-2000:]
                if tail.strip():
                    print(f"\n  {log.name}, last lines:\n{tail}")
            return 1
        print("\nPASS: no errors and nothing lost")
        return 0
    finally:
        for server in servers:
            server.stop()
        connections.close_all()
        pg_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        drop_redis_keys(
            redis_url,
            f"{cache_prefix}:*",
            f"{REDIS_PREFIX}*",
            f"{REDIS_VIEWS_PREFIX}*",
            RATE_LIMIT_KEYS,
        )
        op.stop()
        stop_servers(stack)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
