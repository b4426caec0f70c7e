"""The OpenID provider's metadata and signing keys, fetched over HTTP and cached per process."""

from __future__ import annotations

import collections
import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import jwt
import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger(__name__)

# Discovery keys that an explicit OIDC_OP_* setting may override.
ENDPOINT_SETTINGS: dict[str, str] = {
    "authorization_endpoint": "OIDC_OP_AUTHORIZATION_ENDPOINT",
    "token_endpoint": "OIDC_OP_TOKEN_ENDPOINT",
    "userinfo_endpoint": "OIDC_OP_USER_ENDPOINT",
    "jwks_uri": "OIDC_OP_JWKS_ENDPOINT",
    "end_session_endpoint": "OIDC_OP_LOGOUT_ENDPOINT",
}

# Key types that can carry a signature we would verify; "oct" (shared secrets) never qualifies.
_SIGNING_KEY_TYPES = frozenset({"RSA", "EC", "OKP"})

# Server-to-server calls by kind (discovery, jwks, token, userinfo), for benchmarks and tests.
provider_calls: collections.Counter[str] = collections.Counter()

# Monotonic clock, a module attribute so tests can move time forward.
_clock = time.monotonic


class ProviderError(Exception):
    """The provider could not be reached or answered something we cannot use."""

    retry_after_seconds = 30  # what an API client is told to wait


class ProviderCallsThrottled(ProviderError):
    """We would call the provider, but this process's budget for such calls is spent."""

    retry_after_seconds = 1


class CallBudget:
    """At most `per_second` calls per second in this process (a token bucket: short bursts of
    up to one second's worth pass, then one call every 1/per_second seconds)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._allowance = 0.0
        self._updated: float | None = None

    def take(self, per_second: float) -> bool:
        """Spend one call if the budget has one; per_second 0 means no limit."""
        if per_second <= 0:
            return True
        with self._lock:
            now = _clock()
            if self._updated is None:
                self._allowance = per_second  # a new process starts with a full second's worth
            else:
                refill = (now - self._updated) * per_second
                self._allowance = min(per_second, self._allowance + refill)
            self._updated = now
            if self._allowance < 1:
                return False
            self._allowance -= 1
            return True

    def reset(self) -> None:
        with self._lock:
            self._allowance, self._updated = 0.0, None


class TokenError(Exception):
    """A token is not acceptable; str(error) is a short reason a person can read."""

    @property
    def reason(self) -> str:
        """The short human-readable reason."""
        return str(self)


@dataclass
class _Cached:
    """A fetched document plus when it was fetched and when a failed refresh may retry."""

    value: Any
    fetched_at: float
    retry_after: float = 0.0


@dataclass
class _KeySet:
    """The provider's signing keys as raw JWKs, plus keys already built for an algorithm."""

    jwks: list[dict[str, Any]]
    built: dict[tuple[str | None, str], jwt.PyJWK] = field(default_factory=dict)


_discovery: dict[str, _Cached] = {}  # by issuer
_jwks: dict[str, _Cached] = {}  # by jwks_uri; value is a _KeySet; written only under the lock below
_last_jwks_fetch: dict[str, float] = {}  # by jwks_uri: when we last asked for it, for any reason
_discovery_lock = threading.Lock()
# Whether the provider's authorization host took a TCP connection, by (host, port): (when, ok).
_reachable: dict[tuple[str, int], tuple[float, bool]] = {}
# How long one such answer is trusted, so a sign-in start connects at most this often.
REACHABLE_CHECK_SECONDS = 5.0
# Held while the JWKS is fetched: one fetch at a time per process; whoever waited uses its result.
_jwks_fetch_lock = threading.Lock()


def clear_caches() -> None:
    """Forget cached metadata and keys (for tests); the provider_calls counter is kept."""
    with _discovery_lock, _jwks_fetch_lock:
        _discovery.clear()
        _jwks.clear()
        _last_jwks_fetch.clear()
    _reachable.clear()


def configured_issuer() -> str:
    """The configured issuer, exactly as tokens must carry it."""
    issuer = settings.OIDC_ISSUER
    if not issuer:
        raise ImproperlyConfigured("OIDC_ISSUER is not set")
    return issuer


def _ttl() -> float:
    """How long discovery and JWKS documents stay fresh."""
    return float(settings.OIDC_DISCOVERY_TTL_SECONDS)


def _min_refetch() -> float:
    """Least time between two JWKS refetches caused by unknown key ids."""
    return float(settings.OIDC_JWKS_MIN_REFETCH_SECONDS)


