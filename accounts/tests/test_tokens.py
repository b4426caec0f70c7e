"""Tests for token validation and the provider metadata/key cache, against a local test provider."""

from __future__ import annotations

import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from accounts import provider
from accounts.provider import ProviderCallsThrottled, ProviderError
from accounts.tests.oidc_test_provider import DROP, OIDCTestProvider
from accounts.tokens import TokenError, validate_access_token, validate_id_token

NONCE = "n-0S6_WzA2Mj"


@pytest.fixture(autouse=True)
def _use_test_provider(op_settings: None) -> None:
    """Every test here talks to the test provider with empty caches."""


def reject(token: str, reason: str, *, nonce: str = NONCE) -> None:
    """Assert the ID token is rejected with this reason."""
    with pytest.raises(TokenError) as caught:
        validate_id_token(token, nonce=nonce)
    assert str(caught.value) == reason


# -- ID tokens ------------------------------------------------------------------------------


def test_valid_id_token_is_accepted(op: OIDCTestProvider) -> None:
    claims = validate_id_token(op.issue_id_token("alice", nonce=NONCE), nonce=NONCE)
    assert claims["sub"] == "alice"
    assert claims["email"] == "alice@example.com"
    assert claims["groups"] == ["portal-users"]


def test_es256_id_token_is_accepted(op: OIDCTestProvider) -> None:
    op.rotate_key(alg="ES256")
    assert validate_id_token(op.issue_id_token(nonce=NONCE), nonce=NONCE)["sub"] == "alice"


def test_algorithm_outside_the_allow_list_is_rejected(op: OIDCTestProvider, settings: Any) -> None:
    settings.OIDC_SIGN_ALGS = ["ES256"]
    reject(op.issue_id_token(nonce=NONCE), "the token uses a signing algorithm we do not accept")


def test_hmac_is_rejected_even_when_configured(op: OIDCTestProvider, settings: Any) -> None:
    settings.OIDC_SIGN_ALGS = ["RS256", "HS256", "none"]
    token = op.issue_id_token(nonce=NONCE, tamper="hs256-public-key")
    reject(token, "the token uses a signing algorithm we do not accept")
    assert op.requests["/jwks"] == 0  # refused before any key was looked up


def test_signature_by_a_key_not_in_the_jwks_is_rejected(op: OIDCTestProvider) -> None:
    token = op.issue_id_token(nonce=NONCE, tamper="foreign-key")
    reject(token, "the token's signature is not valid")


def test_tampered_payload_is_rejected(op: OIDCTestProvider) -> None:
    header, _, signature = op.issue_id_token(nonce=NONCE).split(".")
    other_payload = op.issue_id_token("bob", nonce=NONCE).split(".")[1]
    reject(f"{header}.{other_payload}.{signature}", "the token's signature is not valid")


def test_alg_none_is_rejected(op: OIDCTestProvider) -> None:
    reject(
        op.issue_id_token(nonce=NONCE, tamper="alg-none"),
        "the token uses a signing algorithm we do not accept",
    )


def test_hs256_keyed_with_the_public_key_is_rejected(op: OIDCTestProvider) -> None:
    reject(
        op.issue_id_token(nonce=NONCE, tamper="hs256-public-key"),
        "the token uses a signing algorithm we do not accept",
    )


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        ("wrong-iss", "the token was issued by another provider"),
        ("wrong-aud", "the token was issued for another application"),
        ("multi-aud-no-azp", "the token was issued for another application"),
        ("multi-aud-wrong-azp", "the token was issued for another application"),
        ("expired", "the token has expired"),
        ("future-iat", "the token is not valid yet"),
        ("no-iat", "the token lacks the required 'iat' claim"),
        ("no-sub", "the token lacks the required 'sub' claim"),
        ("no-exp", "the token lacks the required 'exp' claim"),
        ("wrong-nonce", "the token does not belong to this sign-in attempt"),
    ],
)
def test_spoiled_id_token_is_rejected(op: OIDCTestProvider, tamper: str, reason: str) -> None:
    reject(op.issue_id_token(nonce=NONCE, tamper=tamper), reason)


def test_multiple_audiences_with_our_azp_are_accepted(op: OIDCTestProvider) -> None:
    token = op.issue_id_token(
        nonce=NONCE, overrides={"aud": [op.client_id, "other"], "azp": op.client_id}
    )
    assert validate_id_token(token, nonce=NONCE)["sub"] == "alice"


