"""Log lines: JSON with the request's id, user, IP, method, path, status and duration; the
request id from X-Request-ID only when trusted and plain; share tokens masked everywhere."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import uuid

import pytest

from config.tests.test_settings import PRODUCTION_ENV, ROOT
from portal.logs import json_formatter, mask_tokens

pytestmark = pytest.mark.django_db

FINISHED = "request_finished"


@pytest.fixture
def json_lines():
    """Every line logged meanwhile, rendered as production renders it, parsed."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(json_formatter())
    root = logging.getLogger()
    root.addHandler(handler)

    def lines() -> list[dict]:
        # Every line must be one JSON object: json.loads fails on anything else.
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    yield lines
    root.removeHandler(handler)


def finished(lines: list[dict]) -> dict:
    (line,) = [line for line in lines if line["event"] == FINISHED]
    return line


def test_a_request_ends_with_one_json_line_of_who_what_and_how_long(json_lines, client, alice):
    client.force_login(alice)
    response = client.get("/orders/", {"status": "pending"}, REMOTE_ADDR="192.0.2.10")
    assert response.status_code == 200
    line = finished(json_lines())
    assert line["request_id"] == response.headers["X-Request-ID"]
    assert uuid.UUID(line["request_id"]).version == 4
    assert line["user_id"] == alice.pk
    assert (line["method"], line["path"], line["status"]) == ("GET", "/orders/", 200)
    assert isinstance(line["duration_ms"], float)
    assert line["duration_ms"] >= 0
    assert line["ip"] == "192.0.2.10"
    assert line["level"] == "info"
    assert "pending" not in json.dumps(line)  # no query string
    assert "request" not in line  # django-structlog's "GET /path?query" is dropped


def test_other_lines_of_the_request_carry_its_id_user_and_path(json_lines, client, alice):
    client.force_login(alice)
    response = client.get("/orders/NO-SUCH-ORDER/")
    assert response.status_code == 404
    lines = json_lines()
    not_found = [line for line in lines if line["logger"] == "django.request"]
    assert not_found, lines
    for line in [*not_found, finished(lines)]:
        assert line["request_id"] == response.headers["X-Request-ID"]
        assert (line["user_id"], line["path"]) == (alice.pk, "/orders/NO-SUCH-ORDER/")
    assert finished(lines)["level"] == "warning"


@pytest.mark.usefixtures("op_settings")
def test_a_bearer_caller_is_the_user_of_the_line(json_lines, client, token_for, alice):
    response = client.get("/api/me", headers=token_for(alice))
    assert response.status_code == 200
    assert finished(json_lines())["user_id"] == alice.pk


def test_a_visitor_has_no_user_id(json_lines, client):
    client.get("/")
    assert finished(json_lines())["user_id"] is None


def test_a_lone_log_line_outside_a_request_has_no_request_id(json_lines):
    logging.getLogger("orders").warning("stock is low for %s", "PEN-BLUE")
    (line,) = json_lines()
    assert line["event"] == "stock is low for PEN-BLUE"
    assert (line["logger"], line["level"]) == ("orders", "warning")
    assert "request_id" not in line


def test_x_request_id_is_ignored_unless_the_upstream_is_trusted(json_lines, client, settings):
    settings.TRUST_REQUEST_ID_HEADER = False
    response = client.get("/", headers={"X-Request-ID": "from-the-client"})
    assert response.headers["X-Request-ID"] != "from-the-client"
    assert uuid.UUID(response.headers["X-Request-ID"])
    assert finished(json_lines())["request_id"] == response.headers["X-Request-ID"]


def test_a_trusted_x_request_id_is_used_and_echoed(json_lines, client, settings):
    settings.TRUST_REQUEST_ID_HEADER = True
    offered = "Root=1-67891233-abcdef012345678912345678"
    response = client.get("/", headers={"X-Request-ID": offered})
    assert response.headers["X-Request-ID"] == offered
    assert finished(json_lines())["request_id"] == offered


@pytest.mark.parametrize(
    "offered",
    [
        "",
        "a" * 129,
        'x", "user_id": 1, "y": "',
        "two words",
        "line\\nbreak",
        "<script>",
        "ünïcode",
    ],
)
def test_a_trusted_x_request_id_that_is_long_or_odd_is_replaced(client, settings, offered):
    settings.TRUST_REQUEST_ID_HEADER = True
    response = client.get("/", headers={"X-Request-ID": offered})
    assert uuid.UUID(response.headers["X-Request-ID"]).version == 4


def test_each_request_gets_its_own_id(client):
    ids = {client.get("/").headers["X-Request-ID"] for _ in range(3)}
    assert len(ids) == 3


def test_a_request_that_fails_is_logged_with_its_status_duration_and_traceback(
    json_lines, client, settings
):
    settings.ROOT_URLCONF = "config.tests.urls"  # the real URLs plus /boom/, which raises
    client.raise_request_exception = False
    response = client.get("/boom/")
    assert response.status_code == 500
    lines = json_lines()
    (failed,) = [line for line in lines if line["event"] == "request_failed"]
    assert (failed["status"], failed["path"], failed["level"]) == (500, "/boom/", "error")
    assert "duration_ms" in failed
    assert "RuntimeError: deliberate failure" in failed["exception"]
    assert response.headers["X-Request-ID"] == failed["request_id"]
    assert not [line for line in lines if line["event"] == FINISHED]


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("/s/AbC-123_x", "/s/***"),
        ("/s/AbC-123_x/raw", "/s/***/raw"),
        ("/links/AbC/revoke/", "/links/***/revoke/"),
        ("/api/links/AbC?x=1", "/api/links/***?x=1"),
        ("Not Found: /s/AbC", "Not Found: /s/***"),
        ("http://portal.example.com/s/AbC#top", "http://portal.example.com/s/***#top"),
        ("/orders/ORD-1/", "/orders/ORD-1/"),
        ("/images/12/links/", "/images/12/links/"),
    ],
)
def test_share_tokens_are_masked_in_any_text(text, masked):
    assert mask_tokens(text) == masked


def test_a_token_in_a_foreign_log_line_is_masked(json_lines):
    logging.getLogger("uploads").warning("could not open %s", "/s/SECRET-TOKEN")
    (line,) = json_lines()
    assert line["event"] == "could not open /s/***"


def run_python(code: str, **env_overrides) -> subprocess.CompletedProcess:
    unset = {*PRODUCTION_ENV, "LOG_FORMAT", "LOG_LEVEL"}
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update(PRODUCTION_ENV, DJANGO_SETTINGS_MODULE="config.settings", **env_overrides)
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


LOG_A_LINE = (
    "import django, logging; django.setup(); "
    "logging.getLogger('orders').warning('hello from %s', 'production')"
)


def test_with_debug_off_lines_are_json_on_standard_error():
    result = run_python(LOG_A_LINE)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    (line,) = [json.loads(text) for text in result.stderr.splitlines()]
    assert line["event"] == "hello from production"
    assert (line["level"], line["logger"]) == ("warning", "orders")
    assert line["timestamp"].endswith("Z")


def test_log_format_console_gives_readable_lines():
    result = run_python(LOG_A_LINE, LOG_FORMAT="console")
    assert result.returncode == 0, result.stderr
    assert "hello from production" in result.stderr
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.stderr.splitlines()[0])


def test_an_unknown_log_format_stops_start_up_naming_it():
    result = run_python(LOG_A_LINE, LOG_FORMAT="xml")
    assert result.returncode != 0
    assert 'LOG_FORMAT: "xml"' in result.stderr
