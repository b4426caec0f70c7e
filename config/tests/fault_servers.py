"""Servers of the fault tests' own, to stop and start at will: PostgreSQL, Redis, the local
stack (a second SeaweedFS and OpenID provider) and the portal itself under gunicorn.

The suite's shared servers (conftest.py's local_stack) are never touched: other tests use them.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from devstack.servers import (
    HOST,
    PortTaken,
    StackPorts,
    free_stack_ports,
    start_oidc_provider,
    start_seaweedfs,
    stop_processes,
    wait_until_up,
)
from portal.ratelimits import RATE_SETTINGS

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    ports = free_stack_ports()  # ports the OS hands out, like the stack's own
    return ports.provider


def _wait_for(check, *, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not start within {timeout:.0f} s")


def _answers(url: str) -> bool:
    try:
        requests.get(url, timeout=2, allow_redirects=False)
    except requests.RequestException:
        return False
    return True


# -- PostgreSQL ---------------------------------------------------------------------------------


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's bin directory (Debian's layout), if any."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: p.split("/")[4])
    return Path(found[-1]).parent if found else None


def _as_postgres_user() -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as the `postgres` account."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise FileNotFoundError("a `postgres` account to run PostgreSQL as (not root)") from None
    return ["runuser", "-u", "postgres", "--"]


@dataclass
class Postgres:
    bin: Path
    data: Path
    port: int
    log: Path
    home: Path

    @property
    def url(self) -> str:
        return f"postgres://postgres@{HOST}:{self.port}/portal"

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            [
                *_as_postgres_user(),
                *(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), *args),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses={HOST} -k {self.home} -c fsync=off"
        self._ctl("-w", "-o", options, "start")

    def stop(self) -> None:
        self._ctl("-w", "-m", "fast", "stop")

    def remove(self) -> None:
        shutil.rmtree(self.home, ignore_errors=True)


def start_postgres() -> Postgres:
    """A cluster of our own in a new temporary directory (owned by the account PostgreSQL runs
    as), with a database `portal`; trust authentication, on loopback only."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        raise FileNotFoundError("PostgreSQL's server binaries (/usr/lib/postgresql/*/bin)")
    home = Path(tempfile.mkdtemp(prefix="portal-faults-pg-"))
    runner = _as_postgres_user()
    if runner:
        account = pwd.getpwnam("postgres")
        os.chown(home, account.pw_uid, account.pw_gid)
    data = home / "data"
    initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"]
    subprocess.run([*runner, *initdb, "-E", "UTF8"], check=True, capture_output=True, timeout=120)
    server = Postgres(
        bin=bin_dir, data=data, port=free_port(), log=home / "postgres.log", home=home
    )
    server.start()
    subprocess.run(
        [str(bin_dir / "createdb"), "-h", HOST, "-p", str(server.port), "-U", "postgres", "portal"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return server


# -- Redis --------------------------------------------------------------------------------------


@dataclass
class Redis:
    port: int
    log: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [
                    "redis-server",
                    "--bind",
                    HOST,
                    "--port",
                    str(self.port),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        _wait_for(self._pings, what="redis-server")

    def _pings(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(host=HOST, port=self.port, socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        stop_processes(self.process)


def start_redis(work: Path) -> Redis:
    if not shutil.which("redis-server"):
        raise FileNotFoundError("redis-server")
    server = Redis(port=free_port(), log=work / "redis.log")
    server.start()
    return server


# -- the local stack, restartable ---------------------------------------------------------------


@dataclass
class Stack:
    ports: StackPorts
    state: Path
    access_key: str
    secret_key: str
    bucket: str = "portal-faults"
    provider: object = None
    s3: object = None

    @property
    def issuer(self) -> str:
        return f"http://{HOST}:{self.ports.provider}"

    @property
    def s3_url(self) -> str:
        return f"http://{HOST}:{self.ports.weed['s3.port']}"

    def start_provider(self) -> None:
        self.provider = start_oidc_provider(port=self.ports.provider, log_dir=self.state / "logs")
        wait_until_up(self.provider)

    def stop_provider(self) -> None:
        stop_processes(self.provider.process)

    def start_s3(self) -> None:
        self.s3 = start_seaweedfs(
            ports=self.ports.weed,
            data_dir=self.state / "s3",
            log_dir=self.state / "logs",
            access_key=self.access_key,
            secret_key=self.secret_key,
        )
        wait_until_up(self.s3)

    def stop_s3(self) -> None:
        stop_processes(self.s3.process, timeout=2)

    def stop(self) -> None:
        stop_processes(*(s.process for s in (self.provider, self.s3) if s is not None))


def start_stack(work: Path) -> Stack:
    keys = {"access_key": f"faults-{secrets.token_hex(4)}", "secret_key": secrets.token_urlsafe(24)}
    for attempt in (1, 2):
        stack = Stack(ports=free_stack_ports(), state=work / f"stack-{attempt}", **keys)
        try:
            stack.start_provider()
            stack.start_s3()
        except PortTaken:
            stack.stop()
            if attempt == 2:
                raise
            continue
        except BaseException:
            stack.stop()
            raise
        return stack
    raise AssertionError("unreachable")


# -- the portal ---------------------------------------------------------------------------------


@dataclass
class Portal:
    port: int
    env: dict[str, str]
    log: Path
    process: subprocess.Popen | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def manage(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *args],
            env=self.env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            timeout=180,
        )

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "gunicorn"),
                    "config.wsgi",
                    "--bind",
                    f"{HOST}:{self.port}",
                    "--worker-class",
                    "gthread",
                    # One process with two threads: each thread keeps its own database
                    # connection, so a restart leaves stale ones for the health check to find.
                    "--workers",
                    "1",
                    "--threads",
                    "2",
                    "--timeout",
                    "60",
                ],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        _wait_for(lambda: _answers(self.url + "/"), what="the portal (gunicorn)", timeout=60)

    def stop(self) -> None:
        stop_processes(self.process)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def portal_environment(*, database_url: str, redis_url: str, stack: Stack) -> dict[str, str]:
    """The environment of a portal process on our servers (DEBUG=1: the local stack defaults)."""
    env = {
        name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TMPDIR") if name in os.environ
    }
    env |= {
        "DEBUG": "1",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "OIDC_ISSUER": stack.issuer,
        "OIDC_HTTP_TIMEOUT": "2",
        # The provider makes new keys when it restarts; fetch them at once.
        "OIDC_JWKS_MIN_REFETCH_SECONDS": "0",
        "S3_ENDPOINT_URL": stack.s3_url,
        "S3_BUCKET": stack.bucket,
        "AWS_ACCESS_KEY_ID": stack.access_key,
        "AWS_SECRET_ACCESS_KEY": stack.secret_key,
        "DB_CONN_MAX_AGE": "600",
        "LOG_LEVEL": "WARNING",
    }
    # The tests retry until a fault shows, all from 127.0.0.1: limits on, but far from refusing.
    env |= dict.fromkeys(RATE_SETTINGS, "100000/m")
    return env
