"""A small OpenID provider for tests, on 127.0.0.1, whose users, keys and tokens tests control.

    with OIDCTestProvider(users={"alice": {"groups": ["portal-users"]}}) as op:
        settings.OIDC_ISSUER = op.issuer
        op.current_user = "alice"
        op.tamper_next_id_token("expired")

Only for tests: it signs whatever tests ask it to, including forged tokens.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import hmac
import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

DROP = object()  # as a claim or header value in overrides: remove that entry

# How the next token is signed.
SIGN_VALID = "valid"
SIGN_FOREIGN_KEY = "foreign-key"  # a key that is not in the JWKS (kid of the real key)
SIGN_ALG_NONE = "alg-none"
SIGN_HS256_PUBLIC_KEY = "hs256-public-key"  # HMAC keyed with the public key PEM
SIGNING_MODES = (SIGN_VALID, SIGN_FOREIGN_KEY, SIGN_ALG_NONE, SIGN_HS256_PUBLIC_KEY)

ID_TOKEN_LIFETIME = 300
ACCESS_TOKEN_LIFETIME = 3600
CODE_LIFETIME = 60


@dataclass
class SigningKey:
    """A private key with its kid and algorithm."""

    kid: str
    alg: str
    private_key: Any

    @classmethod
    def reused(cls, alg: str, purpose: str) -> SigningKey:
        """A key made once per test session for this algorithm and purpose ("signing", "foreign"):
        every test starts a provider, and a new RSA key would cost each of them its making."""
        key = _session_keys.get((alg, purpose))
        if key is None:
            key = _session_keys[(alg, purpose)] = cls.generate(alg)
        return key

    @classmethod
    def generate(cls, alg: str = "RS256") -> SigningKey:
        """A fresh key for RS256 or ES256."""
        if alg == "RS256":
            private_key: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        elif alg == "ES256":
            private_key = ec.generate_private_key(ec.SECP256R1())
        else:
            raise ValueError(f"unsupported algorithm {alg}")
        return cls(kid=secrets.token_hex(8), alg=alg, private_key=private_key)

    @property
    def public_pem(self) -> bytes:
        """The public key as PEM (what an attacker would use as an HMAC secret)."""
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def jwk(self) -> dict[str, Any]:
        """The public JWK as published in the JWKS."""
        algorithm = jwt.get_algorithm_by_name(self.alg)
        data = algorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {**data, "kid": self.kid, "alg": self.alg, "use": "sig"}


_session_keys: dict[tuple[str, str], SigningKey] = {}


@dataclass
class AuthCode:
    """What /authorize recorded against a code, checked again at /token."""

    user: str
    client_id: str
    redirect_uri: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    scope: str
    created: float = field(default_factory=time.time)


# Named tampering for the next ID token: claim overrides and a signing mode.
def _tampers(op: OIDCTestProvider) -> dict[str, tuple[dict[str, Any], str]]:
    """The named ways to spoil an ID token."""
    now = int(time.time())
    return {
        "foreign-key": ({}, SIGN_FOREIGN_KEY),
        "alg-none": ({}, SIGN_ALG_NONE),
        "hs256-public-key": ({}, SIGN_HS256_PUBLIC_KEY),
        "no-iat": ({"iat": DROP}, SIGN_VALID),
        "no-sub": ({"sub": DROP}, SIGN_VALID),
        "no-exp": ({"exp": DROP}, SIGN_VALID),
        "wrong-nonce": ({"nonce": "not-the-nonce-you-sent"}, SIGN_VALID),
        "wrong-iss": ({"iss": "https://attacker.example"}, SIGN_VALID),
        "wrong-aud": ({"aud": "some-other-client"}, SIGN_VALID),
        "multi-aud-no-azp": ({"aud": [op.client_id, "other-client"], "azp": DROP}, SIGN_VALID),
        "multi-aud-wrong-azp": (
            {"aud": [op.client_id, "other-client"], "azp": "other-client"},
            SIGN_VALID,
        ),
        "expired": ({"iat": now - 7200, "exp": now - 3600}, SIGN_VALID),
        "future-iat": ({"iat": now + 3600, "exp": now + 7200}, SIGN_VALID),
    }


TAMPER_NAMES = (
    "foreign-key",
    "alg-none",
    "hs256-public-key",
    "no-iat",
    "no-sub",
    "no-exp",
    "wrong-nonce",
    "wrong-iss",
    "wrong-aud",
    "multi-aud-no-azp",
    "multi-aud-wrong-azp",
    "expired",
    "future-iat",
)


def _b64url(data: bytes) -> str:
    """Unpadded base64url, as JWS uses."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _apply(base: dict[str, Any], overrides: dict[str, Any] | None) -> dict[str, Any]:
    """Copy base with overrides applied; DROP removes an entry."""
    result = dict(base)
    for key, value in (overrides or {}).items():
        if value is DROP:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge for a verifier."""
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


class OIDCTestProvider:
    """An OpenID provider on a random local port; attributes below are the tests' controls."""

    def __init__(
        self,
        users: dict[str, dict[str, Any]] | None = None,
        *,
        client_id: str = "test-client",
        client_secret: str | None = "test-secret",  # noqa: S107 (a test provider's secret)
        api_audience: str = "api://default",
        issuer: str | None = None,
        require_pkce: bool = True,
        access_token_kind: str = "jwt",  # noqa: S107 (a kind, not a secret)
        key_alg: str = "RS256",
    ) -> None:
        # users: name -> claims (sub defaults to the name; add email, name, groups, ...).
        self.users: dict[str, dict[str, Any]] = {
            name: {"sub": name, **claims} for name, claims in (users or {"alice": {}}).items()
        }
        self.current_user: str = next(iter(self.users))
        self.signed_out: set[str] = set()  # prompt=none answers login_required for these
        self.disabled: set[str] = set()  # never signed in; their tokens fail at userinfo
        self.client_id = client_id
        self.client_secret = client_secret
        self.api_audience = api_audience
        self.require_pkce = require_pkce
        self.access_token_kind = access_token_kind  # "jwt" or "opaque"
        self._issuer_override = issuer

        # keys[0] signs; the first key is the session's, rotate_key makes new ones.
        self.keys: list[SigningKey] = [SigningKey.reused(key_alg, "signing")]
        self.discovery_overrides: dict[str, Any] = {}  # e.g. {"issuer": "https://other"}
        self.userinfo_overrides: dict[str, Any] = {}  # e.g. {"sub": "someone-else"}
        self.fail_paths: dict[str, int] = {}  # path -> HTTP status to answer instead
        self.delays: dict[str, float] = {}  # path -> seconds to sleep before answering

        # Consumed by the next /token answer, then reset.
        self.next_id_token_overrides: dict[str, Any] = {}
        self.next_id_token_headers: dict[str, Any] = {}
        self.next_id_token_mutator: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None
        self.next_id_token_signing: str = SIGN_VALID
        self.next_access_token_overrides: dict[str, Any] = {}
        self.next_token_error: tuple[int, dict[str, Any]] | None = None

        self.requests: collections.Counter[str] = collections.Counter()  # by path
        self.authorize_requests: list[dict[str, str]] = []
        self.token_requests: list[dict[str, str]] = []
        self.logout_requests: list[dict[str, str]] = []
        self.codes: dict[str, AuthCode] = {}
        self.opaque_tokens: dict[str, str] = {}  # token -> user
        self.revoked_tokens: set[str] = set()

        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> OIDCTestProvider:
        """Start serving in a daemon thread."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        # A short poll interval, because shutdown() waits for one poll and tests stop often.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; later requests get "connection refused"."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> OIDCTestProvider:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:<port>"""
        if self._server is None:
            raise RuntimeError("the test provider is not running")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def issuer(self) -> str:
        """The issuer tokens carry (the base URL unless overridden)."""
        return self._issuer_override or self.base_url

    def url(self, path: str) -> str:
        """An absolute URL on this provider."""
        return self.base_url + path

    def discovery(self) -> dict[str, Any]:
        """The discovery document as served."""
        document = {
            "issuer": self.issuer,
            "authorization_endpoint": self.url("/authorize"),
            "token_endpoint": self.url("/token"),
            "userinfo_endpoint": self.url("/userinfo"),
            "jwks_uri": self.url("/jwks"),
            "end_session_endpoint": self.url("/logout"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": sorted({key.alg for key in self.keys}),
            "scopes_supported": ["openid", "profile", "email", "groups"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "grant_types_supported": ["authorization_code"],
        }
        return _apply(document, self.discovery_overrides)

    # -- keys ------------------------------------------------------------------------------

    @property
    def signing_key(self) -> SigningKey:
        """The key currently used to sign."""
        return self.keys[0]

    def jwks(self) -> dict[str, Any]:
        """The JWKS as served."""
        return {"keys": [key.jwk() for key in self.keys]}

    def rotate_key(self, *, alg: str | None = None, keep_old: bool = False) -> str:
        """Sign with a new key (new kid); the old one leaves the JWKS unless keep_old."""
        new_key = SigningKey.generate(alg or self.signing_key.alg)
        self.keys = [new_key, *self.keys] if keep_old else [new_key]
        return new_key.kid

    def _foreign(self) -> SigningKey:
        """A key of the same type that the JWKS never lists."""
        return SigningKey.reused(self.signing_key.alg, "foreign")

    # -- tokens ----------------------------------------------------------------------------

    def user_claims(self, user: str) -> dict[str, Any]:
        """The user's claims (sub and extras)."""
        return dict(self.users[user])

    def sign(
        self,
        claims: dict[str, Any],
        *,
        headers: dict[str, Any] | None = None,
        signing: str = SIGN_VALID,
    ) -> str:
        """Sign claims as a JWT the way `signing` says (valid or one of the forgeries)."""
        key = self.signing_key
        header = _apply({"kid": key.kid}, headers)
        if signing == SIGN_VALID:
            return jwt.encode(claims, key.private_key, algorithm=key.alg, headers=header)
        if signing == SIGN_FOREIGN_KEY:
            return jwt.encode(
                claims, self._foreign().private_key, algorithm=key.alg, headers=header
            )
        if signing == SIGN_ALG_NONE:
            return jwt.encode(claims, None, algorithm="none", headers=header)
        if signing == SIGN_HS256_PUBLIC_KEY:
            # PyJWT refuses a PEM as HMAC secret, which is the point; forge by hand, as an
            # attacker would.
            forged_header = {"alg": "HS256", "typ": "JWT", **header}
            signing_input = (
                _b64url(json.dumps(forged_header, separators=(",", ":")).encode())
                + "."
                + _b64url(json.dumps(claims, separators=(",", ":")).encode())
            )
            mac = hmac.new(key.public_pem, signing_input.encode(), hashlib.sha256).digest()
            return f"{signing_input}.{_b64url(mac)}"
        raise ValueError(f"unknown signing mode {signing!r}; expected one of {SIGNING_MODES}")

    def id_token_claims(self, user: str, *, nonce: str | None = None) -> dict[str, Any]:
        """The claims of a valid ID token for user."""
        now = int(time.time())
        claims = {
            **self.user_claims(user),
            "iss": self.issuer,
            "aud": self.client_id,
            "iat": now,
            "exp": now + ID_TOKEN_LIFETIME,
            "auth_time": now,
        }
        if nonce is not None:
            claims["nonce"] = nonce
        return claims

    def issue_id_token(
        self,
        user: str | None = None,
        *,
        nonce: str | None = None,
        tamper: str | None = None,
        overrides: dict[str, Any] | None = None,
        headers: dict[str, Any] | None = None,
        mutator: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None,
        signing: str = SIGN_VALID,
    ) -> str:
        """An ID token for user (default: current_user), optionally spoiled in named ways."""
        claims = self.id_token_claims(user or self.current_user, nonce=nonce)
        if tamper is not None:
            tamper_overrides, signing = self._tamper(tamper)
            claims = _apply(claims, tamper_overrides)
        claims = _apply(claims, overrides)
        if mutator is not None:
            claims = mutator(claims) or claims
        return self.sign(claims, headers=headers, signing=signing)

    def _tamper(self, name: str) -> tuple[dict[str, Any], str]:
        """The overrides and signing mode for a named tampering."""
        tampers = _tampers(self)
        if name not in tampers:
            raise ValueError(f"unknown tamper {name!r}; expected one of {TAMPER_NAMES}")
        return tampers[name]

    def tamper_next_id_token(self, name: str) -> None:
        """Spoil the ID token of the next /token answer in a named way (see TAMPER_NAMES)."""
        overrides, signing = self._tamper(name)
        self.next_id_token_overrides = {**self.next_id_token_overrides, **overrides}
        self.next_id_token_signing = signing

    def issue_access_token(
        self,
        user: str | None = None,
        *,
        scope: str = "openid profile email",
        overrides: dict[str, Any] | None = None,
        headers: dict[str, Any] | None = None,
        signing: str = SIGN_VALID,
    ) -> str:
        """A JWT access token for user, for the API audience."""
        user = user or self.current_user
        claims = self.user_claims(user)
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.api_audience,
            "sub": claims["sub"],
            "iat": now,
            "exp": now + ACCESS_TOKEN_LIFETIME,
            "cid": self.client_id,
            "jti": secrets.token_hex(8),
            "scp": scope.split(),
            **({"groups": claims["groups"]} if "groups" in claims else {}),
        }
        return self.sign(_apply(claims, overrides), headers=headers, signing=signing)

    def issue_cognito_access_token(
        self,
        user: str | None = None,
        *,
        client_id: str | None = None,
        overrides: dict[str, Any] | None = None,
        headers: dict[str, Any] | None = None,
    ) -> str:
        """An access token shaped like AWS Cognito's: no aud, but client_id and token_use, and
        the user's groups in cognito:groups (left out, as Cognito does, when there are none)."""
        user = user or self.current_user
        claims = self.user_claims(user)
        now = int(time.time())
        token_claims = {
            "iss": self.issuer,
            "sub": claims["sub"],
            "client_id": client_id or self.client_id,
            "token_use": "access",
            "scope": "openid profile email",
            "auth_time": now,
            "iat": now,
            "exp": now + ACCESS_TOKEN_LIFETIME,
            "jti": secrets.token_hex(8),
            "origin_jti": secrets.token_hex(8),
            "event_id": secrets.token_hex(8),
            "version": 2,
            "username": user,
            **({"cognito:groups": claims["groups"]} if claims.get("groups") else {}),
        }
        return self.sign(_apply(token_claims, overrides), headers=headers)

    def issue_cognito_id_token(self, user: str | None = None) -> str:
        """An id token shaped like Cognito's (aud is the app client, token_use "id")."""
        claims = self.user_claims(user or self.current_user)
        return self.issue_id_token(
            user,
            overrides={
                "token_use": "id",
                "cognito:groups": claims.get("groups", []),
                "groups": DROP,
            },
        )

    def issue_opaque_token(self, user: str | None = None) -> str:
        """An opaque access token the userinfo endpoint accepts for user."""
        token = secrets.token_urlsafe(32)
        with self._lock:
            self.opaque_tokens[token] = user or self.current_user
        return token

    def user_for_access_token(self, token: str) -> str | None:
        """Which user a (still valid) access token belongs to, or None."""
        if token in self.revoked_tokens:
            return None
        if token in self.opaque_tokens:
            user: str | None = self.opaque_tokens[token]
        else:
            user = self._user_for_jwt(token)
        if user is None or user in self.disabled:
            return None
        return user

    def _user_for_jwt(self, token: str) -> str | None:
        """Verify a JWT access token against our own keys and find its user."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key = next(key for key in self.keys if key.kid == kid)
            claims = jwt.decode(
                token,
                key.private_key.public_key(),
                algorithms=[key.alg],
                issuer=self.issuer,
                options={"verify_aud": False},  # checked below: Cognito's have none
            )
        except (jwt.PyJWTError, StopIteration):
            return None
        if claims.get("aud", self.api_audience) != self.api_audience:
            return None
        if "aud" not in claims and claims.get("token_use") != "access":
            return None
        return next((name for name, c in self.users.items() if c["sub"] == claims["sub"]), None)

    # -- helpers for sign-in tests -----------------------------------------------------------

    def authorize_redirect(self, authorize_url: str) -> str:
        """GET an /authorize URL (as the browser would) and return where it redirects to."""
        response = requests.get(authorize_url, allow_redirects=False, timeout=5)
        if response.status_code != 302:
            raise AssertionError(f"/authorize answered {response.status_code}: {response.text}")
        return response.headers["Location"]

    def reset_counts(self) -> None:
        """Forget request counts and recorded requests."""
        with self._lock:
            self.requests.clear()
            self.authorize_requests.clear()
            self.token_requests.clear()
            self.logout_requests.clear()

    # -- endpoint logic (called from the handler thread) ------------------------------------

    def _authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        """Answer /authorize with a redirect carrying a code or an error."""
        self.authorize_requests.append(query)
        redirect_uri = query.get("redirect_uri", "")
        if not redirect_uri or query.get("client_id") != self.client_id:
            return (
                400,
                {},
                {
                    "error": "invalid_request",
                    "error_description": "unknown client or no redirect_uri",
                },
            )
        state = {"state": query["state"]} if "state" in query else {}
        error = self._authorize_error(query)
        if error:
            return _redirect(redirect_uri, {"error": error, **state})
        code = secrets.token_urlsafe(24)
        with self._lock:
            self.codes[code] = AuthCode(
                user=self.current_user,
                client_id=query["client_id"],
                redirect_uri=redirect_uri,
                nonce=query.get("nonce"),
                code_challenge=query.get("code_challenge"),
                code_challenge_method=query.get("code_challenge_method"),
                scope=query.get("scope", ""),
            )
        return _redirect(redirect_uri, {"code": code, **state})

    def _authorize_error(self, query: dict[str, str]) -> str | None:
        """The OAuth error code for a bad /authorize request, if any."""
        user = self.current_user
        if query.get("response_type") != "code":
            return "unsupported_response_type"
        if "openid" not in query.get("scope", "").split():
            return "invalid_scope"
        if self.require_pkce and (
            not query.get("code_challenge") or query.get("code_challenge_method") != "S256"
        ):
            return "invalid_request"
        if query.get("prompt") == "none" and (user in self.signed_out or user in self.disabled):
            return "login_required"
        if user in self.disabled:
            return "access_denied"
        self.signed_out.discard(user)  # an interactive sign-in signs the user in again
        return None

    def _token(
        self, form: dict[str, str], authorization: str | None
    ) -> tuple[int, dict[str, str], Any]:
        """Answer /token: exchange a code (client auth and PKCE checked)."""
        self.token_requests.append(form)
        if self.next_token_error is not None:
            status, body = self.next_token_error
            self.next_token_error = None
            return status, {}, body
        client_id, client_secret = _client_credentials(form, authorization)
        if client_id != self.client_id or (
            self.client_secret is not None and client_secret != self.client_secret
        ):
            return 401, {}, {"error": "invalid_client"}
        if form.get("grant_type") != "authorization_code":
            return 400, {}, {"error": "unsupported_grant_type"}
        with self._lock:
            code = self.codes.pop(form.get("code", ""), None)  # a code works once
        expired = code is not None and time.time() - code.created > CODE_LIFETIME
        if code is None or code.client_id != client_id or expired:
            return 400, {}, {"error": "invalid_grant", "error_description": "unknown code"}
        if form.get("redirect_uri") != code.redirect_uri:
            return 400, {}, {"error": "invalid_grant", "error_description": "redirect_uri"}
        if not _pkce_ok(code, form.get("code_verifier")):
            return 400, {}, {"error": "invalid_grant", "error_description": "PKCE verification"}
        return 200, {"Cache-Control": "no-store"}, self._token_response(code)

    def _token_response(self, code: AuthCode) -> dict[str, Any]:
        """The token answer for a redeemed code, with any tampering the test asked for."""
        id_token = self.issue_id_token(
            code.user,
            nonce=code.nonce,
            overrides=self.next_id_token_overrides,
            headers=self.next_id_token_headers,
            mutator=self.next_id_token_mutator,
            signing=self.next_id_token_signing,
        )
        if self.access_token_kind == "opaque":
            access_token = self.issue_opaque_token(code.user)
        else:
            access_token = self.issue_access_token(
                code.user, scope=code.scope, overrides=self.next_access_token_overrides
            )
        self.next_id_token_overrides = {}
        self.next_id_token_headers = {}
        self.next_id_token_mutator = None
        self.next_id_token_signing = SIGN_VALID
        self.next_access_token_overrides = {}
        return {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_LIFETIME,
            "id_token": id_token,
            "scope": code.scope,
        }

    def _userinfo(self, authorization: str | None) -> tuple[int, dict[str, str], Any]:
        """Answer /userinfo for a bearer access token."""
        scheme, _, token = (authorization or "").partition(" ")
        user = self.user_for_access_token(token) if scheme.lower() == "bearer" else None
        if user is None:
            return 401, {"WWW-Authenticate": 'Bearer error="invalid_token"'}, b""
        return 200, {}, _apply(self.user_claims(user), self.userinfo_overrides)

    def _logout(self, query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        """Answer the end-session endpoint; the hinted user counts as signed out."""
        self.logout_requests.append(query)
        hint = query.get("id_token_hint")
        if hint:
            try:
                sub = jwt.decode(hint, options={"verify_signature": False}).get("sub")
            except jwt.PyJWTError:
                sub = None
            self.signed_out.update(name for name, c in self.users.items() if c["sub"] == sub)
        target = query.get("post_logout_redirect_uri")
        if target:
            state = {"state": query["state"]} if "state" in query else {}
            return _redirect(target, state)
        return 200, {"Content-Type": "text/plain"}, b"signed out"

    def handle(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        form: dict[str, str],
        authorization: str | None,
    ) -> tuple[int, dict[str, str], Any]:
        """Route one request; returns status, extra headers and a body (dict = JSON)."""
        with self._lock:
            self.requests[path] += 1
        if path in self.delays:
            time.sleep(self.delays[path])
        if path in self.fail_paths:
            return self.fail_paths[path], {}, {"error": "server_error"}
        if path == "/.well-known/openid-configuration" and method == "GET":
            return 200, {}, self.discovery()
        if path == "/jwks" and method == "GET":
            return 200, {}, self.jwks()
        if path == "/authorize" and method == "GET":
            return self._authorize(query)
        if path == "/token" and method == "POST":
            return self._token(form, authorization)
        if path == "/userinfo" and method in ("GET", "POST"):
            return self._userinfo(authorization)
        if path == "/logout" and method in ("GET", "POST"):
            return self._logout({**query, **form})
        return 404, {}, {"error": "not_found"}


def _redirect(target: str, params: dict[str, str]) -> tuple[int, dict[str, str], Any]:
    """A 302 to target with params added to its query."""
    separator = "&" if urllib.parse.urlsplit(target).query else "?"
    location = target + (separator + urllib.parse.urlencode(params) if params else "")
    return 302, {"Location": location}, b""


def _client_credentials(form: dict[str, str], authorization: str | None) -> tuple[str, str]:
    """Client id and secret from HTTP Basic (RFC 6749 2.3.1 encoding) or the form."""
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value).decode()
        except ValueError:
            return "", ""
        client_id, _, secret = decoded.partition(":")
        return urllib.parse.unquote_plus(client_id), urllib.parse.unquote_plus(secret)
    return form.get("client_id", ""), form.get("client_secret", "")


def _pkce_ok(code: AuthCode, verifier: str | None) -> bool:
    """Whether the verifier matches the S256 challenge recorded at /authorize."""
    if code.code_challenge is None:
        return verifier is None  # no challenge was sent (only possible with require_pkce off)
    if not verifier or code.code_challenge_method != "S256":
        return False
    return hmac.compare_digest(pkce_challenge(verifier), code.code_challenge)


def _make_handler(op: OIDCTestProvider) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to one provider."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # http.server's naming
            self._serve("GET", {})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            self._serve("POST", dict(urllib.parse.parse_qsl(body)))

        def _serve(self, method: str, form: dict[str, str]) -> None:
            parts = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(parts.query))
            status, headers, body = op.handle(
                method, parts.path, query, form, self.headers.get("Authorization")
            )
            if isinstance(body, (dict, list)):
                payload = json.dumps(body).encode()
                headers = {"Content-Type": "application/json", **headers}
            else:
                payload = body
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output quiet."""

    return Handler
