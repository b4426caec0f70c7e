"""Validation of the tokens we accept (ID tokens, API access tokens), with PyJWT only."""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
import time
from collections import OrderedDict
from typing import Any

import jwt
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured

from accounts.provider import (
    CallBudget,
    ProviderCallsThrottled,
    ProviderError,
    TokenError,
    configured_issuer,
    get_signing_key,
    userinfo_response,
)
from portal.text import is_storable

__all__ = [
    "ProviderError",
    "TokenError",
    "checked_identity_claims",
    "validate_access_token",
    "validate_id_token",
]

# RFC 6750 b64token; anything else cannot be a bearer token and must not reach an HTTP header.
_BEARER_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_MAX_TOKEN_LENGTH = 16_384

# How long a rejected opaque token is remembered, so retries don't each cost a provider call.
_NEGATIVE_CACHE_SECONDS = 30

_INVALID_OPAQUE = "the token is not valid or has expired"

# OpenID Connect Core 1.0, section 2: a sub is at most 255 characters (and our column too).
_MAX_SUBJECT_LENGTH = 255
# Claims the portal stores or shows as text. A token whose value is anything but text is refused
# rather than stored as the text of a list ("['a']") or cut short.
_TEXT_CLAIMS = ("email", "name", "given_name", "family_name")

# PyJWT's exceptions, most specific first, and what we tell people about them.
_JWT_REASONS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.ExpiredSignatureError, "the token has expired"),
    (jwt.ImmatureSignatureError, "the token is not valid yet"),
    (jwt.InvalidIssuerError, "the token was issued by another provider"),
    (jwt.InvalidAudienceError, "the token was issued for another application"),
    (jwt.InvalidIssuedAtError, "the token's issue time is not valid"),
    (jwt.exceptions.InvalidSubjectError, "the token does not name a user"),
    (jwt.InvalidSignatureError, "the token's signature is not valid"),
    (jwt.InvalidAlgorithmError, "the token uses a signing algorithm we do not accept"),
    (jwt.InvalidKeyError, "the token's signing key is not usable"),
    (jwt.DecodeError, "the token is malformed"),
)


def _client_id() -> str:
    """Our client id (OIDC_RP_CLIENT_ID, mozilla-django-oidc's name, set from OIDC_CLIENT_ID)."""
    client_id = settings.OIDC_RP_CLIENT_ID
    if not client_id:
        raise ImproperlyConfigured("OIDC_CLIENT_ID is not set")
    return client_id


def _leeway() -> float:
    """Allowed clock difference between us and the provider."""
    return float(settings.OIDC_CLOCK_LEEWAY_SECONDS)


def _allowed_algorithms() -> list[str]:
    """The configured signature algorithms, minus any that can never be safe here."""
    return [alg for alg in settings.OIDC_SIGN_ALGS if not _is_forbidden_alg(alg)]


def _is_forbidden_alg(alg: str) -> bool:
    """True for "none" and HMAC: with public keys, HMAC lets anyone forge a signature."""
    return alg.lower() == "none" or alg.upper().startswith("HS")


def _reason(error: jwt.PyJWTError) -> str:
    """A short human reason for a PyJWT exception."""
    if isinstance(error, jwt.MissingRequiredClaimError):
        return f"the token lacks the required '{error.claim}' claim"
    for error_type, reason in _JWT_REASONS:
        if isinstance(error, error_type):
            return reason
    return "the token is not valid"


def _unverified_header(token: str) -> dict[str, Any]:
    """The JWS header, read only to pick the algorithm and key; nothing in it is trusted."""
    try:
        return jwt.get_unverified_header(token)
    except jwt.PyJWTError as error:
        raise TokenError("the token is malformed") from error


def _key_for(header: dict[str, Any], *, from_token_endpoint: bool) -> tuple[jwt.PyJWK, str]:
    """Check the header's algorithm before choosing a key, then get the provider's key."""
    alg = header.get("alg")
    if not isinstance(alg, str) or _is_forbidden_alg(alg) or alg not in _allowed_algorithms():
        raise TokenError("the token uses a signing algorithm we do not accept")
    kid = header.get("kid")
    return get_signing_key(kid, alg, from_token_endpoint=from_token_endpoint), alg


