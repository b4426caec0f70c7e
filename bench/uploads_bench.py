"""Uploads and share links, measured: URL signing, upload memory, share-link opens, HyperLogLog.

1. URL signing for one 100-image gallery render: `signing.image_urls(100, thumbnails=True)`
   warm (same window), with only the shared cache warm (another worker signed them), and cold
   (first in its window), beside 100 plain `default_storage.url()` calls, in this process.
2. Peak memory growth (VmHWM) of a separate app process (gunicorn, 1 sync worker, the real
   portal, a signed-in session) while a ~19 MB photo is uploaded by each path (and a 48 MP one,
   near the pixel limit, by the form), and while a 200 MiB file is refused by each path (form:
   refused from its Content-Length, and a file just past the limit that the upload handler cuts
   off; direct: S3 refuses it against the POST policy's content-length-range, and the app is
   never sent it).
3. Share-link open, GET /s/<token>/raw (302 to S3), with wrk under gunicorn (2 sync workers,
   PostgreSQL, Redis), over 100 links in turn (a Lua script) and on one link, as a ratio of
   the bare view measured in turn with them; and where one request spends its time.
4. HyperLogLog error at 10 / 50 / 1,000 / 100,000 distinct viewers, for both counters of
   uploads/viewers.py (Redis PFCOUNT, and the sketch in the database), and bytes per link.

Starts its own SeaweedFS (and OpenID provider, unused) on free ports, a fresh PostgreSQL
database and gunicorn on 127.0.0.1; Redis db 8. Everything is removed at the end.
Needs what bench/orders_bench.py needs (PostgreSQL, Redis, wrk).

    make bench              (or: .venv/bin/python -m bench.uploads_bench [--quick])
"""

from __future__ import annotations

import argparse
import io
import os
import random
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import requests

from bench import orders_bench
from bench.common import (
    Gunicorn,
    check_prerequisites,
    free_port,
    http_get,
    pg_admin,
    signed_in_cookie,
)
from bench.orders_bench import run_wrk

ROOT = Path(__file__).resolve().parent.parent
REDIS_DB = 8
BUCKET = "bench-uploads"
GALLERY = 100
SIGNING_GOAL_MS = 1.5
PHOTO_TARGET_BYTES = 19_000_000
HUGE_BYTES = 200 * 1024 * 1024
REFUSAL_GOAL_MB = 25
RAW_RATIO_GOAL = 0.3
RATIO_ROUNDS = 3
SHARE_LINKS = 100  # opened in turn by wrk, so no one link's row is the bottleneck
VIEWER_COUNTS = (10, 50, 1_000, 100_000)
DATABASE_ADDS_UP_TO = 1_000
CHUNK = 1024 * 1024
NOISE_SEED = 9
BARE = "bare view (no session)"


class NotMeasured(Exception):
    """A part of the portal the bench needs is not there (yet): say so instead of a figure."""


def _ms(seconds: float) -> float:
    return seconds * 1000


def _median_ms(function, repetitions: int) -> float:
    times = []
    for _ in range(repetitions):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return _ms(statistics.median(times))


# -- 1. URL signing ---------------------------------------------------------------------------


def gallery_images(count: int = GALLERY):
    """Unsaved Image rows with real-looking keys: signing needs no database or object."""
    from uploads.models import Image

    images = []
    for number in range(1, count + 1):
        name = uuid.uuid4().hex
        images.append(
            Image(
                pk=number,
                key=f"users/1/{name}.jpg",
                thumbnail_key=f"users/1/thumbs/{name}.webp",
                filename=f"IMG_{number:04d}.jpg",
                content_type="image/jpeg",
            )
        )
    return images