def test_expiry_within_the_leeway_is_accepted(op: OIDCTestProvider) -> None:
    now = int(time.time())
    token = op.issue_id_token(nonce=NONCE, overrides={"iat": now - 400, "exp": now - 30})
    assert validate_id_token(token, nonce=NONCE)["sub"] == "alice"


def test_missing_nonce_is_rejected(op: OIDCTestProvider) -> None:
    reject(op.issue_id_token(), "the token does not belong to this sign-in attempt")


def test_empty_expected_nonce_is_rejected(op: OIDCTestProvider) -> None:
    reject(
        op.issue_id_token(nonce=""), "the token does not belong to this sign-in attempt", nonce=""
    )


def test_garbage_is_rejected() -> None:
    reject("not-a-jwt", "the token is malformed")


def test_token_without_kid_is_accepted_when_the_jwks_has_one_key(op: OIDCTestProvider) -> None:
    token = op.issue_id_token(nonce=NONCE, headers={"kid": DROP})
    assert validate_id_token(token, nonce=NONCE)["sub"] == "alice"


def test_token_without_kid_is_rejected_when_the_jwks_has_several(op: OIDCTestProvider) -> None:
    op.rotate_key(keep_old=True)
    reject(
        op.issue_id_token(nonce=NONCE, headers={"kid": DROP}),
        "the token does not say which key signed it",
    )


# -- keys and metadata caching -----------------------------------------------------------------


def test_discovery_and_jwks_are_fetched_once(op: OIDCTestProvider) -> None:
    for user in ("alice", "bob", "alice", "bob"):
        validate_id_token(op.issue_id_token(user, nonce=NONCE), nonce=NONCE)
    validate_access_token(op.issue_access_token("alice"))
    assert op.requests["/.well-known/openid-configuration"] == 1
    assert op.requests["/jwks"] == 1


def test_rotated_key_is_accepted_after_exactly_one_jwks_refetch(op: OIDCTestProvider) -> None:
    validate_id_token(op.issue_id_token(nonce=NONCE), nonce=NONCE)
    old_token = op.issue_id_token(nonce=NONCE)
    op.rotate_key()
    for _ in range(3):
        assert validate_id_token(op.issue_id_token(nonce=NONCE), nonce=NONCE)["sub"] == "alice"
    assert op.requests["/jwks"] == 2
    reject(old_token, "unknown signing key")  # the old key left the JWKS


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The provider cache's clock, moved by hand: clock[0] += 61."""
    now = [1000.0]
    monkeypatch.setattr(provider, "_clock", lambda: now[0])
    return now


def junk_bearer_tokens(op: OIDCTestProvider, count: int) -> None:
    """Send `count` validly shaped access tokens with made-up kids; each must be refused."""
    for _ in range(count):
        token = op.issue_access_token(headers={"kid": secrets.token_hex(8)})
        with pytest.raises(TokenError, match="unknown signing key"):
            validate_access_token(token)


def test_unknown_kid_in_an_id_token_always_refetches_once(op: OIDCTestProvider) -> None:
    validate_id_token(op.issue_id_token(nonce=NONCE), nonce=NONCE)
    assert op.requests["/jwks"] == 1
    for kid in ("made-up-1", "made-up-2", "made-up-3"):
        reject(op.issue_id_token(nonce=NONCE, headers={"kid": kid}), "unknown signing key")
    assert op.requests["/jwks"] == 4  # one refetch per id_token, never more


def test_junk_bearer_kids_cause_at_most_one_jwks_fetch_per_interval(
    op: OIDCTestProvider, clock: list[float]
) -> None:
    validate_access_token(op.issue_access_token())
    assert op.requests["/jwks"] == 1
    junk_bearer_tokens(op, 30)
    assert op.requests["/jwks"] == 1  # our copy is younger than the interval: no refetch
    for interval in range(1, 4):
        clock[0] += 61
        junk_bearer_tokens(op, 30)
        assert op.requests["/jwks"] == 1 + interval


def test_id_token_refetch_is_not_used_up_by_a_junk_burst(
    op: OIDCTestProvider, clock: list[float]
) -> None:
    validate_access_token(op.issue_access_token())
    clock[0] += 61
    junk_bearer_tokens(op, 50)
    assert op.requests["/jwks"] == 2
    op.rotate_key()

    claims = validate_id_token(op.issue_id_token(nonce=NONCE), nonce=NONCE)

    assert claims["sub"] == "alice"
    assert op.requests["/jwks"] == 3
    # The sign-in's refetch serves the API too: a Bearer token with the new key, no fetch.
    assert validate_access_token(op.issue_access_token())["sub"] == "alice"
    assert op.requests["/jwks"] == 3


