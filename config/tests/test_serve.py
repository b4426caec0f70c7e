"""`make serve`, the production server: real gunicorn processes with production settings against
the test session's provider and S3. Pages, hashed static files with immutable caching, several
servers from one checkout, and a SIGTERM that lets the request in flight finish."""

from __future__ import annotations

import os
import re
import runpy
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import threading

import pytest
import requests

from config.tests.portal_servers import (
    BEHIND_THE_BALANCER,
    GUNICORN_COMMAND,
    ROOT,
    production_env,
    start,
)

MAKE_SERVE = ["make", "--no-print-directory", "serve"]
GUNICORN_VARIABLES = [
    f"GUNICORN_{name}"
    for name in (
        "THREADS",
        "TIMEOUT",
        "GRACEFUL_TIMEOUT",
        "KEEPALIVE",
        "MAX_REQUESTS",
        "MAX_REQUESTS_JITTER",
        "ACCESS_LOG",
    )
]
HASHED_STYLESHEET = re.compile(r'href="(/static/css/portal\.[0-9a-f]{12}\.css)"')

# Each server here has a SQLite file of its own; the suite's DATABASE_URL and REDIS_URL
# don't reach it.
pytestmark = pytest.mark.own_servers


@pytest.fixture
def serve_env(local_stack, tmp_path):
    """Production settings; the pages these tests ask for need no tables, so an empty SQLite
    file will do (the scale-out tests use the real shared database)."""
    return production_env(local_stack, database_url=f"sqlite:///{tmp_path / 'serve.sqlite3'}")


@pytest.fixture
def servers():
    """Servers a test started, all stopped at its end whatever happened."""
    started = []
    yield started
    for server in started:
        server.stop()


def get(server, path, **headers):
    return requests.get(server.url(path), headers={**BEHIND_THE_BALANCER, **headers}, timeout=10)


def hashed_stylesheet(server) -> str:
    home = get(server, "/")
    assert home.status_code == 200, home.text[:500]
    found = HASHED_STYLESHEET.search(home.text)
    assert found, "the page links no hashed stylesheet: is DEBUG off?"
    return found.group(1)


# -- gunicorn's settings ---------------------------------------------------------------------


def gunicorn_settings(monkeypatch, **env) -> dict:
    for name in ("PORT", "BIND", "WEB_CONCURRENCY", "LOG_LEVEL", *GUNICORN_VARIABLES):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(ROOT / "config" / "gunicorn.py"))


def test_gunicorn_defaults_are_sized_from_the_cores(monkeypatch):
    config = gunicorn_settings(monkeypatch)
    assert config["worker_class"] == "gthread"
    assert config["workers"] == len(os.sched_getaffinity(0))
    assert config["threads"] == 4
    assert config["bind"] == ["127.0.0.1:8000"]
    assert config["max_requests"] > 0
    assert 0 < config["max_requests_jitter"] < config["max_requests"]
    assert config["graceful_timeout"] == 30
    assert config["forwarded_allow_ips"] == ""  # proxies are TRUSTED_PROXY_COUNT's business
    assert config["control_socket_disable"] is True
    assert config["accesslog"] is None
    assert config["errorlog"] == "-"


def test_gunicorn_reads_port_bind_workers_and_threads(monkeypatch):
    config = gunicorn_settings(monkeypatch, PORT="9123", WEB_CONCURRENCY="3", GUNICORN_THREADS="8")
    assert (config["bind"], config["workers"], config["threads"]) == (["127.0.0.1:9123"], 3, 8)
    config = gunicorn_settings(monkeypatch, PORT="9123", BIND="0.0.0.0:8000")
    assert config["bind"] == ["0.0.0.0:8000"]


def test_a_bad_number_stops_gunicorn_naming_the_variable(monkeypatch):
    with pytest.raises(SystemExit, match="GUNICORN_THREADS must be a whole number, not 'four'"):
        gunicorn_settings(monkeypatch, GUNICORN_THREADS="four")


# -- make serve --------------------------------------------------------------------------------


