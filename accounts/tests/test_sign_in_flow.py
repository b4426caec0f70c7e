"""The whole browser sign-in flow against our own test provider, through Django's test client.

The test provider's /authorize answers at once with a redirect to our callback (code + state), so
a sign-in is: /oidc/authenticate/ -> provider /authorize -> /oidc/callback/ -> `next`.
"""

from __future__ import annotations

import html
import secrets
import time
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit, urlunsplit

import jwt
import pytest
from django.test import Client

from accounts import provider
from accounts.models import User
from accounts.roles import roles_of
from accounts.tests.oidc_test_provider import DROP, TAMPER_NAMES, pkce_challenge
from orders.models import Product

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("op_settings")]

FAILED_TEMPLATE = "accounts/sign_in_failed.html"
FAILED_TEXT = "We couldn't sign you in"
DISCOVERY = "/.well-known/openid-configuration"
FLOOD = 200  # Bearer tokens with made-up kids


# -- helpers ---------------------------------------------------------------------------------


def query_of(url: str) -> dict[str, str]:
    """The query parameters of a URL, one value each."""
    return {key: values[-1] for key, values in parse_qs(urlsplit(url).query).items()}


def local(url: str) -> str:
    """Path and query of a URL on our own site (the test client's host is `testserver`)."""
    parts = urlsplit(url)
    assert parts.netloc in ("", "testserver"), f"not our site: {url}"
    return urlunsplit(("", "", parts.path, parts.query, ""))


def start_sign_in(client, next_path: str | None = "/account/") -> str:
    """Start a sign-in and return the provider's authorize URL we were sent to."""
    params = {} if next_path is None else {"next": next_path}
    response = client.get("/oidc/authenticate/", params)
    assert response.status_code == 302, response.content[:500]
    return response["Location"]


def finish_sign_in(client, op, authorize_url: str):
    """Let the provider answer the authorize URL, then follow it to our callback."""
    return client.get(local(op.authorize_redirect(authorize_url)))


def sign_in(client, op, user: str = "alice", *, next_path: str | None = "/account/"):
    """A whole sign-in as `user`; returns the callback's response."""
    op.current_user = user
    return finish_sign_in(client, op, start_sign_in(client, next_path))


def assert_signed_in_as(client, username: str) -> User:
    user = User.objects.get(oidc_subject=username)
    assert client.session.get("_auth_user_id") == str(user.pk)
    return user


def assert_signed_out(client) -> None:
    assert "_auth_user_id" not in client.session


def assert_failed(response, status: int, reason: str | None = None) -> None:
    """The friendly "sign-in failed" page with this status (never a 500, never a redirect)."""
    assert response.status_code == status, response.content[:1000]
    assert FAILED_TEMPLATE in [template.name for template in response.templates]
    page = html.unescape(response.content.decode())
    assert FAILED_TEXT in page
    if reason is not None:
        assert reason.lower() in page.lower(), page


def set_session(client, **values) -> None:
    session = client.session
    session.update(values)
    session.save()


def expire_session_check(client) -> None:
    """Make the session due for a check with the provider."""
    set_session(client, oidc_id_token_expiration=time.time() - 1)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def other_browser() -> Client:
    """A second browser with its own cookies."""
    return Client()


# -- 1. happy path ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "roles", "is_staff"),
    [("alice", {"USER"}, False), ("bob", {"USER"}, False), ("admin", {"ADMIN", "USER"}, True)],
)
def test_sign_in_lands_on_next_with_roles_from_groups(client, op, username, roles, is_staff):
    response = sign_in(client, op, username, next_path="/account/?tab=orders")

    assert response.status_code == 302
    assert response["Location"] == "/account/?tab=orders"
    user = assert_signed_in_as(client, username)
    assert roles_of(user) == roles
    assert user.is_staff is is_staff
    assert client.get("/account/").status_code == 200


def test_authorize_request_carries_pkce_s256_state_nonce_and_scopes(client, op, settings):
    authorize_url = start_sign_in(client)
    params = query_of(authorize_url)

    assert authorize_url.startswith(op.url("/authorize?"))
    assert params["response_type"] == "code"
    assert params["client_id"] == op.client_id
    assert params["redirect_uri"] == "http://testserver/oidc/callback/"
    assert params["scope"] == "openid profile email groups"  # groups: the provider offers it
    assert params["code_challenge_method"] == "S256"
    assert len(params["state"]) >= 32
    assert len(params["nonce"]) >= 32
    assert "prompt" not in params

    # The test provider enforces PKCE: a sign-in that succeeds sent the matching S256 verifier.
    assert op.require_pkce
    response = finish_sign_in(client, op, authorize_url)
    assert response.status_code == 302
    verifier = op.token_requests[-1]["code_verifier"]
    assert pkce_challenge(verifier) == params["code_challenge"]