def test_bearer_token_with_a_rotated_key_is_accepted_within_one_interval(
    op: OIDCTestProvider, clock: list[float], settings: Any
) -> None:
    validate_access_token(op.issue_access_token())
    clock[0] += 61
    junk_bearer_tokens(op, 50)  # takes this interval's refetch
    op.rotate_key()
    token = op.issue_access_token()

    with pytest.raises(TokenError, match="unknown signing key"):
        validate_access_token(token)
    clock[0] += settings.OIDC_JWKS_MIN_REFETCH_SECONDS
    assert validate_access_token(token)["sub"] == "alice"
    assert op.requests["/jwks"] == 3


def test_concurrent_sign_ins_after_a_rotation_share_one_jwks_fetch(op: OIDCTestProvider) -> None:
    validate_id_token(op.issue_id_token(nonce=NONCE), nonce=NONCE)
    op.rotate_key()
    op.delays["/jwks"] = 0.3  # long enough that every thread arrives while the fetch runs
    id_tokens = [op.issue_id_token(user, nonce=NONCE) for user in ["alice", "bob"] * 4]

    with ThreadPoolExecutor(max_workers=len(id_tokens)) as pool:
        subs = list(pool.map(lambda token: validate_id_token(token, nonce=NONCE)["sub"], id_tokens))

    assert subs == ["alice", "bob"] * 4
    assert op.requests["/jwks"] == 2  # the first fetch and one refetch for all eight


def test_failed_refetch_for_an_id_token_is_a_provider_error(op: OIDCTestProvider) -> None:
    validate_id_token(op.issue_id_token(nonce=NONCE), nonce=NONCE)
    op.rotate_key()
    op.fail_paths["/jwks"] = 503
    with pytest.raises(ProviderError, match="HTTP 503"):
        validate_id_token(op.issue_id_token(nonce=NONCE), nonce=NONCE)


def test_caches_expire_after_the_ttl(op: OIDCTestProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(provider, "_clock", lambda: now[0])
    validate_id_token(op.issue_id_token(nonce=NONCE), nonce=NONCE)
    now[0] += 3601
    validate_id_token(op.issue_id_token(nonce=NONCE), nonce=NONCE)
    assert op.requests["/.well-known/openid-configuration"] == 2
    assert op.requests["/jwks"] == 2


def test_stale_copy_is_used_while_the_provider_is_down(
    op: OIDCTestProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr(provider, "_clock", lambda: now[0])
    validate_id_token(op.issue_id_token(nonce=NONCE), nonce=NONCE)
    op.fail_paths["/.well-known/openid-configuration"] = 503
    now[0] += 3601
    for _ in range(3):
        validate_id_token(op.issue_id_token(nonce=NONCE), nonce=NONCE)
    assert op.requests["/.well-known/openid-configuration"] == 2  # retried once, not per call


def test_discovery_issuer_mismatch_is_a_provider_error(op: OIDCTestProvider) -> None:
    op.discovery_overrides["issuer"] = "https://attacker.example"
    with pytest.raises(ProviderError, match=r"names issuer 'https://attacker\.example'"):
        validate_id_token(op.issue_id_token(nonce=NONCE), nonce=NONCE)


def test_issuer_with_trailing_slash_must_match_exactly(settings: Any, op: OIDCTestProvider) -> None:
    settings.OIDC_ISSUER = op.issuer + "/"
    with pytest.raises(ProviderError, match="not the configured"):
        provider.get_provider_metadata()
    assert op.requests["/.well-known/openid-configuration"] == 1  # no double slash in the URL


def test_provider_down_is_a_provider_error(op: OIDCTestProvider) -> None:
    token = op.issue_id_token(nonce=NONCE)
    op.stop()
    with pytest.raises(ProviderError, match="could not be reached"):
        validate_id_token(token, nonce=NONCE)


@pytest.mark.parametrize("path", ["/.well-known/openid-configuration", "/jwks"])
def test_provider_5xx_is_a_provider_error(op: OIDCTestProvider, path: str) -> None:
    op.fail_paths[path] = 502
    with pytest.raises(ProviderError, match="HTTP 502"):
        validate_id_token(op.issue_id_token(nonce=NONCE), nonce=NONCE)


def test_provider_timeout_is_a_provider_error(op: OIDCTestProvider, settings: Any) -> None:
    settings.OIDC_HTTP_TIMEOUT = 0.2
    op.delays["/.well-known/openid-configuration"] = 1
    with pytest.raises(ProviderError, match="in time"):
        provider.get_provider_metadata()


def test_explicit_endpoint_settings_override_discovery(settings: Any, op: OIDCTestProvider) -> None:
    settings.OIDC_OP_TOKEN_ENDPOINT = "https://override.example/token"
    metadata = provider.get_provider_metadata()
    assert metadata["token_endpoint"] == "https://override.example/token"
    assert metadata["jwks_uri"] == op.url("/jwks")
    assert provider.endpoint("token_endpoint") == "https://override.example/token"
    assert provider.endpoint("end_session_endpoint") == op.url("/logout")


def test_provider_calls_are_counted(op: OIDCTestProvider) -> None:
    before = provider.provider_calls.copy()
    validate_id_token(op.issue_id_token(nonce=NONCE), nonce=NONCE)
    validate_id_token(op.issue_id_token(nonce=NONCE), nonce=NONCE)
    calls = provider.provider_calls - before
    assert calls == {"discovery": 1, "jwks": 1}


# -- access tokens --------------------------------------------------------------------------


def test_jwt_access_token_is_accepted(op: OIDCTestProvider) -> None:
    claims = validate_access_token(op.issue_access_token("admin"))
    assert claims["sub"] == "admin"
    assert claims["groups"] == ["portal-admins", "portal-users"]
    assert op.requests["/userinfo"] == 0


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"aud": "api://other"}, "the token was issued for another application"),
        ({"iss": "https://attacker.example"}, "the token was issued by another provider"),
        ({"exp": int(time.time()) - 3600}, "the token has expired"),
        ({"exp": DROP}, "the token lacks the required 'exp' claim"),
    ],
)
def test_bad_jwt_access_token_is_rejected(
    op: OIDCTestProvider, overrides: dict[str, Any], reason: str
) -> None:
    with pytest.raises(TokenError) as caught:
        validate_access_token(op.issue_access_token(overrides=overrides))
    assert str(caught.value) == reason


