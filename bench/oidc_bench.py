"""Sign-in and Bearer-token costs, ours against stock mozilla-django-oidc, measured in one run.

Prints: the app's server-to-server calls to the provider per sign-in (discovery, JWKS, token,
userinfo; the browser's own visits don't count), the provider calls per Bearer API request, and
the local validation time per JWT access token. Runs against our test provider (JWT access
tokens, PKCE enforced) on 127.0.0.1, with a throwaway SQLite database.

    make bench    (or: DEBUG=1 .venv/bin/python -m bench.oidc_bench)
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DEBUG"] = "1"
os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Thousands of sign-ins from 127.0.0.1: the limit stays on (its cost is measured), far away.
os.environ.setdefault("RATELIMIT_SIGNIN", "1000000000/m")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.sessions.middleware import SessionMiddleware  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client, RequestFactory  # noqa: E402
from django.test.utils import override_settings, setup_test_environment  # noqa: E402
from mozilla_django_oidc.auth import OIDCAuthenticationBackend  # noqa: E402

from accounts import provider  # noqa: E402
from accounts.tests.oidc_test_provider import OIDCTestProvider, pkce_challenge  # noqa: E402
from accounts.tokens import validate_access_token  # noqa: E402

SERVER_TO_SERVER = ("/.well-known/openid-configuration", "/jwks", "/token", "/userinfo")
SIGN_INS = 20
TOKEN_CHECKS = 20_000
FIRST_SEEN = 1000
USERS = {"alice": {"email": "alice@example.com", "name": "Alice", "groups": ["portal-users"]}}


def provider_calls(op: OIDCTestProvider) -> int:
    return sum(op.requests[path] for path in SERVER_TO_SERVER)


def our_sign_in(client: Client, op: OIDCTestProvider) -> None:
    start = client.get("/oidc/authenticate/", {"next": "/account/"})
    callback = urlsplit(op.authorize_redirect(start["Location"]))
    done = client.get(f"{callback.path}?{callback.query}")
    if done.status_code != 302 or done["Location"] != "/account/":
        raise RuntimeError(f"sign-in failed: {done.status_code} {done.content[:300]!r}")


def stock_sign_in(op: OIDCTestProvider, factory: RequestFactory) -> None:
    """mozilla-django-oidc 5.0.2's backend, configured as its documentation says (RS256, JWKS)."""
    verifier = "v" * 64
    nonce = "bench-nonce"
    query = {
        "client_id": op.client_id,
        "redirect_uri": "http://testserver/oidc/callback/",
        "response_type": "code",
        "scope": "openid email",
        "state": "s",
        "nonce": nonce,
        "code_challenge": pkce_challenge(verifier),
        "code_challenge_method": "S256",
    }
    callback = urlsplit(op.authorize_redirect(f"{op.issuer}/authorize?{urlencode(query)}"))
    request = factory.get(f"{callback.path}?{callback.query}")
    SessionMiddleware(lambda r: None).process_request(request)
    user = OIDCAuthenticationBackend().authenticate(request, nonce=nonce, code_verifier=verifier)
    if user is None:
        raise RuntimeError("mozilla-django-oidc's sign-in failed")