# -- 2. provider calls -----------------------------------------------------------------------


def test_second_sign_in_makes_exactly_token_and_userinfo_calls(client, op):
    sign_in(client, op, "alice")  # warm-up: discovery and keys are fetched and cached here
    provider.provider_calls.clear()
    op.reset_counts()

    response = sign_in(client, op, "bob")

    assert response.status_code == 302
    assert dict(provider.provider_calls) == {"token": 1, "userinfo": 1}
    assert op.requests[DISCOVERY] == 0
    assert op.requests["/jwks"] == 0
    assert op.requests["/token"] == 1
    assert op.requests["/userinfo"] == 1


# -- 3. ID tokens and user details that must be refused -------------------------------------


ID_TOKEN_TAMPER_REASONS = {
    "foreign-key": "the token's signature is not valid",
    "alg-none": "the token uses a signing algorithm we do not accept",
    "hs256-public-key": "the token uses a signing algorithm we do not accept",
    "no-iat": "the token lacks the required 'iat' claim",
    "no-sub": "the token lacks the required 'sub' claim",
    "no-exp": "the token lacks the required 'exp' claim",
    "wrong-nonce": "the token does not belong to this sign-in attempt",
    "wrong-iss": "the token was issued by another provider",
    "wrong-aud": "the token was issued for another application",
    "multi-aud-no-azp": "the token was issued for another application",
    "multi-aud-wrong-azp": "the token was issued for another application",
    "expired": "the token has expired",
    "future-iat": "the token is not valid yet",
}


@pytest.mark.parametrize("tamper", TAMPER_NAMES)
def test_sign_in_refuses_spoiled_id_token(client, op, tamper):
    authorize_url = start_sign_in(client)
    op.tamper_next_id_token(tamper)

    response = finish_sign_in(client, op, authorize_url)

    assert_failed(response, 401, ID_TOKEN_TAMPER_REASONS[tamper])
    assert_signed_out(client)
    assert not User.objects.filter(oidc_subject="alice").exists()  # nothing was saved


def test_sign_in_refuses_userinfo_for_another_subject(client, op):
    op.userinfo_overrides = {"sub": "mallory"}

    response = sign_in(client, op, "alice")

    assert_failed(response, 401, "the provider's user details are for another user")
    assert_signed_out(client)
    assert not User.objects.filter(oidc_subject__in=["alice", "mallory"]).exists()


def test_sign_in_refuses_id_token_whose_kid_stays_unknown(client, op):
    authorize_url = start_sign_in(client)
    op.next_id_token_headers = {"kid": "no-such-key"}

    response = finish_sign_in(client, op, authorize_url)

    assert_failed(response, 401, "unknown signing key")
    assert_signed_out(client)


def test_each_sign_in_with_an_unknown_kid_refetches_the_jwks_once(client, op):
    sign_in(client, op, "alice")  # warm-up: the JWKS is cached
    op.reset_counts()
    for _attempt in range(3):
        authorize_url = start_sign_in(client)
        op.next_id_token_headers = {"kid": "no-such-key"}
        assert_failed(finish_sign_in(client, op, authorize_url), 401, "unknown signing key")

    assert op.requests["/jwks"] == 3  # an id_token's unknown kid always gets its one refetch


# -- 4. key rotation -------------------------------------------------------------------------


def test_rotated_key_is_accepted_after_exactly_one_jwks_refetch(client, op):
    sign_in(client, op, "alice")
    provider.provider_calls.clear()
    op.reset_counts()
    op.rotate_key()

    response = sign_in(client, op, "bob")

    assert response.status_code == 302
    assert response["Location"] == "/account/"
    assert_signed_in_as(client, "bob")
    assert op.requests["/jwks"] == 1
    assert provider.provider_calls["jwks"] == 1
    assert op.requests[DISCOVERY] == 0