def measure_signing(*, warm_repetitions: int, cold_repetitions: int) -> dict:
    from django.core.files.storage import default_storage

    from uploads import signing

    images = gallery_images()
    # The first url() in a process builds boto3's session and client (~74 ms): not a render.
    default_storage.url(images[0].thumbnail_key)

    def plain():
        for image in images:
            default_storage.url(image.thumbnail_key)

    def warm():
        signing.image_urls(images, thumbnails=True)

    warm()
    # Each cold render gets objects never signed before, so it signs all 100 (first in window).
    cold_sets = [gallery_images() for _ in range(cold_repetitions)]
    plain_times, cold_times, shared_times = [], [], []
    for cold_set in cold_sets:  # in turn, so each figure sees the same (busy) machine
        started = time.perf_counter()
        plain()
        plain_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        signing.image_urls(cold_set, thumbnails=True)
        cold_times.append(time.perf_counter() - started)
        # Another worker's first render in the window: its own dict is empty, the cache has them.
        signing._window_urls.clear()
        started = time.perf_counter()
        signing.image_urls(cold_set, thumbnails=True)
        shared_times.append(time.perf_counter() - started)
    warm()  # the dict was emptied above
    return {
        "plain_url_x100_ms": _ms(statistics.median(plain_times)),
        "warm_ms": _median_ms(warm, warm_repetitions),
        "shared_cache_ms": _ms(statistics.median(shared_times)),
        "cold_ms": _ms(statistics.median(cold_times)),
        "warm_repetitions": warm_repetitions,
        "cold_repetitions": cold_repetitions,
        "goal_ms": SIGNING_GOAL_MS,
    }


def print_signing(result: dict) -> None:
    print(f"\n[1] URL signing, one {GALLERY}-image gallery render (median ms)")
    rows = [
        ("100 x default_storage.url() (plain)", result["plain_url_x100_ms"]),
        ("image_urls, warm (same window)", result["warm_ms"]),
        ("image_urls, shared cache only", result["shared_cache_ms"]),
        ("image_urls, cold (first in window)", result["cold_ms"]),
    ]
    for name, value in rows:
        print(f"  {name:<40} {value:8.3f} ms")
    verdict = "met" if result["warm_ms"] <= SIGNING_GOAL_MS else "NOT met"
    print(
        f"  warm {result['warm_ms']:.3f} ms = {result['warm_ms'] / result['plain_url_x100_ms']:.3f}"
        f" of plain url(); goal <= {SIGNING_GOAL_MS} ms: {verdict} "
        f"({result['warm_repetitions']:,} warm, {result['cold_repetitions']} cold repetitions)"
    )


# -- 2. Memory of the app process while uploading -------------------------------------------


def _noise(size: int) -> bytes:
    """The same noise every run. A compressed photo's bytes look random, and random bytes hold
    something the markup scan (processing.MARKUP, e.g. "<svg") refuses about once per GiB, so
    fresh noise made about 1 in 100 of these photos a "polyglot"; this seed makes none."""
    return random.Random(NOISE_SEED).randbytes(size)  # noqa: S311 - noise, not a secret


def noise_photo(target: int = PHOTO_TARGET_BYTES) -> tuple[bytes, tuple[int, int]]:
    """A JPEG of random noise (so it doesn't compress) of about `target` bytes, under 50 MP."""
    from PIL import Image

    width, height = 6000, 4000
    for _ in range(6):
        pixels = Image.frombytes("RGB", (width, height), _noise(width * height * 3))
        out = io.BytesIO()
        pixels.save(out, "JPEG", quality=95)
        data = out.getvalue()
        if abs(len(data) - target) <= target * 0.02:
            break
        scale = (target / len(data)) ** 0.5
        width, height = int(width * scale), int(height * scale)
    return data, pixels.size


def big_smooth_photo(size=(8000, 6000)) -> bytes:
    """A photo near the pixel limit (48 MP) that compresses well: memory grows with pixels."""
    from PIL import Image

    small = Image.frombytes("RGB", (400, 300), _noise(400 * 300 * 3))
    out = io.BytesIO()
    small.resize(size, Image.Resampling.BICUBIC).save(out, "JPEG", quality=90)
    return out.getvalue()


