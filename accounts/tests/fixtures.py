"""OIDC test fixtures shared by every app's tests (registered in the root conftest.py)."""

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from accounts import provider, tokens
from accounts.roles import ADMIN, USER, roles_of
from accounts.tests.oidc_test_provider import OIDCTestProvider
from config.settings import content_security_policies

# The demo people of devstack/users.json, with the same role sets; the first (alice) is the
# test provider's current user unless a test picks another.
USERS = {
    "alice": {
        "name": "Alice Example",
        "given_name": "Alice",
        "family_name": "Example",
        "email": "alice@example.com",
        "groups": ["portal-users"],
    },
    "admin": {
        "name": "Ada Admin",
        "given_name": "Ada",
        "family_name": "Admin",
        "email": "admin@example.com",
        "groups": ["portal-admins", "portal-users"],
    },
    "bob": {"name": "Bob Example", "email": "bob@example.com", "groups": ["portal-users"]},
    "nobody": {"name": "Nora Nobody", "email": "nobody@example.com", "groups": []},
}


@pytest.fixture
def op() -> Iterator[OIDCTestProvider]:
    """Our own test provider: PKCE enforced, JWT access tokens, keys the test controls."""
    with OIDCTestProvider(users=USERS) as test_provider:
        yield test_provider


@pytest.fixture
def op_settings(settings: Any, op: OIDCTestProvider) -> Iterator[None]:
    """Point the OIDC settings at the test provider and start with empty caches (the configured
    cache: Redis in the CI run that sets REDIS_URL)."""
    settings.OIDC_ISSUER = op.issuer
    settings.OIDC_RP_CLIENT_ID = op.client_id
    settings.OIDC_RP_CLIENT_SECRET = op.client_secret
    settings.OIDC_API_AUDIENCE = op.api_audience
    settings.OIDC_API_CLIENT_IDS = []
    settings.OIDC_SIGN_ALGS = ["RS256", "ES256"]
    settings.OIDC_CLOCK_LEEWAY_SECONDS = 60
    settings.OIDC_JWKS_MIN_REFETCH_SECONDS = 60
    settings.OIDC_DISCOVERY_TTL_SECONDS = 3600
    settings.OIDC_OPAQUE_TOKEN_CACHE_SECONDS = 300
    settings.OIDC_OPAQUE_TOKEN_CHECKS_PER_SECOND = 10
    settings.OIDC_HTTP_TIMEOUT = 2
    for name in provider.ENDPOINT_SETTINGS.values():
        setattr(settings, name, "")
    # Sign-out's form-action names the provider's origin (config/settings.py).
    settings.SECURE_CSP, settings.SHARE_CSP = content_security_policies(
        bucket=settings.S3_BUCKET,
        s3_endpoint_url=settings.S3_ENDPOINT_URL,
        region=settings.S3_REGION,
        oidc_issuer=op.issuer,
        oidc_logout_endpoint="",
    )
    provider.clear_caches()
    tokens.clear_caches()
    provider.provider_calls.clear()
    cache.clear()
    yield
    provider.clear_caches()
    tokens.clear_caches()
    cache.clear()


def sign_in_as(page, live_server, sub: str, *, lands_on: str = "/orders/") -> None:
    """Sign in from the home page (no `next`): people with a role land on their orders, people
    without one on their account page."""
    page.goto(live_server.url + "/")
    page.get_by_role("link", name="Sign in with your company account").click()
    page.get_by_role("button", name=f"Authorize as {sub}").click()
    page.wait_for_url(re.compile(re.escape(live_server.url + lands_on) + "$"))


ROLE_GROUPS = {ADMIN: "portal-admins", USER: "portal-users"}


@pytest.fixture
def token_for(op):
    """Authorization headers with a fresh JWT for a person fixture, carrying their roles."""

    def headers(user) -> dict[str, str]:
        groups = sorted(ROLE_GROUPS[role] for role in roles_of(user))
        token = op.issue_access_token(
            "alice", overrides={"sub": user.oidc_subject, "groups": groups}
        )
        return {"Authorization": f"Bearer {token}"}

    return headers


@pytest.fixture
def browser_of(db):
    """A browser signed in as the user, with a fresh session and CSRF checks on."""

    def browser(user) -> Client:
        client = Client(enforce_csrf_checks=True)
        client.force_login(user)
        session = client.session
        session["oidc_id_token_expiration"] = time.time() + 900
        session.save()
        return client

    return browser