def _decode(
    token: str,
    *,
    audience: str | None,
    require: list[str],
    header: dict[str, Any] | None = None,
    from_token_endpoint: bool = False,
) -> dict[str, Any]:
    """Verify signature and standard claims of a JWT from our provider (aud: None, the caller's)."""
    header = header if header is not None else _unverified_header(token)
    key, alg = _key_for(header, from_token_endpoint=from_token_endpoint)
    try:
        return jwt.decode(
            token,
            key,
            algorithms=[alg],
            audience=audience,
            issuer=configured_issuer(),
            leeway=_leeway(),
            options={"require": require, "verify_iat": True, "verify_aud": audience is not None},
        )
    except jwt.PyJWTError as error:
        raise TokenError(_reason(error)) from error


def validate_id_token(id_token: str, *, nonce: str) -> dict[str, Any]:
    """Validate an ID token from the sign-in flow and return its claims."""
    client_id = _client_id()
    claims = _decode(
        id_token,
        audience=client_id,
        require=["iss", "aud", "exp", "iat", "sub"],
        from_token_endpoint=True,  # only ever read from our own back-channel token request
    )
    checked_identity_claims(claims)
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    azp = claims.get("azp")
    # With several audiences, azp says which client the token was really issued to.
    if (len(audiences) > 1 or azp is not None) and azp != client_id:
        raise TokenError("the token was issued for another application")
    token_nonce = claims.get("nonce")
    if (
        not nonce
        or not isinstance(token_nonce, str)
        or not hmac.compare_digest(token_nonce.encode(), nonce.encode())
    ):
        raise TokenError("the token does not belong to this sign-in attempt")
    return claims


def _is_storable_text(value: Any) -> bool:
    """A string every database takes (see portal.text.is_storable)."""
    return isinstance(value, str) and is_storable(value)


def checked_identity_claims(claims: dict[str, Any]) -> dict[str, Any]:
    """The claims, once `sub` and the claims used as text are fit to store; else TokenError.

    `sub` must be a non-empty string: the empty subject marks local (password) accounts.
    """
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise TokenError("the token does not name a user")
    if len(sub) > _MAX_SUBJECT_LENGTH:
        raise TokenError(f"the token's 'sub' is longer than {_MAX_SUBJECT_LENGTH} characters")
    for name in ("sub", *_TEXT_CLAIMS):
        value = claims.get(name)
        if value is not None and not _is_storable_text(value):
            raise TokenError(f"the token's '{name}' claim is not plain text")
    return claims


def _jwt_header(token: str) -> dict[str, Any] | None:
    """The JWS header when the token is a JWT (three parts, decodable header), else None."""
    if token.count(".") != 2:
        return None
    try:
        return jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        return None


class _ValidatedTokens:
    """Claims of JWT access tokens already verified in this process, until they expire.

    API clients send the same token with every request until it expires; verifying it once
    per process saves the parsing and RSA work on every later request. An entry lives at most
    OIDC_ACCESS_TOKEN_CACHE_SECONDS, so a key the provider withdraws stops working within it.
    """

    def __init__(self, max_entries: int = 10_000):
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token: str) -> dict[str, Any] | None:
        with self._lock:
            entry = self._entries.get(token)
            if entry is None:
                return None
            if entry[0] <= time.time():
                del self._entries[token]
                return None
            self._entries.move_to_end(token)
            return entry[1]

    def put(self, token: str, claims: dict[str, Any]) -> None:
        ttl = float(settings.OIDC_ACCESS_TOKEN_CACHE_SECONDS)
        until = min(float(claims["exp"]), time.time() + ttl)
        with self._lock:
            self._entries[token] = (until, claims)
            self._entries.move_to_end(token)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


validated_access_tokens = _ValidatedTokens()
# Userinfo calls for opaque tokens this process has not seen (or not recently): made-up tokens
# cost an attacker nothing, and must not use up the provider's rate limit for everyone.
opaque_token_checks = CallBudget()


def clear_caches() -> None:
    """Forget verified tokens and the spent check budget (for tests)."""
    validated_access_tokens.clear()
    opaque_token_checks.reset()


