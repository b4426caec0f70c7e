"""Real production servers for tests: `make serve` (or its gunicorn command) with production
settings, pointed at the test session's provider and S3, and at the database and Redis given.

Each binds 127.0.0.1:0 and reports the port the OS gave it in gunicorn's "Listening at" line.
Requests go as from behind one load balancer (TRUSTED_PROXY_COUNT=1): `X-Forwarded-Proto:
https`, and the client's address in X-Forwarded-For.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = [str(Path(sys.executable).with_name("gunicorn")), "-c", "config/gunicorn.py"]
GUNICORN_COMMAND = [*GUNICORN, "config.wsgi"]
LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")
BEHIND_THE_BALANCER = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.10"}


def production_env(local_stack, *, database_url: str, redis_url: str = "", **overrides) -> dict:
    """The environment of a production process on this machine: DEBUG off, every required
    setting given, nothing inherited from the test run's own settings."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("DJANGO_SETTINGS_MODULE", "DEBUG", "REDIS_URL", "DATABASE_URL")
    }
    env.update(
        DEBUG="0",
        SECRET_KEY="serve-test-" + "k" * 50,
        ALLOWED_HOSTS="127.0.0.1",
        OIDC_ISSUER=local_stack.issuer,
        OIDC_CLIENT_ID="portal-local",
        OIDC_CLIENT_SECRET="portal-local-secret",
        S3_BUCKET=local_stack.bucket,
        S3_ENDPOINT_URL=local_stack.s3_endpoint_url,
        AWS_ACCESS_KEY_ID=local_stack.access_key,
        AWS_SECRET_ACCESS_KEY=local_stack.secret_key,
        SITE_ORIGIN="https://127.0.0.1",
        # Cookies go over the balancer's HTTPS in production; these tests speak plain HTTP to
        # the processes behind it.
        SECURE_COOKIES="0",
        TRUSTED_PROXY_COUNT="1",
        DATABASE_URL=database_url,
        BIND="127.0.0.1:0",
        WEB_CONCURRENCY="1",
        GUNICORN_THREADS="2",
        PYTHONUNBUFFERED="1",
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(overrides)
    return env


@dataclass
class PortalServer:
    process: subprocess.Popen
    log_path: Path
    port: int = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        return f"http://{self.address}{path}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM to the whole process group (make, gunicorn and its workers); the exit code."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            return self.process.wait(timeout=5)


def start(env: dict, *, log_path: Path, command: list[str] = GUNICORN_COMMAND) -> PortalServer:
    """Start a server and wait until it answers; its own process group, so stop() ends it all."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = PortalServer(process=process, log_path=log_path)
    try:
        wait_until_up(server)
    except BaseException:
        server.stop(timeout=10)
        raise
    return server


def wait_until_up(server: PortalServer, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"the server exited while starting:\n{server.log()[-3000:]}")
        if not server.port and (found := LISTENING.search(server.log())):
            server.port = int(found.group(1))
        if server.port:
            try:
                requests.get(server.url("/"), headers=BEHIND_THE_BALANCER, timeout=5)
            except requests.RequestException:
                pass
            else:
                return
        time.sleep(0.1)
    raise AssertionError(f"the server did not answer within {timeout:.0f} s:\n{server.log()}")