# Claims no access token, id token or userinfo answer may carry, and the reason given.
BAD_IDENTITY_CLAIMS = {
    "empty-sub": ({"sub": ""}, "the token does not name a user"),
    "number-sub": ({"sub": 12345}, "the token does not name a user"),
    "long-sub": ({"sub": "s" * 256}, "the token's 'sub' is longer than 255 characters"),
    "nul-in-sub": ({"sub": "alice\x00admin"}, "the token's 'sub' claim is not plain text"),
    "surrogate-in-sub": ({"sub": "alice\ud800"}, "the token's 'sub' claim is not plain text"),
    "list-email": ({"email": ["a@example.com"]}, "the token's 'email' claim is not plain text"),
    "nul-in-email": ({"email": "a@example.com\x00"}, "the token's 'email' claim is not plain text"),
    "object-name": ({"name": {"first": "A"}}, "the token's 'name' claim is not plain text"),
    "number-family-name": ({"family_name": 7}, "the token's 'family_name' claim is not plain text"),
}


@pytest.mark.parametrize("case", BAD_IDENTITY_CLAIMS)
def test_jwt_access_token_with_unusable_identity_claims_is_rejected(
    op: OIDCTestProvider, case: str
) -> None:
    overrides, reason = BAD_IDENTITY_CLAIMS[case]
    with pytest.raises(TokenError) as caught:
        validate_access_token(op.issue_access_token(overrides=overrides))
    assert str(caught.value) == reason


@pytest.mark.parametrize("case", BAD_IDENTITY_CLAIMS)
def test_opaque_token_with_unusable_userinfo_claims_is_rejected_and_remembered(
    op: OIDCTestProvider, case: str
) -> None:
    overrides, reason = BAD_IDENTITY_CLAIMS[case]
    op.userinfo_overrides = overrides
    token = op.issue_opaque_token()
    with pytest.raises(TokenError) as caught:
        validate_access_token(token)
    assert str(caught.value) == reason
    with pytest.raises(TokenError):
        validate_access_token(token)
    assert op.requests["/userinfo"] == 1


