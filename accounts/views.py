"""Sign-in, sign-out and the account page. The flow's rules live in accounts.signin."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import auth
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import render, resolve_url
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_GET, require_http_methods
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from accounts import signin
from accounts.provider import ProviderError
from accounts.roles import roles_of
from audit.services import Action, audit_record
from portal.api import api_endpoint
from portal.ratelimits import by_client_ip, rate_limited

logger = logging.getLogger(__name__)


def sign_in_failed(
    request, failure: signin.SignInFailed, *, next_path: str | None = None, actor=None
):
    """The friendly failure page; the reason is logged for whoever runs the portal and recorded
    in the audit trail (its code and words: never a token or code from the provider)."""
    logger.warning("sign-in failed (%s): %s", failure.status, failure.reason)
    audit_record(
        action=Action.SIGN_IN_FAILED,
        actor=actor or request.user,
        details={"code": failure.code, "status": failure.status, "reason": failure.reason},
    )
    retry = reverse("oidc_authentication_init")
    if next_path:
        retry += "?" + urlencode({"next": next_path})
    context = {
        "reason": failure.reason,
        "status": failure.status,
        "advice": failure.advice,
        "retry_url": retry,
    }
    return render(request, "accounts/sign_in_failed.html", context, status=failure.status)


@method_decorator(rate_limited(("RATELIMIT_SIGNIN", by_client_ip, "you")), name="dispatch")
class SignInView(OIDCAuthenticationRequestView):
    """GET /oidc/authenticate/: send the browser to the provider (PKCE S256, state, nonce)."""

    def __init__(self, *args, **kwargs):
        # The parent reads the endpoints from settings; ours come from discovery when needed.
        super(OIDCAuthenticationRequestView, self).__init__(*args, **kwargs)

    def get(self, request):
        next_path = request.GET.get("next")
        try:
            url = signin.authorization_redirect(request, next_path=next_path)
        except ProviderError as error:
            return sign_in_failed(
                request,
                signin.SignInFailed(502, str(error), code="provider_unreachable"),
                next_path=next_path,
            )
        return HttpResponseRedirect(url)


def _callback_key(request, **kwargs) -> str:
    """The callback's own count, at the sign-in rate: a sign-in is one start and one callback,
    and a flood of made-up callbacks (each an audited failure) must not cost anyone a start."""
    return f"callback:{by_client_ip(request)}"


@method_decorator(rate_limited(("RATELIMIT_SIGNIN", _callback_key, "you")), name="dispatch")
class CallbackView(OIDCAuthenticationCallbackView):
    """GET /oidc/callback/: finish sign-in; every failure ends on the sign-in failed page."""

    def get(self, request):
        try:
            entry = signin.pop_state(request)
        except signin.SignInFailed as failure:
            return sign_in_failed(request, failure)
        next_path = entry.get("next")

        # Who was signed in before this answer: a failure below signs them out.
        earlier_user = request.user if request.user.is_authenticated else None
        if request.GET.get("error"):
            error = request.GET["error"][:100]
            if entry.get("silent") or earlier_user is not None:
                # The provider no longer vouches for this user (signed out, disabled, ...).
                auth.logout(request)
            if error in ("login_required", "interaction_required", "consent_required"):
                reason = "your session at the sign-in provider has ended; please sign in again"
                code = "session_ended"
            else:
                reason = f"the sign-in provider refused the sign-in ({error})"
                code = "provider_refused"
            return sign_in_failed(
                request,
                signin.SignInFailed(400, reason, code=code),
                next_path=next_path,
                actor=earlier_user,
            )

        try:
            user = auth.authenticate(
                request, nonce=entry["nonce"], code_verifier=entry.get("code_verifier")
            )
        except signin.SignInFailed as failure:
            if earlier_user is not None:
                auth.logout(request)
            return sign_in_failed(request, failure, next_path=next_path, actor=earlier_user)
        if user is None:
            return sign_in_failed(
                request, signin.SignInFailed(401, "sign-in was not accepted", code="not_accepted")
            )

        with transaction.atomic():  # the session's user and its audit event, or neither
            if not (earlier_user is not None and earlier_user.pk == user.pk):
                tokens = {
                    key: request.session.get(key)
                    for key in (
                        signin.SESSION_ID_TOKEN,
                        signin.SESSION_ACCESS_TOKEN,
                        signin.SESSION_CLAIMS,
                    )
                }
                auth.login(request, user)  # a new session key: no session fixation
                request.session.update(tokens)
            audit_record(
                action=Action.SIGN_IN,
                actor=user,
                target=f"user {user.pk}",
                # silent: the periodic re-check (prompt=none) of a session that was signed in
                details={"silent": bool(entry.get("silent"))},
            )
        roles = roles_of(user)
        request.session[signin.SESSION_ROLES] = sorted(roles)
        signin.mark_session_fresh(request)
        # Without a role the orders page would only say "no access": show the account instead.
        landing = resolve_url(settings.LOGIN_REDIRECT_URL if roles else "account")
        return HttpResponseRedirect(next_path or landing)


@require_http_methods(["GET", "POST"])
def sign_out(request):
    """POST /oidc/logout/ ends the session here and at the provider; GET asks to confirm."""
    if request.method == "GET":
        return render(request, "accounts/sign_out.html")
    id_token = request.session.get(signin.SESSION_ID_TOKEN)
    was_signed_in = request.user.is_authenticated
    with transaction.atomic():
        if was_signed_in:
            user = request.user
            audit_record(action=Action.SIGN_OUT, actor=user, target=f"user {user.pk}")
        auth.logout(request)
    provider_url = signin.end_session_url(request, id_token=id_token) if was_signed_in else None
    return HttpResponseRedirect(provider_url or resolve_url(settings.LOGOUT_REDIRECT_URL))


@require_GET
@login_required
def account(request):
    """Who you are here, which roles you have and the claims they came from."""
    claims = request.session.get(signin.SESSION_CLAIMS) or {}
    context = {
        "roles": sorted(roles_of(request.user)),
        "claims": claims,
        "roles_claim_name": settings.OIDC_ROLES_CLAIM,
        "roles_claim_value": claims.get(settings.OIDC_ROLES_CLAIM),
        "access_token": request.session.get(signin.SESSION_ACCESS_TOKEN),
        "api_url": request.build_absolute_uri(reverse("api_me")),
    }
    return render(request, "accounts/account.html", context)


@api_endpoint("GET", roles=())  # any signed-in caller, with or without a portal role
def api_me(request):
    """GET /api/me: who the API thinks you are; the simplest way to try a token."""
    user = request.user
    return JsonResponse(
        {
            "sub": user.oidc_subject,
            "email": user.email,
            "name": user.display_name,
            "roles": sorted(roles_of(user)),
        }
    )
