"""What the benches and the load run share: prerequisites, the admin database connection, a
signed-in session, and the portal under gunicorn on a free port.

Everything here runs on 127.0.0.1 and needs PostgreSQL (user postgres, trust auth) and Redis on
their standard ports, and wrk (`apt-get install -y wrk`).
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
READY_PATH = "/bench/bare"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def check_prerequisites() -> str | None:
    """None when wrk, PostgreSQL and Redis are there; otherwise what is missing and how to fix."""
    if not shutil.which("wrk"):
        return "wrk is not installed: apt-get install -y wrk"
    import psycopg
    import redis

    try:
        psycopg.connect(PG_ADMIN_URL, connect_timeout=3).close()
    except psycopg.Error as error:
        return f"PostgreSQL is not reachable at 127.0.0.1:5432 as user postgres: {error}"
    try:
        redis.Redis(host="127.0.0.1", port=6379, socket_timeout=3).ping()
    except redis.RedisError as error:
        return f"Redis is not reachable at 127.0.0.1:6379: {error}"
    return None


def pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


def http_get(port: int, path: str, cookie: str = "", headers: dict | None = None):
    """(status, body) of one GET to 127.0.0.1:port."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        sent = {**({"Cookie": cookie} if cookie else {}), **(headers or {})}
        conn.request("GET", path, headers=sent)
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        conn.close()


def signed_in_cookie(user) -> str:
    """A session in the production backend (Redis), as our sign-in would leave it."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    from accounts import signin
    from accounts.roles import roles_of

    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session[signin.SESSION_ROLES] = sorted(roles_of(user))
    # Fresh for the whole run: the refresh middleware must not send us to the provider.
    session[signin.SESSION_REFRESH_DUE] = time.time() + 30 * 86400
    session.create()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


def drop_redis_keys(redis_url: str, *patterns: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    for pattern in patterns:
        keys = list(client.scan_iter(pattern, count=1000))
        if keys:
            client.delete(*keys)


class Gunicorn:
    """The portal under gunicorn on a free port of 127.0.0.1, up and answering once made.

    `config`: a gunicorn config file (the production one sets the worker class, workers and
    threads from the environment); without it, `worker_class`, `workers` and `threads`."""

    def __init__(
        self,
        env: dict[str, str],
        log_path: Path,
        *,
        workers: int = 2,
        worker_class: str = "sync",
        threads: int = 1,
        config: Path | None = None,
    ):
        self.port = free_port()
        self.log_path = log_path
        self.log = log_path.open("a")
        if config is not None:
            options = ["--config", str(config)]
        else:
            options = ["--workers", str(workers), "--worker-class", worker_class]
            options += ["--threads", str(threads)]
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "gunicorn", "config.wsgi:application", *options),
                *("--bind", f"127.0.0.1:{self.port}", "--log-level", "warning"),
            ],
            cwd=ROOT,
            env={**os.environ, **env, "PORT": str(self.port)},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if http_get(self.port, READY_PATH)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn did not start:\n{log_path.read_text()[-3000:]}")

    def pids(self) -> list[int]:
        """The arbiter and its workers."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [self.process.pid, *(int(pid) for pid in children.read_text().split())]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
