"""Without REDIS_URL a serving process says once, at start-up, what that means."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test.utils import override_settings

from config import startup

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _announce_again():
    startup.announce.cache_clear()
    yield
    startup.announce.cache_clear()


@override_settings(REDIS_URL="")
def test_without_redis_one_warning_says_what_is_per_process(caplog):
    startup.announce()
    startup.announce()

    [record] = [r for r in caplog.records if r.name == "config.startup"]
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert message.startswith("REDIS_URL is not set")
    assert "the cache and the rate limits live in this process's memory" in message
    assert "sessions and share-link counts are in the database" in message
    assert "Run one app process, or set REDIS_URL" in message


@override_settings(REDIS_URL="redis://127.0.0.1:6379/0")
def test_with_redis_nothing_is_said(caplog):
    startup.announce()
    assert [r for r in caplog.records if r.name == "config.startup"] == []


def stderr_of(*command: str, redis_url: str) -> str:
    env = {**os.environ, "DEBUG": "1", "REDIS_URL": redis_url}
    done = subprocess.run(
        [sys.executable, *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_a_serving_process_says_it_once_and_a_command_does_not():
    """The WSGI (or ASGI) module is what gunicorn and runserver load, and it speaks once even
    when both are loaded; `manage.py check` stays quiet."""
    served = stderr_of("-c", "import config.wsgi, config.asgi", redis_url="")
    assert served.count(startup.WITHOUT_REDIS) == 1
    assert startup.WITHOUT_REDIS not in stderr_of("manage.py", "check", redis_url="")
    assert startup.WITHOUT_REDIS not in stderr_of(
        "-c", "import config.wsgi", redis_url="redis://127.0.0.1:6379/0"
    )