def multipart_file(path: Path, *, fields: dict, filename: str, content_type: str, body) -> str:
    """Write a multipart/form-data body to `path` (fields first, the file last), streaming
    `body` (an iterable of bytes); answers the Content-Type header to send it with."""
    boundary = f"bench{secrets.token_hex(12)}"
    with path.open("wb") as out:
        for name, value in fields.items():
            out.write(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                f"{value}\r\n".encode()
            )
        out.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n'.encode()
        )
        for chunk in body:
            out.write(chunk)
        out.write(f"\r\n--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}"


def huge_chunks(total: int = HUGE_BYTES):
    """`total` bytes, a megabyte at a time (never held whole, here or anywhere)."""
    block = os.urandom(CHUNK)
    for start in range(0, total, CHUNK):
        yield block[: min(CHUNK, total - start)]


def _proc_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for process {pid}")


class OneWorkerApp:
    """The portal under gunicorn with ONE sync worker, so its memory is one process's."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.port = free_port()
        self.log = log_path.open("a")
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "gunicorn", "config.wsgi:application"),
                *("--workers", "1", "--worker-class", "sync", "--timeout", "120"),
                *("--bind", f"127.0.0.1:{self.port}", "--log-level", "warning"),
            ],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if http_get(self.port, "/bench/bare")[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        else:
            self.stop()
            raise RuntimeError(f"gunicorn did not start:\n{log_path.read_text()[-3000:]}")
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        [worker] = children.read_text().split()
        self.worker = int(worker)
        self.url = f"http://127.0.0.1:{self.port}"

    def reset_peak(self) -> None:
        """Start the high-water mark (VmHWM) again from the current RSS (Linux >= 4.0)."""
        Path(f"/proc/{self.worker}/clear_refs").write_text("5")

    def rss_mb(self) -> float:
        return _proc_kb(self.worker, "VmRSS") / 1024

    def peak_mb(self) -> float:
        return _proc_kb(self.worker, "VmHWM") / 1024

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


class Uploader:
    """Both upload paths of the API, as a signed-in browser session calls them."""

    def __init__(self, base_url: str, session_cookie: str, work: Path):
        from django.utils.crypto import get_random_string

        csrf = get_random_string(32)
        self.base = base_url
        self.work = work
        self.headers = {"Cookie": f"{session_cookie}; csrftoken={csrf}", "X-CSRFToken": csrf}

    def _post_file(self, url: str, *, fields: dict, body, headers: dict) -> requests.Response:
        path = self.work / f"body-{secrets.token_hex(4)}"
        content_type = multipart_file(
            path, fields=fields, filename="photo.jpg", content_type="image/jpeg", body=body
        )
        try:
            with path.open("rb") as data:  # streamed from disk, with its Content-Length
                return requests.post(
                    url, data=data, headers={**headers, "Content-Type": content_type}, timeout=300
                )
        finally:
            path.unlink()

    def form(self, body) -> int:
        """POST /api/images (multipart): the answer's status."""
        answer = self._post_file(
            f"{self.base}/api/images", fields={"title": "bench"}, body=body, headers=self.headers
        )
        return answer.status_code

    def direct(self, body, *, declared_size: int, complete: bool = True) -> tuple[str, str]:
        """Presign, POST the file to S3, then complete: (S3's status or error, the app's
        status for complete, or "-" when not called)."""
        start = requests.post(
            f"{self.base}/api/images/uploads",
            json={"filename": "photo.jpg", "content_type": "image/jpeg", "size": declared_size},
            headers=self.headers,
            timeout=30,
        )
        if start.status_code != 201:
            raise RuntimeError(f"POST /api/images/uploads: {start.status_code} {start.text[:300]}")
        post = start.json()
        try:
            sent = self._post_file(post["url"], fields=post["fields"], body=body, headers={})
            s3_status = str(sent.status_code)
        except requests.ConnectionError as error:  # S3 may close the connection as it refuses
            s3_status = f"connection closed ({type(error).__name__})"
        if not complete:
            return s3_status, "-"
        done = requests.post(
            f"{self.base}/api/images/uploads/{post['upload_id']}/complete",
            json={},
            headers=self.headers,
            timeout=120,
        )
        return s3_status, str(done.status_code)


def measure_memory(env: dict[str, str], cookie: str, work: Path) -> dict:
    from django.conf import settings

    from uploads.tests import samples

    photo, photo_size = noise_photo()
    small = samples.photo()
    scenarios = []

    def scenario(name: str, path: str, warm_up, run, expected):
        app = OneWorkerApp(env, work / "memory-gunicorn.log")
        try:
            uploader = Uploader(app.url, cookie, work)
            # Same path once with a small photo: imports, clients and pools are set up before.
            warm_up(uploader)
            app.reset_peak()
            before = app.rss_mb()
            outcome = run(uploader)
            peak = app.peak_mb()
        finally:
            app.stop()
        ok = expected(outcome)
        scenarios.append(
            {
                "name": name,
                "path": path,
                "growth_mb": peak - before,
                "rss_before_mb": before,
                "peak_mb": peak,
                "outcome": outcome,
                "as_expected": ok,
            }
        )

    def form_small(uploader):
        if (status := uploader.form([small])) != 201:
            raise NotMeasured(f"POST /api/images of a small photo answered {status}")

    def direct_small(uploader):
        if (statuses := uploader.direct([small], declared_size=len(small))) != ("201", "201"):
            raise NotMeasured(f"a small photo by the direct path answered {statuses}")

    scenario(
        f"{len(photo) / 1e6:.1f} MB photo stored",
        "form",
        form_small,
        lambda u: u.form([photo]),
        lambda outcome: outcome == 201,
    )
    scenario(
        f"{len(photo) / 1e6:.1f} MB photo stored",
        "direct",
        direct_small,
        lambda u: u.direct([photo], declared_size=len(photo)),
        lambda outcome: outcome == ("201", "201"),
    )
    pixels = big_smooth_photo()
    scenario(
        f"48 MP photo ({len(pixels) / 1e6:.1f} MB) stored",
        "form",
        form_small,
        lambda u: u.form([pixels]),
        lambda outcome: outcome == 201,
    )
    scenario(
        f"{HUGE_BYTES // 2**20} MiB file refused",
        "form",
        form_small,
        lambda u: u.form(huge_chunks()),
        lambda outcome: outcome == 413,
    )
    # Within the Content-Length check (file limit + 64 KiB), so the upload handler cuts it off.
    just_over = settings.UPLOAD_MAX_BYTES + 32 * 1024
    scenario(
        f"{just_over / 2**20:.2f} MiB file refused",
        "form",
        form_small,
        lambda u: u.form(huge_chunks(just_over)),
        lambda outcome: outcome == 413,
    )
    # The declared size is a lie within the limit (a real one gets 413 before signing):
    # S3 must refuse the bytes itself.
    scenario(
        f"{HUGE_BYTES // 2**20} MiB file refused",
        "direct",
        direct_small,
        lambda u: u.direct(huge_chunks(), declared_size=len(small), complete=False),
        lambda outcome: outcome[0] != "201",
    )
    return {
        "measured": True,
        "photo_bytes": len(photo),
        "photo_pixels": photo_size,
        "huge_bytes": HUGE_BYTES,
        "scenarios": scenarios,
    }


def print_memory(result: dict) -> None:
    print("\n[2] Peak memory growth of the app process (gunicorn, 1 sync worker; VmHWM - VmRSS)")
    if not result["measured"]:
        print(f"  NOT MEASURED ({result['reason']})")
        return
    print(f"  {'what':<30} {'path':<7} {'growth MB':>9} {'RSS before':>10}  answer")
    for row in result["scenarios"]:
        outcome = row["outcome"]
        if isinstance(outcome, tuple):
            outcome = f"S3 {outcome[0]}, complete {outcome[1]}"
        flag = "" if row["as_expected"] else "   (UNEXPECTED)"
        print(
            f"  {row['name']:<30} {row['path']:<7} {row['growth_mb']:>9.1f} "
            f"{row['rss_before_mb']:>10.1f}  {outcome}{flag}"
        )
    width, height = result["photo_pixels"]
    print(f"  (the photo: random noise, {width}x{height} = {width * height / 1e6:.1f} MP, q95)")
    refusals = [row for row in result["scenarios"] if "refused" in row["name"]]
    worst = max(row["growth_mb"] for row in refusals)
    verdict = "met" if worst < REFUSAL_GOAL_MB else "NOT met"
    print(f"  refusals: at most {worst:.1f} MB growth; goal < {REFUSAL_GOAL_MB} MB: {verdict}")


# -- 3. Share-link opens -----------------------------------------------------------------------


@contextmanager
def wrk_script(path: Path):
    """orders_bench.run_wrk, with `wrk -s <path>` (a Lua script choosing each request's path):
    the same command, parsing and checks, one option more."""
    real_run = subprocess.run

    def run(command, *args, **kwargs):
        if command and command[0] == "wrk":
            command = [*command[:-1], "-s", str(path), command[-1]]
        return real_run(command, *args, **kwargs)

    orders_bench.subprocess.run = run
    try:
        yield
    finally:
        orders_bench.subprocess.run = real_run


def rotating_script(path: Path, paths: list[str]) -> Path:
    """A wrk Lua script that requests `paths` in turn (each thread from its own start)."""
    listed = ", ".join(f'"{each}"' for each in paths)
    path.write_text(
        f"local paths = {{{listed}}}\n"
        "local next_path = math.random(#paths)\n"
        "request = function()\n"
        "  next_path = next_path % #paths + 1\n"
        '  return wrk.format("GET", paths[next_path])\n'
        "end\n"
    )
    return path


def measure_share(env, work: Path, alice, seconds: int) -> dict:
    from uploads.links import link_create
    from uploads.services import image_store
    from uploads.tests import samples

    # One image per link, so no link shares another's signed URL (signing.share_url reuses a
    # URL for a few seconds). No max_views: wrk's many thousand opens must all be real views.
    photo = samples.photo(size=(64, 48))
    images = [
        image_store(owner=alice, file=io.BytesIO(photo), filename=f"shared-{number}.jpg")
        for number in range(SHARE_LINKS)
    ]
    links = [link_create(image=each, created_by=alice, max_views=None) for each in images]
    link = links[0]
    raw, page = f"/s/{link.token}/raw", f"/s/{link.token}"
    script = rotating_script(work / "links.lua", [f"/s/{each.token}/raw" for each in links])
    many = f"GET /s/<{SHARE_LINKS} tokens>/raw (302)"
    server = Gunicorn(env, work / "share-gunicorn.log")
    try:
        status, body = http_get(server.port, raw)
        if status != 302:
            return {"measured": False, "reason": f"GET {raw} answered {status}: {body[:80]!r}"}
        rounds = []
        print(f"\n[3] Share-link opens (2 sync gunicorn workers, wrk, {seconds} s runs)")
        for _ in range(RATIO_ROUNDS):
            bare = run_wrk(BARE, server.port, "/bench/bare", "", seconds)
            with wrk_script(script):
                spread = run_wrk(many, server.port, raw, "", seconds)
            hot = run_wrk("GET /s/<one token>/raw (302)", server.port, raw, "", seconds)
            rounds.append((bare, spread, hot))
        page_status, _ = http_get(server.port, page)
        shown = None
        if page_status == 200:
            shown = run_wrk("GET /s/<one token> (page)", server.port, page, "", seconds)
    finally:
        server.stop()
    link.refresh_from_db()
    parts = share_request_parts(link, raw)
    views_counted, links_opened = _views_counted(links)
    ratios = [spread.requests_per_s / bare.requests_per_s for bare, spread, _ in rounds]
    hot_ratios = [hot.requests_per_s / bare.requests_per_s for bare, _, hot in rounds]
    median_round = rounds[ratios.index(statistics.median(ratios))]
    return {
        "measured": True,
        "bare": vars(median_round[0]),
        "raw": vars(median_round[1]),
        "raw_one_link": vars(median_round[2]),
        "page": vars(shown) if shown else None,
        "ratios": ratios,
        "ratio": statistics.median(ratios),
        "one_link_ratios": hot_ratios,
        "one_link_ratio": statistics.median(hot_ratios),
        "links": SHARE_LINKS,
        "views_counted": views_counted,
        "links_opened": links_opened,
        "goal": RAW_RATIO_GOAL,
        "in_process_ms": parts,
    }


def _views_counted(links) -> tuple[int, int]:
    """(views in all, links opened at least once), where views are counted (with REDIS_URL,
    in Redis)."""
    from uploads import viewers

    fresh = list(type(links[0]).objects.filter(pk__in=[each.pk for each in links]))
    viewers.load_views(fresh)
    return sum(each.views for each in fresh), sum(1 for each in fresh if each.views)


def _count_without_flush_wait(link) -> None:
    from django.db import connection, transaction
    from django.db.models import F

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")
        type(link).objects.filter(pk=link.pk).update(views=F("views") + 1)


def _open_in_one_statement(token: str):
    """What link_get_public + link_count_view do, as one statement: the image's row if the link
    still opens (same rules), counted."""
    from django.db import connection

    from uploads.models import Image, ShareLink

    links, images = ShareLink._meta.db_table, Image._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {links} AS link SET views = link.views + 1 FROM {images} AS image "  # noqa: S608
            "WHERE link.token = %s AND image.id = link.image_id AND link.revoked IS NULL "
            "AND link.expires > now() AND (link.max_views IS NULL OR link.views < link.max_views) "
            "RETURNING link.id, link.download, image.key, image.content_type, image.title",
            [token],
        )
        return cursor.fetchone()


