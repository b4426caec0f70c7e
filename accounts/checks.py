"""Start-up checks of the sign-in settings that are parsed: a typo stops `check` and
`runserver` with the variable's name and the bad part, instead of failing the first sign-in."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks

from accounts.provider import ENDPOINT_SETTINGS
from accounts.roles import parse_role_map

# Public-key algorithms PyJWT verifies; "none" and HMAC (shared secrets) are never accepted.
SIGNING_ALGORITHMS = (
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
)  # fmt: skip


def url_problem(value: str) -> str | None:
    """Why `value` is not an absolute http(s) URL, or None when it is one.

    Host names without a dot ("keycloak", a container's name) are fine, unlike Django's
    URLValidator, which wants a public-looking domain.
    """
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return "not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "not an absolute http:// or https:// URL"
    if any(ch.isspace() for ch in value) or parts.fragment:
        return "a URL may not contain spaces or a #fragment"
    return None


def plain_http_problem(value: str) -> str | None:
    """Why `value` may not be used with DEBUG off: an http:// URL to a host other than this
    machine's loopback (127.0.0.0/8, ::1, localhost) would carry tokens or images unencrypted."""
    parts = urlsplit(value)
    if parts.scheme != "http" or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if host == "localhost":
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass
    return "http:// is only for a server on this machine (127.0.0.1, ::1, localhost): use https://"


def _error(variable: str, problem: str, number: int) -> checks.Error:
    return checks.Error(f"{variable}: {problem}", id=f"accounts.E{number:03}")


@checks.register(checks.Tags.security)
def check_sign_in_settings(app_configs=None, **kwargs) -> list[checks.Error]:
    """OIDC_ROLE_MAP, OIDC_SIGN_ALGS, OIDC_ROLES_CLAIM and the provider URLs."""
    errors = []
    try:
        parse_role_map(settings.OIDC_ROLE_MAP)
    except ValueError as error:
        errors.append(_error("OIDC_ROLE_MAP", str(error), 1))

    if not settings.OIDC_SIGN_ALGS:
        errors.append(_error("OIDC_SIGN_ALGS", "empty; e.g. RS256,ES256", 2))
    for alg in settings.OIDC_SIGN_ALGS:
        if alg.lower() == "none" or alg.upper().startswith("HS"):
            problem = "never accepted: it would let anyone who knows the client secret sign"
            if alg.lower() == "none":
                problem = "never accepted: it means no signature"
            errors.append(_error("OIDC_SIGN_ALGS", f'"{alg}" — {problem}', 2))
        elif alg not in SIGNING_ALGORITHMS:
            expected = ", ".join(SIGNING_ALGORITHMS)
            errors.append(_error("OIDC_SIGN_ALGS", f'"{alg}" — unknown (one of {expected})', 2))

    claim = settings.OIDC_ROLES_CLAIM
    if not claim or claim != claim.strip() or any(ch.isspace() for ch in claim):
        errors.append(
            _error("OIDC_ROLES_CLAIM", f'"{claim}" — a claim name or dotted path, no spaces', 3)
        )

    for variable, value in _provider_urls().items():
        if value and (problem := url_problem(value)):
            errors.append(_error(variable, f'"{value}" — {problem}', 4))
    return errors


@checks.register(checks.Tags.security)
def check_provider_uses_https(app_configs=None, **kwargs) -> list[checks.Error]:
    """With DEBUG off, the provider's URLs are https:// unless the provider runs on loopback."""
    if settings.DEBUG:
        return []
    errors = []
    for variable, value in _provider_urls().items():
        if value and not url_problem(value) and (problem := plain_http_problem(value)):
            errors.append(_error(variable, f'"{value}" — {problem}', 5))
    return errors


def _provider_urls() -> dict[str, str]:
    urls = {"OIDC_ISSUER": settings.OIDC_ISSUER}
    urls.update((name, getattr(settings, name)) for name in ENDPOINT_SETTINGS.values())
    return urls