def provider_request(
    kind: str, method: str, url: str, *, expect_json: bool = True, **kw: Any
) -> requests.Response:
    """Make one HTTP call to the provider, counted under `kind`; 4xx answers are returned."""
    timeout = kw.pop("timeout", float(settings.OIDC_HTTP_TIMEOUT))
    provider_calls[kind] += 1
    try:
        response = requests.request(method, url, timeout=timeout, **kw)
    except requests.Timeout as error:
        raise ProviderError(f"the provider did not answer the {kind} request in time") from error
    except requests.RequestException as error:
        raise ProviderError(f"the provider could not be reached for the {kind} request") from error
    if response.status_code >= 500:
        raise ProviderError(f"the provider failed the {kind} request (HTTP {response.status_code})")
    # Error bodies (401 from userinfo, say) are often empty; only a success must be JSON.
    if expect_json and response.ok:
        try:
            body = response.json()
        except ValueError as error:
            raise ProviderError(f"the provider's {kind} answer is not JSON") from error
        if not isinstance(body, dict):
            raise ProviderError(f"the provider's {kind} answer is not a JSON object")
    return response


def userinfo_response(access_token: str) -> requests.Response:
    """Ask the userinfo endpoint about an access token; the caller judges the status."""
    return provider_request(
        "userinfo",
        "GET",
        endpoint("userinfo_endpoint"),
        headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
    )


def _get_json(kind: str, url: str, **kw: Any) -> dict[str, Any]:
    """GET a JSON document that must come back with HTTP 200."""
    response = provider_request(kind, "GET", url, headers={"Accept": "application/json"}, **kw)
    if response.status_code != 200:
        raise ProviderError(
            f"the provider answered the {kind} request with HTTP {response.status_code}"
        )
    return response.json()


def _fetch_discovery(issuer: str, **kw: Any) -> dict[str, Any]:
    """Fetch the discovery document and check that it belongs to our issuer."""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    document = _get_json("discovery", url, **kw)
    if document.get("issuer") != issuer:
        raise ProviderError(
            f"the provider's discovery document names issuer {document.get('issuer')!r}, "
            f"not the configured {issuer!r}"
        )
    return document


def _is_fresh(cached: _Cached, now: float) -> bool:
    """Young enough to use, or a failed refresh said to wait before trying again."""
    return now - cached.fetched_at < _ttl() or now < cached.retry_after


def _refresh(store: dict[str, _Cached], key: str, fetch: Any, kind: str) -> Any:
    """Return the cached value for key, fetching when missing or stale (caller holds the lock)."""
    now = _clock()
    cached = store.get(key)
    if cached is not None and _is_fresh(cached, now):
        return cached.value
    try:
        value = fetch()
    except ProviderError:
        if cached is None:
            raise
        # A brief provider outage should not take sign-in and the API down with it: keep the
        # last good copy and retry later rather than on every request.
        logger.warning(
            "could not refresh the provider's %s; using the cached copy", kind, exc_info=True
        )
        cached.retry_after = now + _min_refetch()
        return cached.value
    store[key] = _Cached(value=value, fetched_at=now)
    return value


def _discovered() -> dict[str, Any]:
    """The provider's discovery document as published (cached, no overrides)."""
    issuer = configured_issuer()
    with _discovery_lock:
        return _refresh(_discovery, issuer, lambda: _fetch_discovery(issuer), "discovery")


def discovery_check(*, timeout: float) -> None:
    """Fetch the discovery document now, giving up after `timeout` seconds (the readiness
    probe's check, which caches its own answer); a good answer also refreshes this process's
    copy. Raises ProviderError."""
    issuer = configured_issuer()
    document = _fetch_discovery(issuer, timeout=timeout)
    with _discovery_lock:
        _discovery[issuer] = _Cached(value=document, fetched_at=_clock())


def get_provider_metadata() -> dict[str, Any]:
    """The discovery document with any explicit OIDC_OP_* endpoint settings applied."""
    metadata = dict(_discovered())
    for key, setting_name in ENDPOINT_SETTINGS.items():
        override = getattr(settings, setting_name)  # a name from ENDPOINT_SETTINGS, all declared
        if override:
            metadata[key] = override
    return metadata


def endpoint(name: str, *, required: bool = True) -> str:
    """The effective URL for one endpoint key, e.g. "token_endpoint"; "" if optional and absent."""
    if name not in ENDPOINT_SETTINGS:
        raise ValueError(f"unknown endpoint {name!r}; expected one of {sorted(ENDPOINT_SETTINGS)}")
    # An explicit setting wins, and then the discovery document need not be fetched for it.
    url = getattr(settings, ENDPOINT_SETTINGS[name]) or _discovered().get(name) or ""
    if not isinstance(url, str):
        raise ProviderError(f"the provider's {name} is not a URL")
    if required and not url:
        raise ProviderError(f"the provider does not publish a {name}")
    return url


def check_reachable(url: str) -> None:
    """Raise ProviderError if `url`'s host takes no TCP connection (answer kept a few seconds).

    The discovery document is cached for an hour, so a sign-in would otherwise send browsers to a
    provider that is down, and they would see their own "can't reach this site" page. A connect,
    not an HTTP request: it costs the provider nothing and leaves its request counts alone.
    """
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    now = _clock()
    checked = _reachable.get((host, port))
    if checked is None or now - checked[0] >= REACHABLE_CHECK_SECONDS:
        try:
            with socket.create_connection((host, port), timeout=float(settings.OIDC_HTTP_TIMEOUT)):
                ok = True
        except OSError:
            ok = False
        checked = _reachable[(host, port)] = (now, ok)
    if not checked[1]:
        raise ProviderError(f"the provider could not be reached at {host}:{port}")


