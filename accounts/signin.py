"""The authorization-code flow with PKCE, state and nonce: starting it and finishing it.

mozilla-django-oidc keeps one `next` per session, so two tabs signing in at once both land on
the last tab's page; here each state carries its own `next`, nonce and PKCE verifier.
"""

from __future__ import annotations

import logging
import time
from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse
from django.utils.crypto import get_random_string
from mozilla_django_oidc.utils import (
    add_state_and_verifier_and_nonce_to_session,
    generate_code_challenge,
)

from accounts import provider

logger = logging.getLogger(__name__)

SESSION_STATES = "oidc_states"
SESSION_ID_TOKEN = "oidc_id_token"  # noqa: S105 - a session key, not a secret
SESSION_ACCESS_TOKEN = "oidc_access_token"  # noqa: S105 - a session key
SESSION_REFRESH_DUE = "oidc_id_token_expiration"  # mozilla-django-oidc's name, kept on purpose
SESSION_CLAIMS = "oidc_claims_used"
SESSION_ROLES = "portal_roles"  # as synced at the last sign-in or refresh; saves a query


# Asked for when OIDC_SCOPES is empty; "groups" joins them when the provider offers it, since
# Okta sends its groups claim only when asked for it.
DEFAULT_SCOPES = ("openid", "profile", "email")


# A failure's code for the audit trail when the raiser names none.
FAILURE_CODES = {400: "bad_request", 401: "token_rejected", 502: "provider_error"}


class SignInFailed(Exception):
    """A sign-in that must end on the "sign-in failed" page with this status and reason.

    `advice` is what to do about it, when the page's usual advice for the status would mislead;
    `code` is a short name of the failure for the audit trail.
    """

    def __init__(self, status: int, reason: str, *, advice: str = "", code: str = ""):
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.advice = advice
        self.code = code or FAILURE_CODES.get(status, "failed")


def safe_next_path(candidate: str | None) -> str | None:
    """A local path to return to after sign-in, or None for anything that could leave the site."""
    if not candidate or not candidate.startswith("/"):
        return None
    # "//host" and "/\host" are protocol-relative to browsers; control characters hide tricks.
    if candidate.startswith(("//", "/\\")) or any(ord(ch) < 32 for ch in candidate):
        return None
    if "\\" in candidate.split("?", 1)[0]:
        return None
    return candidate


def callback_url(request) -> str:
    return request.build_absolute_uri(reverse("oidc_authentication_callback"))


def requested_scopes() -> str:
    """OIDC_SCOPES when set; else the defaults, plus "groups" if discovery lists it."""
    if settings.OIDC_RP_SCOPES:
        return settings.OIDC_RP_SCOPES
    scopes = list(DEFAULT_SCOPES)
    supported = provider.get_provider_metadata().get("scopes_supported")
    if isinstance(supported, list) and "groups" in supported:
        scopes.append("groups")
    return " ".join(scopes)


def authorization_redirect(request, *, next_path: str | None, prompt: str | None = None) -> str:
    """Remember a new state (with its nonce, verifier and next) and return the provider's URL."""
    state = get_random_string(32)
    code_verifier = get_random_string(64)
    params = {
        "response_type": "code",
        "client_id": settings.OIDC_RP_CLIENT_ID,
        "redirect_uri": callback_url(request),
        "scope": requested_scopes(),
        "state": state,
        "nonce": get_random_string(32),
        "code_challenge": generate_code_challenge(code_verifier, "S256"),
        "code_challenge_method": "S256",
    }
    if prompt:
        params["prompt"] = prompt
    authorize_url = provider.endpoint("authorization_endpoint")
    provider.check_reachable(authorize_url)
    add_state_and_verifier_and_nonce_to_session(request, state, params, code_verifier)
    request.session[SESSION_STATES][state]["next"] = safe_next_path(next_path)
    request.session[SESSION_STATES][state]["silent"] = prompt == "none"
    request.session.modified = True
    return f"{authorize_url}?{urlencode(params)}"


def pop_state(request) -> dict:
    """Take the state the provider sent back out of the session: each one works only once."""
    state = request.GET.get("state")
    states = request.session.get(SESSION_STATES)
    if not state or not isinstance(states, dict) or state not in states:
        raise SignInFailed(
            400,
            "the sign-in request was not started here, or was already used",
            code="unknown_state",
        )
    entry = states.pop(state)
    request.session.modified = True
    return entry


def mark_session_fresh(request) -> None:
    """The provider vouched for this user just now; ask it again after the refresh interval.

    OIDC_SESSION_REFRESH_SECONDS=0 turns the re-check off (for providers that cannot answer
    prompt=none, such as stock django-oauth-toolkit).
    """
    if settings.OIDC_SESSION_REFRESH_SECONDS <= 0:
        request.session.pop(SESSION_REFRESH_DUE, None)
        return
    request.session[SESSION_REFRESH_DUE] = time.time() + settings.OIDC_SESSION_REFRESH_SECONDS


def session_needs_refresh(request) -> bool:
    """True for an SSO session whose last check with the provider is too old."""
    if settings.OIDC_SESSION_REFRESH_SECONDS <= 0:
        return False  # off, also for sessions that were marked before it was turned off
    due = request.session.get(SESSION_REFRESH_DUE)
    return due is not None and due <= time.time()


def end_session_url(request, *, id_token: str | None) -> str | None:
    """The provider's sign-out URL that sends the user back to our home page, if it has one."""
    try:
        end_session = provider.endpoint("end_session_endpoint", required=False)
    except provider.ProviderError as error:
        logger.warning("sign-out: provider metadata unavailable (%s); signing out locally", error)
        return None
    if not end_session:
        return None
    params = {
        "client_id": settings.OIDC_RP_CLIENT_ID,
        "post_logout_redirect_uri": request.build_absolute_uri(reverse("home")),
    }
    if id_token:
        params["id_token_hint"] = id_token
    separator = "&" if "?" in end_session else "?"
    return f"{end_session}{separator}{urlencode(params)}"