def test_sign_in_and_api_work_at_once_after_a_rotation_during_a_junk_kid_flood(
    client, op, monkeypatch
):
    now = [1000.0]
    monkeypatch.setattr(provider, "_clock", lambda: now[0])
    sign_in(client, op, "alice")  # warm-up: discovery and keys cached
    other = Client()
    now[0] += 61  # our copy of the keys is now old enough for one Bearer refetch
    op.reset_counts()

    for _ in range(FLOOD):
        junk = op.issue_access_token("bob", headers={"kid": secrets.token_hex(8)})
        response = other.get("/api/me", headers=bearer(junk))
        assert response.status_code == 401
        assert "unknown signing key" in response.json()["detail"]
    flood_fetches = op.requests["/jwks"]
    op.rotate_key()
    signed_in = sign_in(client, op, "bob")
    sign_in_fetches = op.requests["/jwks"] - flood_fetches
    api = other.get("/api/me", headers=bearer(op.issue_access_token("bob")))

    assert flood_fetches == 1  # FLOOD junk kids: one fetch for the whole interval
    assert signed_in.status_code == 302
    assert signed_in["Location"] == "/account/"
    assert_signed_in_as(client, "bob")
    assert sign_in_fetches == 1  # the rotation: one refetch, at once, despite the flood
    assert api.status_code == 200
    assert api.json()["sub"] == "bob"
    assert op.requests["/jwks"] == 2  # the API found the new key the sign-in fetched


def test_bearer_token_with_a_rotated_key_works_after_one_interval_despite_a_flood(
    client, op, settings, monkeypatch
):
    now = [1000.0]
    monkeypatch.setattr(provider, "_clock", lambda: now[0])
    assert client.get("/api/me", headers=bearer(op.issue_access_token("bob"))).status_code == 200
    now[0] += 61
    op.reset_counts()
    for _ in range(FLOOD):
        junk = op.issue_access_token("bob", headers={"kid": secrets.token_hex(8)})
        assert client.get("/api/me", headers=bearer(junk)).status_code == 401
    op.rotate_key()
    token = op.issue_access_token("bob")

    too_soon = client.get("/api/me", headers=bearer(token))
    now[0] += settings.OIDC_JWKS_MIN_REFETCH_SECONDS
    in_time = client.get("/api/me", headers=bearer(token))

    assert too_soon.status_code == 401
    assert in_time.status_code == 200
    assert op.requests["/jwks"] == 2  # one for the flood's interval, one for the next


# -- 5. provider failures --------------------------------------------------------------------


def test_discovery_naming_another_issuer_fails_sign_in_start_with_502(client, op):
    op.discovery_overrides = {"issuer": "https://attacker.example"}

    response = client.get("/oidc/authenticate/", {"next": "/account/"})

    assert_failed(response, 502, "names issuer 'https://attacker.example'")
    assert op.requests["/authorize"] == 0


@pytest.mark.parametrize("outage", ["stopped", "discovery-500", "discovery-503"])
def test_provider_down_when_sign_in_starts_gives_502(client, op, outage):
    if outage == "stopped":
        op.stop()
    else:
        op.fail_paths[DISCOVERY] = int(outage.rsplit("-", 1)[1])

    response = client.get("/oidc/authenticate/", {"next": "/account/"})

    assert_failed(response, 502)
    assert_signed_out(client)


def test_token_endpoint_server_error_gives_502(client, op):
    authorize_url = start_sign_in(client)
    op.fail_paths["/token"] = 500

    response = finish_sign_in(client, op, authorize_url)

    assert_failed(response, 502)
    assert_signed_out(client)


LEFT_OPEN_TOO_LONG = "left open too long"


def test_token_endpoint_invalid_grant_says_the_sign_in_was_left_open_too_long(client, op):
    authorize_url = start_sign_in(client)
    op.next_token_error = (400, {"error": "invalid_grant", "error_description": "used"})

    response = finish_sign_in(client, op, authorize_url)

    assert_failed(response, 400, "the sign-in code has expired or was already used")
    assert LEFT_OPEN_TOO_LONG in response.content.decode()
    assert_signed_out(client)


def test_a_code_redeemed_without_its_pkce_verifier_is_refused(client, op):
    """Whoever steals the code without the session's verifier gets nothing from it."""
    authorize_url = start_sign_in(client)
    session = client.session
    state = query_of(authorize_url)["state"]
    session["oidc_states"][state]["code_verifier"] = "v" * 64  # not the one the challenge hides
    session.save()

    response = finish_sign_in(client, op, authorize_url)

    assert_failed(response, 400, "the sign-in code has expired or was already used")
    assert op.token_requests[-1]["code_verifier"] == "v" * 64  # it was sent, and refused
    assert_signed_out(client)
    assert not User.objects.filter(oidc_subject="alice").exists()