def main() -> None:
    setup_test_environment()
    call_command("migrate", verbosity=0)
    with OIDCTestProvider(users=USERS) as op:
        endpoints = {
            "OIDC_OP_AUTHORIZATION_ENDPOINT": f"{op.issuer}/authorize",
            "OIDC_OP_TOKEN_ENDPOINT": f"{op.issuer}/token",
            "OIDC_OP_USER_ENDPOINT": f"{op.issuer}/userinfo",
            "OIDC_OP_JWKS_ENDPOINT": f"{op.issuer}/jwks",
        }
        ours = override_settings(
            OIDC_ISSUER=op.issuer,
            OIDC_RP_CLIENT_ID=op.client_id,
            OIDC_RP_CLIENT_SECRET=op.client_secret,
            OIDC_API_AUDIENCE=op.api_audience,
            ALLOWED_HOSTS=["testserver"],
        )
        with ours:
            provider.clear_caches()
            client = Client()
            our_sign_in(client, op)  # first sign-in fills the discovery and JWKS caches
            before = provider_calls(op)
            for _ in range(SIGN_INS):
                our_sign_in(Client(), op)
            ours_per_sign_in = (provider_calls(op) - before) / SIGN_INS

        stock = override_settings(
            **endpoints,
            OIDC_RP_CLIENT_ID=op.client_id,
            OIDC_RP_CLIENT_SECRET=op.client_secret,
            OIDC_RP_SIGN_ALGO="RS256",
            OIDC_TOKEN_USE_BASIC_AUTH=True,
            AUTH_USER_MODEL=settings.AUTH_USER_MODEL,
        )
        with stock:
            factory = RequestFactory()
            stock_sign_in(op, factory)
            before = provider_calls(op)
            for _ in range(SIGN_INS):
                stock_sign_in(op, factory)
            stock_per_sign_in = (provider_calls(op) - before) / SIGN_INS

        with ours:
            tokens = [op.issue_access_token("alice") for _ in range(FIRST_SEEN)]
            validate_access_token(op.issue_access_token("alice"))  # fills the JWKS cache
            before = provider_calls(op)
            first_seen = []  # a token this process has not verified yet: full signature check
            for token in tokens:
                t0 = time.perf_counter()
                validate_access_token(token)
                first_seen.append(time.perf_counter() - t0)
            timings = []  # the same tokens again, as clients send them with every request
            for i in range(TOKEN_CHECKS):
                t0 = time.perf_counter()
                validate_access_token(tokens[i % len(tokens)])
                timings.append(time.perf_counter() - t0)
            bearer_calls = (provider_calls(op) - before) / (TOKEN_CHECKS + FIRST_SEEN)

            # The baseline for a Bearer request: mozilla-django-oidc's DRF class asks userinfo.
            import requests

            userinfo_timings = []
            for i in range(200):
                t0 = time.perf_counter()
                requests.get(
                    f"{op.issuer}/userinfo",
                    headers={"Authorization": f"Bearer {tokens[i % len(tokens)]}"},
                    timeout=5,
                )
                userinfo_timings.append(time.perf_counter() - t0)

    median_ms = statistics.median(timings) * 1000
    p99_ms = sorted(timings)[int(len(timings) * 0.99)] * 1000
    first_ms = statistics.median(first_seen) * 1000
    # A client sending one token for its 1-hour life at 1 request/s: 1 full check, 3599 repeats.
    per_request_ms = (first_ms + 3599 * median_ms) / 3600
    userinfo_ms = statistics.median(userinfo_timings) * 1000
    print(
        f"provider calls per sign-in (caches warm): ours {ours_per_sign_in:.2f}, "
        f"mozilla-django-oidc 5.0.2 {stock_per_sign_in:.2f} "
        f"(ratio {ours_per_sign_in / stock_per_sign_in:.2f}; goal <= 2 calls)"
    )
    print(
        f"provider calls per Bearer API request: ours {bearer_calls:.2f} "
        f"(mozilla-django-oidc's DRF class: 1 userinfo call each; goal 0)"
    )
    print(
        f"JWT access token, first sight (signature + claims): median {first_ms:.3f} ms "
        f"over {FIRST_SEEN} tokens"
    )
    print(
        f"JWT access token, repeated (verified-token cache): median {median_ms:.4f} ms, "
        f"p99 {p99_ms:.4f} ms over {TOKEN_CHECKS} checks"
    )
    print(
        f"validation per request, one token per hour at 1 request/s: {per_request_ms:.4f} ms "
        f"(goal <= 0.2 ms); a userinfo round trip to a local provider instead: median "
        f"{userinfo_ms:.3f} ms (ratio {per_request_ms / userinfo_ms:.4f})"
    )


if __name__ == "__main__":
    main()