def validate_access_token(token: str) -> dict[str, Any]:
    """Validate a bearer token for our API (JWT or opaque) and return its claims."""
    if (
        not isinstance(token, str)
        or len(token) > _MAX_TOKEN_LENGTH
        or not _BEARER_TOKEN.fullmatch(token)
    ):
        raise TokenError("the token is malformed")
    # Keyed with the settings it was checked against, so a changed configuration never reuses it.
    cache_key = "\n".join(
        [
            configured_issuer(),
            settings.OIDC_API_AUDIENCE,
            ",".join(settings.OIDC_API_CLIENT_IDS),
            token,
        ]
    )
    cached = validated_access_tokens.get(cache_key)
    if cached is not None:
        return dict(cached)
    header = _jwt_header(token)
    if header is not None:
        claims = _validate_jwt_access_token(token, header)
        validated_access_tokens.put(cache_key, claims)
        return dict(claims)
    return _validate_opaque_token(token)


def _validate_jwt_access_token(token: str, header: dict[str, Any]) -> dict[str, Any]:
    """Validate a JWT access token locally against the provider's keys."""
    audience, client_ids = settings.OIDC_API_AUDIENCE, settings.OIDC_API_CLIENT_IDS
    if not audience and not client_ids:
        raise ImproperlyConfigured("OIDC_API_AUDIENCE is not set")
    # The audience rule depends on whether the token has an aud at all: checked below.
    claims = _decode(token, audience=None, require=["iss", "exp", "sub"], header=header)
    _check_api_audience(claims, audience=audience, client_ids=client_ids)
    return checked_identity_claims(claims)


def _check_api_audience(claims: dict[str, Any], *, audience: str, client_ids: list[str]) -> None:
    """A token with an aud must name OIDC_API_AUDIENCE. Cognito's access tokens have none; they
    are accepted as its documentation says: token_use "access" and one of our client ids."""
    purpose = claims.get("token_use")
    if purpose is not None and purpose != "access":
        raise TokenError("the token is not an access token")  # a Cognito id token, say
    if "aud" in claims:
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if not audience or audience not in audiences:
            raise TokenError("the token was issued for another application")
    elif not client_ids:
        raise TokenError("the token lacks the required 'aud' claim")
    elif purpose != "access":
        raise TokenError("the token is not an access token")
    if client_ids:
        # Okta names the client in cid, others in azp, Cognito in client_id; on Okta's default
        # server every app's tokens carry the same aud, so only this tells them apart.
        named = [claims[name] for name in ("cid", "azp", "client_id") if name in claims]
        if not named or any(client not in client_ids for client in named):
            raise TokenError("the token was issued for another application")


def _opaque_cache_key(token: str) -> str:
    """A cache key that never contains the token itself."""
    digest = hashlib.sha256(f"{configured_issuer()}\n{token}".encode()).hexdigest()
    return f"oidc:userinfo:{digest}"


def _validate_opaque_token(token: str) -> dict[str, Any]:
    """Validate an opaque token by asking the provider's userinfo endpoint (answer cached)."""
    key = _opaque_cache_key(token)
    cached = cache.get(key)
    if isinstance(cached, dict):
        return dict(cached)
    if cached == _INVALID_OPAQUE:
        raise TokenError(_INVALID_OPAQUE)
    if not opaque_token_checks.take(settings.OIDC_OPAQUE_TOKEN_CHECKS_PER_SECOND):
        raise ProviderCallsThrottled("too many unknown tokens to check right now")
    response = userinfo_response(token)
    ttl = int(settings.OIDC_OPAQUE_TOKEN_CACHE_SECONDS)
    if response.status_code in (400, 401, 403):
        if ttl > 0:
            cache.set(key, _INVALID_OPAQUE, min(ttl, _NEGATIVE_CACHE_SECONDS))
        raise TokenError(_INVALID_OPAQUE)
    if response.status_code != 200:
        raise ProviderError(
            f"the provider answered the userinfo request with HTTP {response.status_code}"
        )
    try:
        claims = checked_identity_claims(response.json())
    except TokenError:
        if ttl > 0:  # the same answer would come back: don't ask again for a while
            cache.set(key, _INVALID_OPAQUE, min(ttl, _NEGATIVE_CACHE_SECONDS))
        raise
    if ttl > 0:
        cache.set(key, claims, ttl)
    return claims