def test_wrong_client_secret_names_the_settings_to_check(client, op, settings):
    settings.OIDC_RP_CLIENT_SECRET = "not-the-secret"
    authorize_url = start_sign_in(client)

    response = finish_sign_in(client, op, authorize_url)

    assert_failed(response, 502, "refused the portal's client id or secret (invalid_client)")
    page = response.content.decode()
    assert "OIDC_CLIENT_ID" in page
    assert "OIDC_CLIENT_SECRET" in page
    assert LEFT_OPEN_TOO_LONG not in page
    assert "not answering" not in page
    assert_signed_out(client)


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (400, {"error": "unauthorized_client"}, "does not let the portal sign people in"),
        (400, {"error": "invalid_request"}, "refused to finish the sign-in (invalid_request)"),
        (400, {"error": "unsupported_grant_type"}, "(unsupported_grant_type)"),
        (403, b"", "refused to finish the sign-in (HTTP 403)"),
        (400, ["not", "an", "object"], "refused to finish the sign-in (HTTP 400)"),
    ],
)
def test_other_token_endpoint_errors_each_say_what_they_are(client, op, status, body, reason):
    authorize_url = start_sign_in(client)
    op.next_token_error = (status, body)

    response = finish_sign_in(client, op, authorize_url)

    assert_failed(response, 502, reason)
    page = response.content.decode()
    assert LEFT_OPEN_TOO_LONG not in page
    assert "Trying again will not help" in page
    assert_signed_out(client)


@pytest.mark.parametrize("secret", ["a+b%c", "p:ss w=rd&x/ü"])
def test_client_secret_with_special_characters_is_form_encoded_into_basic(
    client, op, settings, secret
):
    op.client_secret = secret
    settings.OIDC_RP_CLIENT_SECRET = secret

    response = sign_in(client, op, "alice")

    assert response.status_code == 302, response.content[:1000]
    assert_signed_in_as(client, "alice")


def test_client_id_with_a_colon_is_form_encoded_into_basic(client, op, settings):
    op.client_id = "portal:prod"
    settings.OIDC_RP_CLIENT_ID = "portal:prod"

    response = sign_in(client, op, "alice")

    assert response.status_code == 302, response.content[:1000]
    assert_signed_in_as(client, "alice")


# -- 6. state --------------------------------------------------------------------------------


def test_callback_with_bogus_state_is_refused(client, op):
    callback = op.authorize_redirect(start_sign_in(client))
    params = {**query_of(callback), "state": "bogus-state"}

    response = client.get("/oidc/callback/", params)

    assert_failed(response, 400)
    assert_signed_out(client)
    assert op.requests["/token"] == 0  # the code was never redeemed


def test_callback_without_state_is_refused(client, op):
    callback = op.authorize_redirect(start_sign_in(client))
    params = {key: value for key, value in query_of(callback).items() if key != "state"}

    response = client.get("/oidc/callback/", params)

    assert_failed(response, 400)
    assert_signed_out(client)


def test_replayed_callback_is_refused(client, op):
    callback = local(op.authorize_redirect(start_sign_in(client)))
    assert client.get(callback).status_code == 302

    replay = client.get(callback)

    assert_failed(replay, 400)
    assert op.requests["/token"] == 1


def test_replayed_callback_in_another_browser_is_refused(client, op, other_browser):
    callback = local(op.authorize_redirect(start_sign_in(client)))

    response = other_browser.get(callback)

    assert_failed(response, 400)
    assert_signed_out(other_browser)


def test_provider_error_on_callback_shows_it(client, op):
    op.disabled.add("alice")  # the test provider answers error=access_denied

    response = sign_in(client, op, "alice")

    assert_failed(response, 400, "the sign-in provider refused the sign-in (access_denied)")
    assert_signed_out(client)


# -- 7. where we return to -------------------------------------------------------------------


@pytest.mark.parametrize(
    "next_path",
    [
        "//evil.example",
        "//evil.example/account/",
        "https://evil.example",
        "/\\evil.example",
        "javascript:alert(1)",
        "/\tevil.example",
    ],
)
def test_unsafe_next_lands_on_login_redirect_url(client, op, settings, next_path):
    response = sign_in(client, op, "alice", next_path=next_path)

    assert response.status_code == 302
    assert response["Location"] == "/orders/"