@pytest.mark.parametrize("case", BAD_IDENTITY_CLAIMS)
def test_id_token_with_unusable_identity_claims_is_rejected(
    op: OIDCTestProvider, case: str
) -> None:
    overrides, reason = BAD_IDENTITY_CLAIMS[case]
    reject(op.issue_id_token(nonce=NONCE, overrides=overrides), reason)


def test_access_token_without_sub_is_rejected(op: OIDCTestProvider) -> None:
    with pytest.raises(TokenError, match="lacks the required 'sub' claim"):
        validate_access_token(op.issue_access_token(overrides={"sub": DROP}))


def test_sub_of_255_characters_and_a_null_email_are_accepted(op: OIDCTestProvider) -> None:
    token = op.issue_access_token(overrides={"sub": "s" * 255, "email": None})
    assert validate_access_token(token)["sub"] == "s" * 255


def test_id_token_is_not_an_access_token(op: OIDCTestProvider) -> None:
    with pytest.raises(TokenError, match="another application"):
        validate_access_token(op.issue_id_token(nonce=NONCE))


@pytest.mark.parametrize("signing", ["alg-none", "hs256-public-key"])
def test_forged_jwt_access_token_is_rejected(op: OIDCTestProvider, signing: str) -> None:
    with pytest.raises(TokenError, match="algorithm"):
        validate_access_token(op.issue_access_token(signing=signing))


# -- Cognito access tokens (no aud; client_id and token_use) and the client-id rule ----------


@pytest.fixture
def cognito(settings: Any, op: OIDCTestProvider) -> None:
    """Configured as the README's Cognito recipe says."""
    settings.OIDC_API_CLIENT_IDS = [op.client_id]
    settings.OIDC_ROLES_CLAIM = "cognito:groups"


def test_cognito_access_token_is_accepted_with_its_client_id(
    op: OIDCTestProvider, cognito: None
) -> None:
    claims = validate_access_token(op.issue_cognito_access_token("alice"))
    assert claims["sub"] == "alice"
    assert claims["cognito:groups"] == ["portal-users"]
    assert "aud" not in claims
    assert op.requests["/userinfo"] == 0


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"token_use": "id"}, "the token is not an access token"),
        ({"token_use": DROP}, "the token is not an access token"),
        ({"client_id": "another-app"}, "the token was issued for another application"),
        ({"client_id": DROP}, "the token was issued for another application"),
        ({"iss": "https://attacker.example"}, "the token was issued by another provider"),
        ({"exp": int(time.time()) - 3600}, "the token has expired"),
    ],
)
def test_bad_cognito_access_token_is_rejected(
    op: OIDCTestProvider, cognito: None, overrides: dict[str, Any], reason: str
) -> None:
    with pytest.raises(TokenError) as caught:
        validate_access_token(op.issue_cognito_access_token(overrides=overrides))
    assert str(caught.value) == reason


def test_cognito_id_token_is_not_an_access_token(
    op: OIDCTestProvider, cognito: None, settings: Any
) -> None:
    settings.OIDC_API_AUDIENCE = op.client_id  # even where its aud would pass
    with pytest.raises(TokenError, match="not an access token"):
        validate_access_token(op.issue_cognito_id_token("alice"))


def test_token_without_aud_is_rejected_when_no_client_ids_are_set(op: OIDCTestProvider) -> None:
    with pytest.raises(TokenError, match="lacks the required 'aud' claim"):
        validate_access_token(op.issue_cognito_access_token())


def test_signature_of_a_cognito_token_is_checked(op: OIDCTestProvider, cognito: None) -> None:
    header, _payload, signature = op.issue_cognito_access_token().split(".")
    forged_payload = op.issue_cognito_access_token("bob").split(".")[1]
    with pytest.raises(TokenError, match="signature is not valid"):
        validate_access_token(f"{header}.{forged_payload}.{signature}")


@pytest.mark.parametrize(
    ("overrides", "accepted"),
    [
        ({}, True),  # the test provider's access tokens carry cid, as Okta's do
        ({"cid": "another-app"}, False),
        ({"cid": DROP, "azp": "test-client"}, True),
        ({"cid": DROP, "azp": "another-app"}, False),
        ({"cid": DROP, "client_id": "test-client"}, True),
        ({"cid": DROP}, False),  # names no client at all
        ({"azp": "another-app"}, False),  # cid is ours, azp is not
    ],
)
def test_with_client_ids_set_every_access_token_must_name_one(
    op: OIDCTestProvider, cognito: None, overrides: dict[str, Any], accepted: bool
) -> None:
    token = op.issue_access_token("alice", overrides=overrides)
    if accepted:
        assert validate_access_token(token)["sub"] == "alice"
    else:
        with pytest.raises(TokenError, match="issued for another application"):
            validate_access_token(token)