def share_request_parts(link, raw_path: str, repetitions: int = 300) -> dict:
    """Where one /raw request spends its time: the whole request and each step of it, in this
    process (Django's test client, no HTTP), medians."""
    from django.test import Client

    from uploads import links, signing, viewers
    from uploads.selectors import link_get_public

    client = Client(HTTP_HOST="127.0.0.1")
    viewer = "0" * 64
    steps = {
        "whole GET /raw (test client)": lambda: client.get(raw_path),
        "whole GET /bench/bare (test client)": lambda: client.get("/bench/bare"),
        "link_get_public (SELECT)": lambda: link_get_public(link.token),
        "link_count_view (UPDATE + PFADD)": lambda: links.link_count_view(link, viewer=viewer),
        "  of it viewers.add (Redis)": lambda: viewers.add(link, viewer),
        "signing.share_url (presign)": lambda: signing.share_url(link.image, download=False),
        # What-ifs, to compare: the count's UPDATE without waiting for its WAL flush; and the
        # lookup and the count in one statement (UPDATE ... RETURNING, joined to the image).
        "what-if: UPDATE, synchronous_commit off": lambda: _count_without_flush_wait(link),
        "what-if: lookup + count in one UPDATE": lambda: _open_in_one_statement(link.token),
    }
    times = {name: [] for name in steps}
    for _ in range(repetitions):  # in turn, so every step sees the same (busy) machine
        for name, step in steps.items():
            started = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - started)
    return {name: _ms(statistics.median(taken[10:])) for name, taken in times.items()}