def test_local_next_with_query_is_honoured(client, op):
    response = sign_in(client, op, "alice", next_path="/account/?x=1")

    assert response.status_code == 302
    assert response["Location"] == "/account/?x=1"


def test_no_next_lands_on_login_redirect_url(client, op, settings):
    response = sign_in(client, op, "alice", next_path=None)

    assert response["Location"] == "/orders/"


# -- 8. two tabs -----------------------------------------------------------------------------


def test_two_tabs_each_land_on_their_own_next(client, op):
    op.current_user = "alice"
    tab_a = start_sign_in(client, "/account/?tab=a")
    tab_b = start_sign_in(client, "/account/?tab=b")

    finished_a = finish_sign_in(client, op, tab_a)
    finished_b = finish_sign_in(client, op, tab_b)

    assert finished_a.status_code == 302
    assert finished_a["Location"] == "/account/?tab=a"
    assert finished_b.status_code == 302
    assert finished_b["Location"] == "/account/?tab=b"
    assert_signed_in_as(client, "alice")


# -- 9. sign-out -----------------------------------------------------------------------------


@pytest.mark.parametrize("logout_redirect_url", ["/", "home"])
def test_sign_out_ends_the_session_here_and_at_the_provider(
    client, op, settings, logout_redirect_url
):
    settings.LOGOUT_REDIRECT_URL = logout_redirect_url
    sign_in(client, op, "alice")
    id_token = client.session["oidc_id_token"]

    response = client.post("/oidc/logout/")

    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(op.url("/logout?"))
    params = query_of(location)
    assert params["id_token_hint"] == id_token
    assert params["post_logout_redirect_uri"] == "http://testserver/"
    assert jwt.decode(id_token, options={"verify_signature": False})["sub"] == "alice"
    assert_signed_out(client)
    assert "oidc_id_token" not in client.session
    assert client.get("/account/").status_code == 302  # back to sign-in


def test_sign_out_page_asks_before_signing_out(client, op):
    sign_in(client, op, "alice")

    response = client.get("/oidc/logout/")

    assert response.status_code == 200
    assert 'action="/oidc/logout/"' in response.content.decode()
    assert_signed_in_as(client, "alice")


@pytest.mark.parametrize("logout_redirect_url", ["/", "home"])
def test_sign_out_without_provider_end_session_goes_home(client, op, settings, logout_redirect_url):
    settings.LOGOUT_REDIRECT_URL = logout_redirect_url
    op.discovery_overrides = {"end_session_endpoint": DROP}
    sign_in(client, op, "alice")

    response = client.post("/oidc/logout/")

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert_signed_out(client)


# -- 10. session refresh ---------------------------------------------------------------------


def test_due_session_is_checked_silently_and_continues(client, op):
    sign_in(client, op, "alice")
    expire_session_check(client)

    response = client.get("/account/")

    assert response.status_code == 302
    authorize_url = response["Location"]
    assert authorize_url.startswith(op.url("/authorize?"))
    assert query_of(authorize_url)["prompt"] == "none"

    back = finish_sign_in(client, op, authorize_url)

    assert back.status_code == 302
    assert back["Location"] == "/account/"
    assert_signed_in_as(client, "alice")
    assert client.session["oidc_id_token_expiration"] > time.time()
    assert client.get("/account/").status_code == 200


@pytest.mark.parametrize("gone", ["signed_out", "disabled"])
def test_due_session_of_user_gone_at_provider_is_signed_out(client, op, gone):
    sign_in(client, op, "alice")
    getattr(op, gone).add("alice")
    expire_session_check(client)

    authorize_url = client.get("/account/")["Location"]
    callback = op.authorize_redirect(authorize_url)
    assert query_of(callback)["error"] == "login_required"
    response = client.get(local(callback))

    assert_failed(response, 400, "your session at the sign-in provider has ended")
    assert_signed_out(client)
    assert client.get("/account/").status_code == 302


def test_session_check_applies_role_changes(client, op):
    sign_in(client, op, "alice")
    assert roles_of(User.objects.get(oidc_subject="alice")) == {"USER"}
    op.users["alice"]["groups"] = ["portal-admins"]
    expire_session_check(client)

    authorize_url = client.get("/account/")["Location"]
    assert finish_sign_in(client, op, authorize_url).status_code == 302

    alice = assert_signed_in_as(client, "alice")
    assert roles_of(alice) == {"ADMIN"}
    assert alice.is_staff


