"""/healthz and /readyz against the real servers of the test stack; faults are injected by
pointing a check at a closed port, a silent port or a missing bucket (a mock only for the
database's cursor)."""

from __future__ import annotations

import logging
import socket
import time
from contextlib import contextmanager
from unittest import mock

import pytest
from django.conf import settings
from django.core import checks
from django.db import OperationalError
from django.test import Client
from django.test.utils import override_settings
from django.urls import reverse

from accounts import provider, signin
from config import health
from uploads import s3

SESSIONS_IN_DB = "django.contrib.sessions.backends.db"


@pytest.fixture(autouse=True)
def _fresh_checks():
    health.forget_remembered_checks()
    yield
    health.forget_remembered_checks()
    provider.clear_caches()


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on: connections are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def silent_port():
    """A port that takes connections and never answers: a hung server."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield server.getsockname()[1]


@contextmanager
def head_buckets_sent():
    """The HeadBucket requests the probe client (for the current settings) sends meanwhile: a
    botocore event hook counts the real requests, nothing is replaced."""
    sent = []

    def count(**event):
        sent.append(event["request"].url)

    events = s3.probe_client(timeout=settings.READYZ_TIMEOUT_SECONDS).meta.events
    events.register("before-send.s3.HeadBucket", count, unique_id="test-count")
    try:
        yield sent
    finally:
        events.unregister("before-send.s3.HeadBucket", unique_id="test-count")


def readyz(client=None, **headers):
    response = (client or Client()).get(health.READYZ_PATH, **headers)
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    return response


def test_healthz_answers_without_touching_anything():
    """No `db` fixture: a query would fail the test."""
    before = sum(provider.provider_calls.values())
    response = Client().get(health.HEALTHZ_PATH)

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"
    assert sum(provider.provider_calls.values()) == before


@pytest.mark.django_db
def test_all_ok_is_200_with_each_check_and_its_time():
    response = readyz()

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "cache", "storage", "provider"}
    for name, result in body["checks"].items():
        assert result["ok"] is True, name
        assert isinstance(result["ms"], float), name
        assert "error" not in result
    expected = "redis" if settings.REDIS_URL else "local memory"
    assert body["checks"]["cache"]["backend"] == expected


@pytest.mark.django_db
@override_settings(REDIS_URL="", SESSION_ENGINE=SESSIONS_IN_DB)
def test_without_redis_the_cache_is_local_memory_and_ok():
    body = readyz().json()
    assert body["checks"]["cache"] == {"ok": True, "ms": mock.ANY, "backend": "local memory"}
    assert body["status"] == "ok"


@pytest.mark.django_db
def test_s3_unreachable_is_degraded_not_down(closed_port):
    with (
        override_settings(S3_ENDPOINT_URL=f"http://127.0.0.1:{closed_port}"),
        head_buckets_sent() as sent,
    ):
        response = readyz()

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    storage = body["checks"]["storage"]
    assert storage["ok"] is False
    assert storage["error"] == "S3 not reachable (EndpointConnectionError)"
    assert str(closed_port) not in storage["error"]
    assert len(sent) == 1  # no retries
    assert all(body["checks"][name]["ok"] for name in ("database", "cache", "provider"))


@pytest.mark.django_db
@override_settings(S3_BUCKET="portal-no-such-bucket")
def test_a_missing_bucket_is_degraded():
    response = readyz()

    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"]["storage"] == {
        "ok": False,
        "ms": mock.ANY,
        "error": "bucket not found (404)",
    }


@pytest.mark.django_db
def test_wrong_s3_keys_are_degraded_and_the_key_is_not_shown():
    with override_settings(AWS_SECRET_ACCESS_KEY="not-the-secret-at-all"):
        storage = readyz().json()["checks"]["storage"]

    assert storage["ok"] is False
    assert storage["error"] == "access denied (403)"


@pytest.mark.django_db
@override_settings(READYZ_TIMEOUT_SECONDS=0.2)
def test_a_hung_s3_gives_up_after_the_timeout_without_retrying(silent_port):
    with (
        override_settings(S3_ENDPOINT_URL=f"http://127.0.0.1:{silent_port}"),
        head_buckets_sent() as sent,
    ):
        storage = readyz().json()["checks"]["storage"]

    assert storage["ok"] is False
    assert storage["error"] == "S3 not reachable (ReadTimeoutError)"
    assert len(sent) == 1


@pytest.mark.django_db
def test_provider_unreachable_is_degraded(closed_port):
    with override_settings(OIDC_ISSUER=f"http://127.0.0.1:{closed_port}"):
        response = readyz()

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["provider"] == {
        "ok": False,
        "ms": mock.ANY,
        "error": "the provider could not be reached for the discovery request",
    }
    assert body["checks"]["storage"]["ok"] is True


@pytest.mark.django_db
@override_settings(READYZ_TIMEOUT_SECONDS=0.2)
def test_a_hung_provider_gives_up_after_the_timeout(silent_port):
    with override_settings(OIDC_ISSUER=f"http://127.0.0.1:{silent_port}"):
        body = readyz().json()

    assert body["status"] == "degraded"
    assert body["checks"]["provider"]["error"] == (
        "the provider did not answer the discovery request in time"
    )


@pytest.mark.django_db
def test_a_provider_with_another_issuer_is_degraded(local_stack):
    # Same server, other spelling: its document names the issuer without the trailing slash.
    issuer = local_stack.issuer + "/"
    with override_settings(OIDC_ISSUER=issuer):
        provider_check = readyz().json()["checks"]["provider"]

    assert provider_check["ok"] is False
    assert "not the configured" in provider_check["error"]


@pytest.mark.django_db
def test_a_failing_database_fails_the_probe_and_is_not_logged_as_an_error(caplog):
    caplog.set_level(logging.INFO)
    with mock.patch(
        "django.db.backends.utils.CursorWrapper.execute",
        side_effect=OperationalError("server closed the connection unexpectedly"),
    ):
        response = readyz()

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["checks"]["database"] == {
        "ok": False,
        "ms": mock.ANY,
        "error": "query failed (OperationalError)",
    }
    assert body["checks"]["storage"]["ok"] is True
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.mark.django_db
def test_an_unexpected_exception_in_a_check_is_an_answer_too(caplog):
    with mock.patch.object(s3, "bucket_answers", side_effect=RuntimeError("token=abc")):
        response = readyz()

    assert response.status_code == 200
    assert response.json()["checks"]["storage"]["error"] == "unexpected RuntimeError"
    assert "token=abc" not in response.content.decode()
    assert "readiness check check_storage raised" in caplog.text


@pytest.mark.django_db
def test_a_failing_cache_that_holds_the_sessions_fails_the_probe(closed_port):
    url = f"redis://127.0.0.1:{closed_port}/0"
    with override_settings(REDIS_URL=url, SESSION_ENGINE=health.SESSIONS_IN_CACHE):
        response = readyz()

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["checks"]["cache"] == {
        "ok": False,
        "ms": mock.ANY,
        "error": "Redis not answering (ConnectionError)",
    }


@pytest.mark.django_db
def test_a_failing_cache_without_the_sessions_is_only_degraded(closed_port):
    url = f"redis://:a-redis-password@127.0.0.1:{closed_port}/0"
    with override_settings(REDIS_URL=url, SESSION_ENGINE=SESSIONS_IN_DB):
        response = readyz()

    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"]["cache"]["ok"] is False
    assert "a-redis-password" not in response.content.decode()


@pytest.mark.django_db
def test_storage_is_asked_once_per_cache_window():
    with head_buckets_sent() as sent:
        first, second = readyz().json(), readyz().json()

    assert len(sent) == 1
    assert first["checks"]["storage"]["ok"] is True
    assert "cached" not in first["checks"]["storage"]
    assert second["checks"]["storage"] == {**first["checks"]["storage"], "cached": True}


@pytest.mark.django_db
@override_settings(READYZ_STORAGE_CACHE_SECONDS=0)
def test_without_a_cache_window_every_probe_asks_storage():
    with head_buckets_sent() as sent:
        readyz(), readyz()
    assert len(sent) == 2


@pytest.mark.django_db
def test_a_failed_storage_answer_is_reused_too(closed_port):
    with (
        override_settings(S3_ENDPOINT_URL=f"http://127.0.0.1:{closed_port}"),
        head_buckets_sent() as sent,
    ):
        first, second = readyz().json(), readyz().json()

    assert len(sent) == 1
    assert first["checks"]["storage"]["ok"] is second["checks"]["storage"]["ok"] is False
    assert second["checks"]["storage"]["cached"] is True


@pytest.mark.django_db
def test_the_provider_is_asked_once_per_cache_window():
    before = provider.provider_calls["discovery"]
    first, second = readyz().json(), readyz().json()

    assert provider.provider_calls["discovery"] - before == 1
    assert first["checks"]["provider"]["ok"] is True
    assert second["checks"]["provider"]["cached"] is True


@pytest.mark.django_db
@override_settings(ALLOWED_HOSTS=["portal.example.com"])
def test_probes_are_answered_for_any_host():
    client = Client()
    for path in (health.HEALTHZ_PATH, health.READYZ_PATH):
        assert client.get(path, HTTP_HOST="10.0.3.7:8000").status_code == 200
    # Everything else still checks the host.
    assert client.get("/", HTTP_HOST="10.0.3.7:8000").status_code == 400


@pytest.mark.django_db
@override_settings(SECURE_SSL_REDIRECT=True)
def test_probes_over_plain_http_are_not_redirected():
    client = Client()
    for path in (health.HEALTHZ_PATH, health.READYZ_PATH):
        assert client.get(path).status_code == 200
    assert client.get("/").status_code == 301


@pytest.mark.django_db
def test_no_later_middleware_sees_a_probe(alice):
    client = Client()
    client.force_login(alice, backend="accounts.backends.PortalOIDCBackend")
    session = client.session
    session[signin.SESSION_REFRESH_DUE] = time.time() - 60  # due for a check at the provider
    session.save()

    for path in (health.HEALTHZ_PATH, health.READYZ_PATH):
        response = client.get(path)
        assert response.status_code == 200  # the session re-check would redirect
        assert not response.cookies
        assert "Vary" not in response  # sessions never loaded
        assert "X-Frame-Options" not in response  # the last middleware never ran
    assert client.get(reverse("order_list")).status_code == 302


def test_other_methods_are_refused():
    response = Client().post(health.READYZ_PATH)
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
    assert response["Cache-Control"] == "no-store"


@override_settings(READYZ_TIMEOUT_SECONDS=0, READYZ_STORAGE_CACHE_SECONDS=-1)
def test_bad_probe_settings_are_named_at_start_up():
    messages = [message.msg for message in health.check_readyz_settings()]
    assert messages == [
        "READYZ_TIMEOUT_SECONDS: 0 — must be from 0.05 to 30 seconds",
        "READYZ_STORAGE_CACHE_SECONDS: -1 — must be from 0 to 3600 seconds",
    ]


def test_the_probe_middleware_must_come_first():
    assert health.check_readyz_settings() == []
    with override_settings(MIDDLEWARE=settings.MIDDLEWARE[1:] + settings.MIDDLEWARE[:1]):
        [warning] = health.check_readyz_settings()
    assert warning.level == checks.WARNING
    assert warning.id == "config.W001"