def _fetch_jwks(uri: str) -> _KeySet:
    """Fetch the JWKS and keep the keys that can verify signatures."""
    document = _get_json("jwks", uri)
    keys = document.get("keys")
    if not isinstance(keys, list):
        raise ProviderError("the provider's JWKS has no key list")
    try:
        jwt.PyJWKSet(keys)  # let PyJWT judge the set; it raises when no key is usable
    except jwt.PyJWTError as error:
        raise ProviderError(f"the provider's JWKS is not usable: {error}") from error
    signing = [
        key
        for key in keys
        if isinstance(key, dict)
        and key.get("kty") in _SIGNING_KEY_TYPES
        and key.get("use", "sig") == "sig"
    ]
    return _KeySet(jwks=signing)


def _find_jwk(keyset: _KeySet, kid: str | None) -> dict[str, Any] | None:
    """The JWK with this kid; without a kid, the only signing key if there is exactly one."""
    if kid is None:
        return keyset.jwks[0] if len(keyset.jwks) == 1 else None
    return next((key for key in keyset.jwks if key.get("kid") == kid), None)


def _build_key(keyset: _KeySet, jwk: dict[str, Any], kid: str | None, alg: str) -> jwt.PyJWK:
    """A PyJWK bound to the token's algorithm, so PyJWT verifies with exactly that algorithm."""
    if jwk.get("alg") not in (None, alg):
        raise TokenError("the token's algorithm does not match its signing key")
    built = keyset.built.get((kid, alg))
    if built is None:
        try:
            built = jwt.PyJWK(jwk, algorithm=alg)
        except jwt.PyJWTError as error:
            raise TokenError("the token's algorithm does not match its signing key") from error
        keyset.built[(kid, alg)] = built
    return built


def _fetch_jwks_now(uri: str) -> _KeySet:
    """Fetch the JWKS, noting when (caller holds _jwks_fetch_lock)."""
    _last_jwks_fetch[uri] = _clock()
    return _fetch_jwks(uri)


def _current_keys(uri: str) -> _KeySet:
    """The cached keys; fetched first when missing or older than OIDC_DISCOVERY_TTL_SECONDS."""
    cached = _jwks.get(uri)
    if cached is not None and _is_fresh(cached, _clock()):
        return cached.value
    with _jwks_fetch_lock:
        return _refresh(_jwks, uri, lambda: _fetch_jwks_now(uri), "jwks")


def _bearer_refetch_due(uri: str) -> bool:
    """Whether our copy of the keys is old enough for a Bearer token's unknown kid to refetch."""
    last = _last_jwks_fetch.get(uri)
    return last is None or _clock() - last >= _min_refetch()


def _refetched_keys(uri: str, *, seen: _KeySet, rate_limited: bool) -> _KeySet:
    """Fetch the keys again because a kid was not in `seen`; `seen` again when refused."""
    if rate_limited and not _bearer_refetch_due(uri) and not _jwks_fetch_lock.locked():
        return seen  # nothing new to wait for, and too soon to ask again
    with _jwks_fetch_lock:
        cached = _jwks.get(uri)
        if cached is not None and cached.value is not seen:
            return cached.value  # fetched while we waited: use that answer
        if rate_limited and not _bearer_refetch_due(uri):
            return seen
        keyset = _fetch_jwks_now(uri)
        _jwks[uri] = _Cached(value=keyset, fetched_at=_clock())
        return keyset


def get_signing_key(kid: str | None, alg: str, *, from_token_endpoint: bool = False) -> jwt.PyJWK:
    """The provider's key for this kid and algorithm, refetching the JWKS once if the kid is new.

    An id_token reaches us only as the answer to our own request to the token endpoint, so an
    unknown kid there means the provider rotated its keys: it always gets a refetch. Bearer
    tokens come from anyone, and made-up kids cost nothing, so for them the keys are refetched
    only when our copy is older than OIDC_JWKS_MIN_REFETCH_SECONDS. Junk kids thus cause at
    most one fetch per interval, and never stand in the way of a sign-in after a rotation.
    """
    uri = endpoint("jwks_uri")
    keyset = _current_keys(uri)
    jwk = _find_jwk(keyset, kid)
    if jwk is None and kid is None:
        raise TokenError("the token does not say which key signed it")
    if jwk is None:
        keyset = _refetched_keys(uri, seen=keyset, rate_limited=not from_token_endpoint)
        jwk = _find_jwk(keyset, kid)
    if jwk is None:
        raise TokenError("unknown signing key")
    return _build_key(keyset, jwk, kid, alg)