def test_refresh_seconds_zero_turns_the_session_check_off(client, op, settings):
    settings.OIDC_SESSION_REFRESH_SECONDS = 0
    sign_in(client, op, "alice")
    assert "oidc_id_token_expiration" not in client.session
    expire_session_check(client)  # even a session marked before the check was turned off
    op.reset_counts()

    page = client.get("/account/")
    api = client.get("/api/me")

    assert page.status_code == 200
    assert api.status_code == 200
    assert api.json()["sub"] == "alice"
    assert op.requests["/authorize"] == 0


def test_api_with_due_session_answers_json_401(client, op):
    sign_in(client, op, "alice")
    assert client.get("/api/me").status_code == 200
    expire_session_check(client)

    response = client.get("/api/me")

    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"] == "unauthenticated"
    assert "Bearer" in response["WWW-Authenticate"]


# -- 11. bearer tokens on the API ------------------------------------------------------------


def test_jwt_access_token_is_checked_locally_with_roles_from_its_groups(client, op):
    warm_up = client.get("/api/me", headers=bearer(op.issue_access_token("alice")))
    assert warm_up.status_code == 200
    calls_before = dict(provider.provider_calls)
    op.reset_counts()

    token = op.issue_access_token("alice", overrides={"groups": ["portal-admins"]})
    response = client.get("/api/me", headers=bearer(token))

    assert response.status_code == 200
    assert response.json()["sub"] == "alice"
    assert response.json()["roles"] == ["ADMIN"]
    assert dict(provider.provider_calls) == calls_before
    assert sum(op.requests.values()) == 0


def _expired_token(op) -> str:
    now = int(time.time())
    return op.issue_access_token("alice", overrides={"iat": now - 7200, "exp": now - 3600})


BAD_TOKENS = {
    "wrong-aud": lambda op: op.issue_access_token("alice", overrides={"aud": "api://other"}),
    "expired": _expired_token,
    "wrong-iss": lambda op: op.issue_access_token(
        "alice", overrides={"iss": "https://attacker.example"}
    ),
    "id-token": lambda op: op.issue_id_token("alice", nonce="n"),
    "garbage": lambda op: "garbage",
    "malformed": lambda op: "not a token!",
}


@pytest.mark.parametrize("kind", BAD_TOKENS)
def test_bad_bearer_token_is_refused_with_401_invalid_token(client, op, kind):
    response = client.get("/api/me", headers=bearer(BAD_TOKENS[kind](op)))

    assert response.status_code == 401
    assert response.json()["error"] == "unauthenticated"
    assert response.json()["detail"]
    challenge = response["WWW-Authenticate"]
    assert challenge.startswith("Bearer")
    assert 'error="invalid_token"' in challenge


UNSTORABLE_CLAIMS = {
    "no-sub": {"sub": DROP},
    "empty-sub": {"sub": ""},
    "long-sub": {"sub": "s" * 256},
    "nul-in-sub": {"sub": "alice\x00"},
    "nul-in-email": {"email": "alice@example.com\x00"},
    "list-email": {"email": ["alice@example.com"]},
    "surrogate-in-email": {"email": "alice\ud800@example.com"},
}


@pytest.mark.parametrize("kind", ["jwt", "opaque"])
@pytest.mark.parametrize("case", UNSTORABLE_CLAIMS)
def test_token_with_unstorable_claims_is_a_401_and_stores_nothing(client, op, case, kind):
    overrides = UNSTORABLE_CLAIMS[case]
    if kind == "jwt":
        token = op.issue_access_token("alice", overrides={"email": "a@example.com", **overrides})
    else:
        op.userinfo_overrides = overrides
        token = op.issue_opaque_token("alice")
    users_before = User.objects.count()

    response = client.get("/api/orders", headers=bearer(token))

    assert response.status_code == 401
    assert response.json()["error"] == "unauthenticated"
    assert 'error="invalid_token"' in response["WWW-Authenticate"]
    assert User.objects.count() == users_before