def print_share(result: dict) -> None:
    if not result["measured"]:
        print(f"\n[3] Share-link opens: NOT MEASURED ({result['reason']})")
        return
    print(f"  {'request':<34} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7}   (median round)")
    for key in ("bare", "raw", "raw_one_link", "page"):
        if row := result[key]:
            print(
                f"  {row['name']:<34} {row['requests_per_s']:>8,.0f} {row['p50_ms']:>7.2f} "
                f"{row['p99_ms']:>7.2f}"
            )
    print("  in-process, ms per call (median):")
    for name, value in result["in_process_ms"].items():
        print(f"    {name:<42} {value:7.3f}")
    verdict = "met" if result["ratio"] >= RAW_RATIO_GOAL else "NOT met"
    print(
        f"  raw / bare throughput, {result['links']} links in turn: median {result['ratio']:.3f} "
        f"of {', '.join(f'{r:.3f}' for r in result['ratios'])}; goal >= {RAW_RATIO_GOAL}: "
        f"{verdict}"
    )
    print(
        f"  raw / bare throughput, one link (its row is every request's): median "
        f"{result['one_link_ratio']:.3f} of "
        f"{', '.join(f'{r:.3f}' for r in result['one_link_ratios'])} "
        f"({result['views_counted']:,} views counted in all, on {result['links_opened']} links)"
    )


