"""The public share pages, /s/<token> and /s/<token>/raw, for anyone holding a link.

A view is counted exactly when a signed image URL is handed out (uploads.links.link_count_view):
the page embeds its image through the presigned URL itself, so opening the page counts once,
and HEAD requests and link-preview bots get no signed URL at all, so they can't be used to see
the image past max views. Every answer carries no-store, noindex and no-referrer (the token must
not reach S3 or another site in a Referer; the password form: same-origin).
"""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.core.signing import BadSignature
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.views.decorators.csp import csp_override
from django.views.decorators.http import require_http_methods

from portal.client_ip import client_ip
from portal.ratelimits import by_client_ip, rate_limited
from uploads import links, s3, signing, viewers
from uploads.selectors import link_get_public

# A visitor who typed a link's password gets this signed cookie, scoped to /s/<token>.
UNLOCK_COOKIE = "share_unlocked"
UNLOCK_SALT = "uploads.share_views.unlocked"
# Under no-referrer a browser sends "Origin: null" with the form's POST, which CSRF protection
# rightly refuses. The form page embeds and links nothing of another site, so same-origin keeps
# the token to ourselves there too.
FORM_REFERRER_POLICY = "same-origin"
# What a visitor's browser may wait before trying again while S3 is down.
STORE_RETRY_SECONDS = 30


def _share_headers(view):
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        # The share pages' own, tighter policy (SHARE_CSP): no script, the image from S3 only.
        response = csp_override(settings.SHARE_CSP)(view)(request, *args, **kwargs)
        patch_cache_control(response, private=True, no_store=True)
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers["X-Robots-Tag"] = "noindex, nofollow"
        return response

    return wrapped


def _link_key(request, token: str) -> str | None:
    """The per-link limit's key: the token as asked for (a real token is at most 64 characters;
    a longer one is a 404 anyway, and is not worth a key of its own)."""
    return token if len(token) <= 64 else None


# Before the link is even looked up, and so before any view is counted: a refused open is no view.
_open_limits = rate_limited(
    ("RATELIMIT_SHARE_OPEN", by_client_ip, "you"),
    ("RATELIMIT_SHARE_OPEN_PER_LINK", _link_key, "link"),
    layout="uploads/share_base.html",
)


def _store_answering(view):
    """While S3 is down a link answers 503 before it is looked up or counted: a viewer must not
    spend a view on an image that can't load, nor be told the link is gone."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        try:
            s3.require_store()
        except s3.S3Error:
            response = render(request, "uploads/share_unavailable.html", status=503)
            response["Retry-After"] = str(STORE_RETRY_SECONDS)
            return response
        return view(request, *args, **kwargs)

    return wrapped


def _counts_as_view(request) -> bool:
    return request.method == "GET" and not links.is_link_preview(
        request.headers.get("User-Agent", "")
    )


def _unlocked(request, link) -> bool:
    try:
        value = request.get_signed_cookie(
            UNLOCK_COOKIE, salt=UNLOCK_SALT, max_age=settings.SHARE_MAX_SECONDS
        )
    except (KeyError, BadSignature):
        return False
    return value == link.token


def _not_found(request):
    return render(request, "uploads/share_not_found.html", status=404)


def _gone(request, state: str):
    return render(request, "uploads/share_gone.html", {"state": state}, status=410)


def _refusal(request, link, *, counting: bool):
    """The answer for a link that doesn't open (unknown: 404; revoked, expired or used up:
    410), or None for one that does. When this request will count a view, the count itself
    says "used up" (atomically); otherwise the count is read first."""
    if link is None:
        return _not_found(request)
    if not counting:
        viewers.load_views([link])
    state = link.state()
    return _gone(request, state) if state != "open" else None


def _will_count(request, link) -> bool:
    """A GET by a person (not a preview bot) who may see the image (password given)."""
    if link is None or not _counts_as_view(request):
        return False
    return not link.has_password or _unlocked(request, link)


def _password_form(request, link, *, wrong: str = "", status: int = 200, refused=None):
    context = {"link": link, "wrong": wrong, "referrer_policy": FORM_REFERRER_POLICY}
    if refused is not None:
        refusal, context["whose"] = refused
        context.update(wait=refusal.wait, retry_at=refusal.retry_at)
    response = render(request, "uploads/share_password.html", context, status=status)
    response.headers["Referrer-Policy"] = FORM_REFERRER_POLICY
    if refused is not None:
        response.headers["Retry-After"] = str(refused[0].retry_after)
    return response


def _page(request, link, *, image_url: str | None):
    """The image and its title; without image_url (HEAD, a preview bot) the title only."""
    views_left = None if link.max_views is None else max(link.max_views - link.views, 0)
    download_url = None
    if image_url and link.download:
        # Downloading through /raw is a view of its own; on the last view this page counted,
        # /raw would refuse, so the button takes this view's own download URL instead.
        if views_left == 0:
            download_url = signing.share_url(link.image, download=True)
        else:
            download_url = reverse("share_raw", args=[link.token])
    context = {
        "link": link,
        "image": link.image,
        "image_url": image_url,
        "download_url": download_url,
        "views_left": views_left,
    }
    return render(request, "uploads/share_page.html", context)


def _unlock(request, link):
    """Check the password form: the right password sets the cookie and shows the image."""
    page = reverse("share_open", args=[link.token])
    if not link.has_password:
        return HttpResponseRedirect(page, status=303)
    ip = client_ip(request)
    if (refused := links.password_try_refusal(link, ip=ip)) is not None:
        return _password_form(request, link, wrong="too many", status=429, refused=refused)
    if not links.password_matches(link, request.POST.get("password", "")):
        links.password_try_failed(link, ip=ip, actor=request.user)
        return _password_form(request, link, wrong="wrong", status=403)
    response = HttpResponseRedirect(page, status=303)
    response.set_signed_cookie(
        UNLOCK_COOKIE,
        link.token,
        salt=UNLOCK_SALT,
        max_age=max(int((link.expires - timezone.now()).total_seconds()), 1),
        path=page,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
    return response


@_share_headers
@require_http_methods(["GET", "HEAD", "POST"])
@_open_limits
@_store_answering
def share_open(request, token: str):
    """The shared image on a small page; a password form first for a link that has one."""
    link = link_get_public(token)
    counting = _will_count(request, link)
    if (refused := _refusal(request, link, counting=counting)) is not None:
        return refused
    if request.method == "POST":
        return _unlock(request, link)
    if link.has_password and not _unlocked(request, link):
        return _password_form(request, link)
    if not counting:
        return _page(request, link, image_url=None)
    if not links.link_count_view(link, viewer=viewers.viewer_id(request)):
        return _gone(request, link.state())  # used up by someone else a moment ago
    return _page(request, link, image_url=signing.share_url(link.image, download=False))


@_share_headers
@require_http_methods(["GET", "HEAD"])
@_open_limits
@_store_answering
def share_raw(request, token: str):
    """302 to a presigned URL that lives SHARE_REDIRECT_SECONDS (a download for download links)."""
    link = link_get_public(token)
    counting = _will_count(request, link)
    if (refused := _refusal(request, link, counting=counting)) is not None:
        return refused
    page = reverse("share_open", args=[link.token])
    if not counting:
        # To the page (the password form, or the title for a bot): a signed URL handed out
        # uncounted would dodge max views.
        return HttpResponseRedirect(page)
    if not links.link_count_view(link, viewer=viewers.viewer_id(request)):
        return _gone(request, link.state())
    return HttpResponseRedirect(signing.share_url(link.image, download=link.download))