@pytest.mark.parametrize("where", ["id_token", "userinfo"])
@pytest.mark.parametrize("case", ["list-email", "nul-in-email", "surrogate-in-email"])
def test_sign_in_with_unstorable_claims_fails_and_stores_nothing(client, op, case, where):
    authorize_url = start_sign_in(client)
    if where == "id_token":
        op.next_id_token_overrides = UNSTORABLE_CLAIMS[case]
    else:
        op.userinfo_overrides = UNSTORABLE_CLAIMS[case]

    response = finish_sign_in(client, op, authorize_url)

    assert_failed(response, 401, "the token's 'email' claim is not plain text")
    assert_signed_out(client)
    assert not User.objects.filter(oidc_subject="alice").exists()


def test_non_bearer_authorization_is_refused_with_401(client, op):
    response = client.get("/api/me", headers={"Authorization": "Basic x"})

    assert response.status_code == 401
    assert response.json()["error"] == "unauthenticated"
    assert "Bearer" in response["WWW-Authenticate"]


def test_opaque_token_is_checked_once_at_userinfo_then_cached(client, op):
    token = op.issue_opaque_token("alice")

    first = client.get("/api/me", headers=bearer(token))
    second = client.get("/api/me", headers=bearer(token))

    assert first.status_code == 200
    assert second.status_code == 200
    assert first.json() == second.json()
    assert first.json()["sub"] == "alice"
    assert first.json()["roles"] == ["USER"]
    assert provider.provider_calls["userinfo"] == 1
    assert op.requests["/userinfo"] == 1


def test_twenty_junk_opaque_tokens_cost_at_most_the_cap_in_userinfo_calls(
    client, op, settings, monkeypatch
):
    monkeypatch.setattr(provider, "_clock", lambda: 1000.0)  # all within one second
    cap = settings.OIDC_OPAQUE_TOKEN_CHECKS_PER_SECOND
    junk = [secrets.token_urlsafe(32) for _ in range(20)]

    answers = [client.get("/api/me", headers=bearer(token)) for token in junk]

    assert op.requests["/userinfo"] == cap
    assert [answer.status_code for answer in answers] == [401] * cap + [503] * (20 - cap)
    assert answers[-1].json()["error"] == "unavailable"
    assert answers[-1]["Retry-After"] == "1"
    again = [client.get("/api/me", headers=bearer(token)).status_code for token in junk[:cap]]
    assert again == [401] * cap  # refusals are remembered: no more calls
    assert op.requests["/userinfo"] == cap


def test_api_without_token_or_session_answers_json_401(client, op):
    response = client.get("/api/me")

    assert response.status_code == 401
    assert response.json()["error"] == "unauthenticated"
    assert "Bearer" in response["WWW-Authenticate"]
    assert op.requests["/userinfo"] == 0


# -- 11b. Cognito access tokens on the API (no aud; client_id and token_use) -------------------


@pytest.fixture
def cognito(settings, op):
    """Configured as the README's Cognito recipe says."""
    settings.OIDC_API_CLIENT_IDS = [op.client_id]
    settings.OIDC_ROLES_CLAIM = "cognito:groups"


def test_cognito_access_token_works_on_the_api_with_roles_from_cognito_groups(client, op, cognito):
    Product.objects.create(sku="PEN-BLUE", name="Blue pen", unit_price=Decimal("1.50"))
    headers = bearer(op.issue_cognito_access_token("alice"))

    me = client.get("/api/me", headers=headers)
    placed = client.post(
        "/api/orders",
        {"lines": [{"sku": "PEN-BLUE", "quantity": 2}]},
        content_type="application/json",
        headers=headers,
    )
    listed = client.get("/api/orders", headers=headers)

    assert me.status_code == 200
    assert me.json()["sub"] == "alice"
    assert me.json()["roles"] == ["USER"]
    assert placed.status_code == 201, placed.content[:500]
    assert listed.status_code == 200
    assert [order["number"] for order in listed.json()["results"]] == [placed.json()["number"]]
    assert op.requests["/userinfo"] == 0


COGNITO_REFUSED = {
    "id-token": lambda op: op.issue_cognito_id_token("alice"),
    "other-client": lambda op: op.issue_cognito_access_token("alice", client_id="another-app"),
    "no-token-use": lambda op: op.issue_cognito_access_token(
        "alice", overrides={"token_use": DROP}
    ),
}


@pytest.mark.parametrize("path", ["/api/me", "/api/orders"])
@pytest.mark.parametrize("kind", COGNITO_REFUSED)
def test_cognito_tokens_that_are_not_ours_are_refused_with_401(client, op, cognito, kind, path):
    response = client.get(path, headers=bearer(COGNITO_REFUSED[kind](op)))

    assert response.status_code == 401
    assert response.json()["error"] == "unauthenticated"
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