def test_aud_rule_still_applies_when_client_ids_are_set(
    op: OIDCTestProvider, cognito: None
) -> None:
    with pytest.raises(TokenError, match="issued for another application"):
        validate_access_token(op.issue_access_token(overrides={"aud": "api://other"}))


def test_opaque_token_is_validated_once_then_cached(op: OIDCTestProvider) -> None:
    token = op.issue_opaque_token("bob")
    for _ in range(3):
        claims = validate_access_token(token)
        assert claims["sub"] == "bob"
        assert claims["email"] == "bob@example.com"
    assert op.requests["/userinfo"] == 1
    assert provider.provider_calls["userinfo"] >= 1


def test_opaque_token_cache_can_be_turned_off(op: OIDCTestProvider, settings: Any) -> None:
    settings.OIDC_OPAQUE_TOKEN_CACHE_SECONDS = 0
    token = op.issue_opaque_token()
    validate_access_token(token)
    validate_access_token(token)
    assert op.requests["/userinfo"] == 2


def test_unknown_opaque_token_is_rejected_and_briefly_remembered(op: OIDCTestProvider) -> None:
    for _ in range(2):
        with pytest.raises(TokenError, match="not valid or has expired"):
            validate_access_token("definitely-not-issued")
    assert op.requests["/userinfo"] == 1


def test_unseen_opaque_tokens_are_checked_at_most_the_cap_per_second(
    op: OIDCTestProvider, clock: list[float], settings: Any
) -> None:
    known = op.issue_opaque_token("alice")
    validate_access_token(known)
    cap = settings.OIDC_OPAQUE_TOKEN_CHECKS_PER_SECOND
    outcomes = []
    for _ in range(20):
        try:
            validate_access_token(secrets.token_urlsafe(32))
        except ProviderCallsThrottled as error:
            outcomes.append(f"throttled, retry after {error.retry_after_seconds}s")
        except TokenError:
            outcomes.append("refused")

    assert op.requests["/userinfo"] == cap  # the known token's check included
    assert outcomes == ["refused"] * (cap - 1) + ["throttled, retry after 1s"] * (21 - cap)
    assert validate_access_token(known)["sub"] == "alice"  # cached answers still serve
    clock[0] += 0.5  # half a second refills half the budget
    for _ in range(cap // 2):
        with pytest.raises(TokenError, match="not valid or has expired"):
            validate_access_token(secrets.token_urlsafe(32))
    with pytest.raises(ProviderCallsThrottled):
        validate_access_token(secrets.token_urlsafe(32))
    assert op.requests["/userinfo"] == cap + cap // 2


def test_opaque_token_checks_are_uncapped_with_zero(
    op: OIDCTestProvider, clock: list[float], settings: Any
) -> None:
    settings.OIDC_OPAQUE_TOKEN_CHECKS_PER_SECOND = 0
    for _ in range(20):
        with pytest.raises(TokenError):
            validate_access_token(secrets.token_urlsafe(32))
    assert op.requests["/userinfo"] == 20


def test_opaque_token_of_a_disabled_user_is_rejected(op: OIDCTestProvider) -> None:
    op.disabled.add("alice")
    with pytest.raises(TokenError, match="not valid or has expired"):
        validate_access_token(op.issue_opaque_token("alice"))


def test_userinfo_outage_is_a_provider_error(op: OIDCTestProvider) -> None:
    op.fail_paths["/userinfo"] = 503
    with pytest.raises(ProviderError, match="HTTP 503"):
        validate_access_token(op.issue_opaque_token())


def test_userinfo_without_sub_refuses_the_token(op: OIDCTestProvider) -> None:
    op.userinfo_overrides["sub"] = DROP
    with pytest.raises(TokenError, match="does not name a user"):
        validate_access_token(op.issue_opaque_token())


@pytest.mark.parametrize("token", ["", "has space", "line\nbreak", "x" * 20_000])
def test_malformed_bearer_token_is_not_sent(op: OIDCTestProvider, token: str) -> None:
    with pytest.raises(TokenError, match="malformed"):
        validate_access_token(token)
    assert op.requests["/userinfo"] == 0