def test_make_serve_runs_with_debug_off_and_serves_hashed_immutable_static_files(
    serve_env, servers, tmp_path
):
    serve_env.pop("DEBUG")  # as a deploy runs it: `make serve`, DEBUG not given
    server = start(serve_env, log_path=tmp_path / "serve.log", command=MAKE_SERVE)
    servers.append(server)
    stylesheet = hashed_stylesheet(server)

    response = get(server, stylesheet, **{"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/css")
    assert "immutable" in response.headers["Cache-Control"]
    max_age = int(re.search(r"max-age=(\d+)", response.headers["Cache-Control"]).group(1))
    assert max_age >= 365 * 24 * 3600
    assert response.headers["Content-Encoding"] == "gzip"
    assert "Listening at: http://127.0.0.1:" in server.log()
    assert tables_in(serve_env["DATABASE_URL"]) == set()  # it never migrates


def tables_in(sqlite_url: str) -> set[str]:
    path = sqlite_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as database:
        rows = database.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {name for (name,) in rows}


def test_make_migrate_is_the_separate_deploy_step(serve_env):
    serve_env.pop("DEBUG")
    result = subprocess.run(
        ["make", "--no-print-directory", "migrate"],
        cwd=ROOT,
        env=serve_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert {"django_migrations", "orders_order", "uploads_sharelink"} <= tables_in(
        serve_env["DATABASE_URL"]
    )


def test_make_serve_refuses_to_start_without_the_production_settings(serve_env, tmp_path):
    serve_env.pop("DEBUG")
    serve_env.pop("SECRET_KEY")
    result = subprocess.run(
        MAKE_SERVE, cwd=ROOT, env=serve_env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "DEBUG is off and these required settings are missing: SECRET_KEY" in result.stderr


def test_several_servers_from_one_checkout_start_at_once(serve_env, servers, tmp_path):
    """Two start together (their static files collected in turn), then a third starts while
    the first two serve, and nobody is sent a file that is being rewritten."""
    first, second = (
        threading.Thread(target=lambda n=n: servers.append(start_numbered(serve_env, tmp_path, n)))
        for n in (1, 2)
    )
    first.start(), second.start()
    first.join(), second.join()
    assert len(servers) == 2, "a server did not start: see the logs in " + str(tmp_path)

    stylesheet = hashed_stylesheet(servers[0])
    expected = get(servers[0], stylesheet, **{"Accept-Encoding": "gzip"}).content
    assert hashed_stylesheet(servers[1]) == stylesheet

    served, stop = [], threading.Event()

    def keep_fetching():
        while not stop.is_set():
            for server in servers[:2]:
                response = get(server, stylesheet, **{"Accept-Encoding": "gzip"})
                served.append((response.status_code, response.content == expected))

    fetcher = threading.Thread(target=keep_fetching)
    fetcher.start()
    try:
        servers.append(start_numbered(serve_env, tmp_path, 3))
    finally:
        stop.set()
        fetcher.join()
    assert served
    assert set(served) == {(200, True)}
    assert hashed_stylesheet(servers[2]) == stylesheet
    link = ROOT / "staticfiles"
    assert link.is_symlink()
    assert (link / "staticfiles.json").is_file()
    assert not list((ROOT / ".staticfiles").glob(".collecting-*"))


def start_numbered(serve_env, tmp_path, number):
    return start(dict(serve_env), log_path=tmp_path / f"serve-{number}.log", command=MAKE_SERVE)


def test_collecting_twice_reuses_the_build(serve_env):
    def collect() -> str:
        result = subprocess.run(
            [sys.executable, "-m", "config.collectstatic"],
            cwd=ROOT,
            env=serve_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return os.readlink(ROOT / "staticfiles")

    assert collect() == collect()


# -- SIGTERM -----------------------------------------------------------------------------------


def test_sigterm_finishes_the_request_in_flight_then_exits_cleanly(serve_env, servers, tmp_path):
    """A rolling deploy's SIGTERM arrives while a form's body is still on its way: the request
    is answered in full, and gunicorn exits 0 within its graceful timeout."""
    graceful_timeout = 10
    serve_env["GUNICORN_GRACEFUL_TIMEOUT"] = str(graceful_timeout)
    server = start(serve_env, log_path=tmp_path / "serve.log", command=GUNICORN_COMMAND)
    servers.append(server)

    csrf = secrets.token_hex(16)  # a 32-character secret is a valid token for itself
    body = f"csrfmiddlewaretoken={csrf}&note={'x' * 4000}".encode()
    head = (
        f"POST / HTTP/1.1\r\nHost: {server.address}\r\n"
        f"Origin: https://{server.address}\r\n"
        "X-Forwarded-Proto: https\r\nX-Forwarded-For: 203.0.113.10\r\n"
        f"Cookie: csrftoken={csrf}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    half = len(body) // 2
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as connection:
        connection.sendall(head + body[:half])
        # Let the worker take the connection and start reading the body (not an assertion).
        threading.Event().wait(1.0)
        os.kill(server.process.pid, signal.SIGTERM)  # the master, as an orchestrator does
        threading.Event().wait(0.5)
        connection.sendall(body[half:])
        response = b""
        while chunk := connection.recv(65536):
            response += chunk

    status_line = response.split(b"\r\n", 1)[0]
    assert status_line == b"HTTP/1.1 200 OK", response[:2000]
    length = int(re.search(rb"(?i)\r\ncontent-length: (\d+)\r\n", response).group(1))
    assert len(response.split(b"\r\n\r\n", 1)[1]) == length  # the whole page, not cut off
    assert server.process.wait(timeout=graceful_timeout + 5) == 0
    assert "Handling signal: term" in server.log()


def test_a_changed_static_file_makes_a_new_build(settings, tmp_path):
    from config.collectstatic import sources_digest

    unchanged = sources_digest()
    assert sources_digest() == unchanged
    extra = tmp_path / "static"
    extra.mkdir()
    (extra / "added.css").write_text("p { color: black }")
    settings.STATICFILES_DIRS = [*settings.STATICFILES_DIRS, extra]
    added = sources_digest()
    assert added != unchanged
    (extra / "added.css").write_text("p { color: navy }")
    assert sources_digest() not in (unchanged, added)
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": "other.Storage"}}
    assert sources_digest() not in (unchanged, added)