@pytest.mark.parametrize("path", ["/api/me", "/api/orders"])
def test_token_without_aud_is_refused_when_no_client_ids_are_set(client, op, settings, path):
    settings.OIDC_ROLES_CLAIM = "cognito:groups"

    response = client.get(path, headers=bearer(op.issue_cognito_access_token("alice")))

    assert response.status_code == 401
    assert "aud" in response.json()["detail"]


def test_with_client_ids_set_okta_tokens_of_another_app_are_refused(client, op, cognito):
    ours = op.issue_access_token("alice")
    theirs = op.issue_access_token("alice", overrides={"cid": "another-app"})

    assert client.get("/api/me", headers=bearer(ours)).status_code == 200
    refused = client.get("/api/orders", headers=bearer(theirs))
    assert refused.status_code == 401
    assert refused.json()["detail"] == "the token was issued for another application"


# -- 12. admin site --------------------------------------------------------------------------


def test_anonymous_admin_visit_goes_to_sso_sign_in(client, op):
    response = client.get("/admin/")
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith("/oidc/authenticate/"), location  # no detour via /admin/login/
    assert query_of(location)["next"] == "/admin/"
    assert 'name="password"' not in response.content.decode()


def test_admin_site_without_admin_role_is_403_not_a_redirect(client, op):
    sign_in(client, op, "alice")

    response = client.get("/admin/")

    assert response.status_code == 403
    assert "You don't have access to this page" in response.content.decode()


def test_admin_site_opens_for_admin_role(client, op):
    sign_in(client, op, "admin")

    assert client.get("/admin/").status_code == 200


@pytest.mark.parametrize("who", [None, "alice", "admin"])
def test_admin_login_never_shows_a_password_form(client, op, who):
    if who:
        sign_in(client, op, who)

    response = client.get("/admin/login/", {"next": "/admin/"})

    assert 'name="password"' not in response.content.decode()
    assert response.status_code in (302, 403)


def test_admin_login_sends_a_signed_in_admin_on_not_to_403(client, op):
    sign_in(client, op, "admin")

    response = client.get("/admin/login/", {"next": "/admin/"})

    assert response.status_code == 302
    assert response["Location"] == "/admin/"


def test_admin_login_shows_password_form_only_with_break_glass(client, op, settings):
    settings.ADMIN_BREAK_GLASS_LOGIN = True

    response = client.get("/admin/login/")

    assert response.status_code == 200
    assert 'name="password"' in response.content.decode()


# -- 13. roles claim configuration -----------------------------------------------------------

ROLES_CLAIM_SHAPES = {
    "groups": {"groups": ["portal-admins"]},
    "cognito:groups": {"cognito:groups": ["portal-admins"]},
    "realm_access.roles": {"realm_access": {"roles": ["portal-admins"]}},
}


@pytest.mark.parametrize("in_id_token", [True, False], ids=["id-token", "userinfo-only"])
@pytest.mark.parametrize("claim", ROLES_CLAIM_SHAPES)
def test_roles_come_from_the_configured_claim(client, op, settings, claim, in_id_token):
    settings.OIDC_ROLES_CLAIM = claim
    shape = ROLES_CLAIM_SHAPES[claim]
    op.users["alice"] = {"sub": "alice", "email": "alice@example.com", **shape}
    authorize_url = start_sign_in(client)
    if not in_id_token:
        op.next_id_token_overrides = dict.fromkeys(shape, DROP)

    response = finish_sign_in(client, op, authorize_url)

    assert response.status_code == 302, response.content[:1000]
    id_claims = jwt.decode(client.session["oidc_id_token"], options={"verify_signature": False})
    assert (next(iter(shape)) in id_claims) is in_id_token
    alice = assert_signed_in_as(client, "alice")
    assert roles_of(alice) == {"ADMIN"}
    assert alice.is_staff
    assert client.session["oidc_claims_used"][claim] == ["portal-admins"]


def test_groups_claim_is_ignored_when_another_roles_claim_is_configured(client, op, settings):
    settings.OIDC_ROLES_CLAIM = "cognito:groups"
    op.users["bob"] = {"sub": "bob", "groups": ["portal-admins"]}

    sign_in(client, op, "bob")

    bob = assert_signed_in_as(client, "bob")
    assert roles_of(bob) == set()
    assert not bob.is_staff
