"""Fixtures shared by every app's tests: the real local stack and a real browser.

The session starts its own OpenID provider and S3 server on ports the OS hands out (so `make run`
can keep running beside it) and points the settings at them for every test.
"""

from __future__ import annotations

import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from django.conf import settings as django_settings
from django.test.utils import override_settings

from config.settings import content_security_policies, s3_storage_options
from devstack.servers import ensure_private_bucket, start_test_stack, stop_servers

# Our own test OpenID provider (`op`) and settings pointed at it (`op_settings`); the one user
# factory and the demo people (`alice`, `bob`, `admin_user`, `nobody`).
pytest_plugins = [
    "accounts.tests.fixtures",
    "accounts.tests.people",
    "portal.tests.ratelimit_fixtures",  # `limits_store`: memory, and Redis when REDIS_URL is set
]

ROOT = Path(__file__).resolve().parent
TEST_OUTPUT = ROOT / "test-output"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update"]


@dataclass(frozen=True)
class LocalStack:
    issuer: str
    s3_endpoint_url: str
    bucket: str
    access_key: str
    secret_key: str
    region: str

    def s3_client(self, **overrides):
        """A boto3 client with the stack's keys (or deliberately wrong ones, for tests)."""
        options = {
            "endpoint_url": self.s3_endpoint_url,
            "aws_access_key_id": self.access_key,
            "aws_secret_access_key": self.secret_key,
            "region_name": self.region,
            "config": Config(signature_version="s3v4"),
            **overrides,
        }
        return boto3.client("s3", **options)


@pytest.fixture(scope="session")
def live_server(live_server):
    """pytest-django's live server, answering one request at a time on SQLite. Its threads
    all share the test's in-memory database connection, whose cursors break when two requests
    use it at once (the browser's two parallel uploads did: IndexError in Django's row
    converters). Production processes each have their own connection; S3 uploads stay
    parallel, since they go to S3."""
    if django_settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        server = live_server.thread.httpd
        app, lock = server.get_app(), threading.Lock()

        def one_at_a_time(environ, start_response):
            with lock:
                return app(environ, start_response)

        server.set_app(one_at_a_time)
    return live_server


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory) -> LocalStack:
    """A real OpenID provider and a real S3 server for this test session."""
    work = tmp_path_factory.mktemp("local-stack")
    access_key, secret_key = f"test-{secrets.token_hex(4)}", secrets.token_urlsafe(24)
    servers = start_test_stack(state_dir=work, access_key=access_key, secret_key=secret_key)
    provider, s3 = servers
    try:
        stack = LocalStack(
            issuer=provider.url,
            s3_endpoint_url=s3.url,
            bucket="portal-test",
            access_key=access_key,
            secret_key=secret_key,
            region="us-east-1",
        )
        ensure_private_bucket(
            endpoint_url=stack.s3_endpoint_url,
            bucket=stack.bucket,
            access_key=access_key,
            secret_key=secret_key,
            region=stack.region,
        )
        yield stack
    finally:
        stop_servers(servers)


@pytest.fixture(scope="session", autouse=True)
def _test_client_sees_jinja2_templates():
    """Django's test client fills response.templates and response.context from a signal that
    only its own template engine sends; the portal's pages are Jinja2, so send it for them too."""
    from django.template.backends import jinja2 as backend
    from django.test.signals import template_rendered

    original = backend.Template.render

    def render(self, context=None, request=None):
        template_rendered.send(sender=self, template=self.template, context=dict(context or {}))
        return original(self, context, request)

    backend.Template.render = render
    yield
    backend.Template.render = original


@pytest.fixture(autouse=True)
def _forget_recently_served_users():
    """A user one test signed in must never serve the next: ids come back after a rollback."""
    from accounts.backends import forget_recently_served_users

    forget_recently_served_users()


@pytest.fixture(scope="session", autouse=True)
def _settings_use_local_stack(local_stack):
    """Every test talks to this session's servers, never to the ones `make run` started."""
    storages = {
        **django_settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": s3_storage_options(
                bucket=local_stack.bucket,
                endpoint_url=local_stack.s3_endpoint_url,
                region=local_stack.region,
                access_key=local_stack.access_key,
                secret_key=local_stack.secret_key,
            ),
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    # The policies name S3's and the provider's origins, so they follow the stack too.
    portal_csp, share_csp = content_security_policies(
        bucket=local_stack.bucket,
        s3_endpoint_url=local_stack.s3_endpoint_url,
        region=local_stack.region,
        oidc_issuer=local_stack.issuer,
        oidc_logout_endpoint="",
    )
    with override_settings(
        OIDC_ISSUER=local_stack.issuer,
        S3_BUCKET=local_stack.bucket,
        S3_ENDPOINT_URL=local_stack.s3_endpoint_url,
        AWS_ACCESS_KEY_ID=local_stack.access_key,
        AWS_SECRET_ACCESS_KEY=local_stack.secret_key,
        STORAGES=storages,
        SECURE_CSP=portal_csp,
        SHARE_CSP=share_csp,
    ):
        yield


# The defaults (RATELIMIT_SIGNIN 20/m per IP, ...) would stop a suite that signs in from
# 127.0.0.1 again and again; portal/tests/test_ratelimits.py sets small limits where it tests them.
TEST_RATE_LIMIT = "100000/m"


@pytest.fixture(scope="session", autouse=True)
def _rate_limits_out_of_the_way():
    from portal.ratelimits import RATE_SETTINGS

    with override_settings(**dict.fromkeys(RATE_SETTINGS, TEST_RATE_LIMIT)):
        yield


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, driven by Playwright (never a browser Playwright downloads)."""
    if not CHROMIUM.exists():
        reason = "Debian's chromium is not installed (apt-get install -y chromium)"
        if os.environ.get("REQUIRE_BROWSER"):
            pytest.fail(f"REQUIRE_BROWSER is set but {reason}")
        pytest.skip(reason)
    # Playwright's sync API keeps an event loop on this thread; Django would refuse ORM calls.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A fresh browser tab with its own cookies, at a laptop-sized window."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    yield tab
    context.close()


@pytest.fixture
def screenshot():
    """Save a page as test-output/screenshots/<name>.png, for people to look at."""

    def take(tab, name: str) -> Path:
        path = TEST_OUTPUT / "screenshots" / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(path), full_page=True)
        return path

    return take


def pytest_collection_modifyitems(config, items):
    """SKIP_OWN_SERVERS (.ci/run's PostgreSQL and Redis passes) skips the tests marked
    own_servers: they start every server they use, so the suite's database and cache change
    nothing for them, and the first pass has run them."""
    if not os.environ.get("SKIP_OWN_SERVERS"):
        return
    skip = pytest.mark.skip(reason="own servers: run in .ci/run's first pass (SKIP_OWN_SERVERS)")
    for item in items:
        if item.get_closest_marker("own_servers"):
            item.add_marker(skip)