# -- 4. HyperLogLog ------------------------------------------------------------------------------


def viewer_ids(count: int, run: str) -> list[str]:
    """`count` distinct viewers as the share views see them: viewers.viewer_id of a request
    (client IP and User-Agent, keyed hash); only the two headers it reads are filled in."""
    from types import SimpleNamespace

    from uploads.viewers import viewer_id

    agent = {"User-Agent": f"Mozilla/5.0 (bench {run})"}
    return [
        viewer_id(
            SimpleNamespace(
                META={"REMOTE_ADDR": f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"},
                headers=agent,
            )
        )
        for n in range(count)
    ]


def hll_spread(redis_url: str, trials: int) -> list[dict]:
    """The error over `trials` sets of viewers per count (one set can be lucky): Redis PFADD
    in batches and the same sketch viewers.add keeps in the database, built in memory."""
    import redis

    from uploads import hll

    client = redis.Redis.from_url(redis_url)
    key = f"uploads-bench:hll-spread:{secrets.token_hex(4)}"
    rows = []
    for count in VIEWER_COUNTS:
        errors = {"redis": [], "database": []}
        for trial in range(trials):
            ids = viewer_ids(count, run=f"spread {count} {trial}")
            client.delete(key)
            for start in range(0, count, 10_000):
                client.pfadd(key, *ids[start : start + 10_000])
            registers = hll.empty()
            for viewer in ids:
                hll.add(registers, int(viewer[:16], 16))
            errors["redis"].append((client.pfcount(key) - count) / count * 100)
            errors["database"].append((hll.count(bytes(registers)) - count) / count * 100)
        client.delete(key)
        row = {"viewers": count, "trials": trials}
        for counter, found in errors.items():
            row[f"{counter}_mean_abs_error_pct"] = statistics.fmean(abs(e) for e in found)
            row[f"{counter}_worst_error_pct"] = max(found, key=abs)
        rows.append(row)
    return rows


def measure_hll(alice, redis_url: str, *, trials: int) -> dict:
    """Both counters of uploads/viewers.py against the exact count, on fresh links."""
    import redis
    from django.test.utils import override_settings

    from uploads import hll, viewers
    from uploads.links import link_create
    from uploads.models import Image
    from uploads.services import image_store
    from uploads.tests import samples

    image = Image.objects.filter(owner=alice).first() or image_store(
        owner=alice, file=io.BytesIO(samples.photo()), filename="shared.jpg"
    )
    client = redis.Redis.from_url(redis_url)
    rows = []
    for count in VIEWER_COUNTS:
        ids = viewer_ids(count, run=f"{count}")
        link = link_create(image=image, created_by=alice)
        key = viewers._redis_key(link)
        client.delete(key)  # a fresh database reuses ids: a key may be left from another run
        with override_settings(REDIS_URL=redis_url):
            for viewer in ids:
                viewers.add(link, viewer)
            redis_estimate = viewers.count(link)
        redis_bytes = client.memory_usage(key)
        client.delete(key)
        in_memory = hll.empty()  # what viewers.add keeps in the row, built without the database
        for viewer in ids:
            hll.add(in_memory, int(viewer[:16], 16))
        with override_settings(REDIS_URL=""):
            if count <= DATABASE_ADDS_UP_TO:
                for viewer in ids:
                    viewers.add(link, viewer)
            else:
                # One locked row update per viewers.add: 100,000 of them would take minutes and
                # end in the same registers (checked at the smaller counts), so save them once.
                type(link).objects.filter(pk=link.pk).update(viewer_sketch=bytes(in_memory))
            database_estimate = viewers.count(link)
        link.refresh_from_db()
        rows.append(
            {
                "viewers": count,
                "redis_estimate": redis_estimate,
                "redis_error_pct": (redis_estimate - count) / count * 100,
                "redis_bytes": redis_bytes,
                "database_estimate": database_estimate,
                "database_error_pct": (database_estimate - count) / count * 100,
                "database_bytes": len(link.viewer_sketch or b""),
                "database_path": "viewers.add" if count <= DATABASE_ADDS_UP_TO else "saved once",
                "same_as_in_memory": bytes(link.viewer_sketch or b"") == bytes(in_memory),
            }
        )
    return {
        "rows": rows,
        "database_adds_up_to": DATABASE_ADDS_UP_TO,
        "spread": hll_spread(redis_url, trials),
    }


def print_hll(result: dict) -> None:
    print("\n[4] Distinct viewers, HyperLogLog estimate vs exact (one link per row)")
    print(
        f"  {'viewers':>8} | {'Redis PFCOUNT':>13} {'error':>7} {'MEMORY USAGE':>12} | "
        f"{'DB sketch':>9} {'error':>7} {'bytes':>6}"
    )
    for row in result["rows"]:
        print(
            f"  {row['viewers']:>8,} | {row['redis_estimate']:>13,} "
            f"{row['redis_error_pct']:>+6.2f}% {row['redis_bytes']:>12,} | "
            f"{row['database_estimate']:>9,} {row['database_error_pct']:>+6.2f}% "
            f"{row['database_bytes']:>6,}"
        )
    added = [row for row in result["rows"] if row["database_path"] == "viewers.add"]
    same = all(row["same_as_in_memory"] for row in added)
    print(
        f"  (DB sketch: viewers.add for each viewer up to {result['database_adds_up_to']:,}, "
        f"where it matched the sketch built in memory: {'yes' if same else 'NO'} at "
        f"{', '.join(f'{row["viewers"]:,}' for row in added)}; above, that sketch was saved "
        "once and read with viewers.count)"
    )
    spread = result["spread"]
    print(f"  over {spread[0]['trials']} sets of viewers each: mean |error|, worst error")
    for row in spread:
        print(
            f"  {row['viewers']:>8,} | Redis {row['redis_mean_abs_error_pct']:5.2f}% "
            f"{row['redis_worst_error_pct']:+6.2f}% | DB sketch "
            f"{row['database_mean_abs_error_pct']:5.2f}% {row['database_worst_error_pct']:+6.2f}%"
        )


# -- the run -------------------------------------------------------------------------------------


PARTS = ("signing", "memory", "share", "hll")


def run_bench(*, quick: bool, seconds: int, parts=PARTS) -> dict:
    problem = check_prerequisites()
    if problem:
        raise SystemExit(f"uploads bench: {problem}")
    run_id = f"{os.getpid()}_{secrets.token_hex(3)}"
    database = f"portal_bench_uploads_{run_id}"
    work = Path(tempfile.mkdtemp(prefix="uploads-bench-"))
    access_key, secret_key = f"bench-{secrets.token_hex(4)}", secrets.token_urlsafe(24)
    # weed keeps what two 200 MB uploads made it take (~1 GB) unless told a limit (FIELD-NOTES).
    os.environ.setdefault("GOMEMLIMIT", "256MiB")
    from devstack.servers import start_test_stack, stop_servers

    stack = start_test_stack(state_dir=work / "stack", access_key=access_key, secret_key=secret_key)
    redis_url = f"redis://127.0.0.1:6379/{REDIS_DB}"
    env = {
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(40),
        "ALLOWED_HOSTS": "127.0.0.1",
        "OIDC_ISSUER": stack[0].url,  # never called: sessions are made here, kept fresh
        "OIDC_CLIENT_ID": "bench",
        "OIDC_CLIENT_SECRET": "bench",
        "S3_BUCKET": BUCKET,
        "S3_ENDPOINT_URL": stack[1].url,
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret_key,
        "SITE_ORIGIN": "http://127.0.0.1",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{database}",
        "REDIS_URL": redis_url,
        "BENCH_CACHE_PREFIX": f"uploads-bench-{run_id}",
        "BENCH_STATIC_ROOT": str(work / "static"),
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    from accounts.tests.people import make_user
    from uploads import s3

    pg_admin(f'CREATE DATABASE "{database}"')
    started = time.perf_counter()
    results: dict = {"quick": quick}
    try:
        print(f"uploads bench: database {database}, Redis db {REDIS_DB}, SeaweedFS {stack[1].url}")
        call_command("migrate", verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        s3.bucket_create_private(bucket=BUCKET, origin=env["SITE_ORIGIN"])
        alice = make_user("alice")
        cookie = signed_in_cookie(alice)

        if "signing" in parts:
            results["signing"] = measure_signing(
                warm_repetitions=2_000 if quick else 20_000, cold_repetitions=15 if quick else 60
            )
            print_signing(results["signing"])
        if "memory" in parts:
            print("\n  (memory: making the photo, then one fresh app process per row)", flush=True)
            try:
                results["memory"] = measure_memory(env, cookie, work)
            except NotMeasured as error:
                results["memory"] = {"measured": False, "reason": str(error)}
            print_memory(results["memory"])
        if "share" in parts:
            results["share"] = measure_share(env, work, alice, seconds)
            print_share(results["share"])
        if "hll" in parts:
            results["hll"] = measure_hll(alice, redis_url, trials=5 if quick else 20)
            print_hll(results["hll"])
        print(f"\n(total bench time {time.perf_counter() - started:,.0f} s)")
        return results
    finally:
        connections.close_all()
        pg_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        _drop_keys(redis_url, env["BENCH_CACHE_PREFIX"])
        stop_servers(stack)
        shutil.rmtree(work, ignore_errors=True)


def _drop_keys(redis_url: str, prefix: str) -> None:
    """The bench's cache and session keys, and the share links' view and viewer counts."""
    import redis

    from uploads.viewers import REDIS_PREFIX, REDIS_VIEWS_PREFIX

    client = redis.Redis.from_url(redis_url)
    for pattern in (f"{prefix}:*", f"{REDIS_PREFIX}*", f"{REDIS_VIEWS_PREFIX}*"):
        keys = list(client.scan_iter(pattern, count=1000))
        if keys:
            client.delete(*keys)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, 3 s wrk runs")
    parser.add_argument("--seconds", type=int, help="seconds per wrk run")
    parser.add_argument(
        "--part", action="append", choices=PARTS, help="run only this part (repeatable)"
    )
    # `make bench BENCH_ARGS=...` passes the same options to every bench: ignore the others'.
    args, others = parser.parse_known_args()
    if others:
        print(f"uploads bench: ignoring {' '.join(others)} (orders_bench's options)")
    run_bench(
        quick=args.quick,
        seconds=args.seconds or (3 if args.quick else 10),
        parts=tuple(args.part or PARTS),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
