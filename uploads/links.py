"""Share links: making, changing and revoking them, and counting who opens them.

A link always expires (at most SHARE_MAX_SECONDS from now; 1 day unless chosen). A view is
counted atomically with the max-views rule (uploads/viewers.py), so max views is exact under
concurrent opens: the last allowed view shows the image, the next one finds the link used up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import Action, audit_record
from portal import ratelimits
from portal.purge import BATCH_SIZE, delete_in_batches
from uploads import viewers
from uploads.models import Image, ShareLink

DEFAULT_EXPIRY_SECONDS = 24 * 3600
# The expiry choices the image page offers (a chosen date and time is the fourth).
EXPIRY_CHOICES = (
    (3600, "1 hour"),
    (24 * 3600, "1 day"),
    (7 * 24 * 3600, "7 days"),
)
PASSWORD_MAX_LENGTH = 200
# Wrong passwords allowed per link in a window, against guessing (each check also costs the
# hasher's deliberate slowness). Counted per link, as well as per visitor (RATELIMIT_SHARE_PASSWORD
# per client IP): a guesser can change address but not link, and only people holding the link
# can lock it for a while.
PASSWORD_TRIES = 10
PASSWORD_TRIES_SECONDS = 600
MAX_VIEWS_LIMIT = 1_000_000

# Link-preview fetchers of chat apps and social sites, and the big search crawlers: they open a
# link to draw a preview card or index it, and nobody has looked at the image yet. Matched
# anywhere in the User-Agent, ignoring case. Only names that no person's browser sends: not a
# generic "bot" (phones such as "CUBOT X30"), nor an app's own name where its in-app browser
# sends it (Snapchat, "ZulipElectron"): those are people looking.
LINK_PREVIEW_BOTS = re.compile(
    r"Slackbot|Slack-ImgProxy|Twitterbot|facebookexternalhit|facebookcatalog|Discordbot"
    r"|TelegramBot|WhatsApp|LinkedInBot|SkypeUriPreview|MicrosoftPreview|Iframely|Embedly"
    r"|redditbot|Mastodon/|Pleroma|Misskey/|Applebot|Google-InspectionTool|GoogleOther"
    r"|Googlebot|bingbot|DuckDuckBot|YandexBot|Baiduspider|Pinterestbot|vkShare"
    r"|Synapse \(bot|Mattermost-Bot|ZulipURLPreview|Bytespider|Amazonbot",
    re.IGNORECASE,
)


class LinkRejected(ValueError):
    """Link settings we don't take; the message says what is allowed."""


class LinkGone(Exception):
    """The link was revoked: it can't be changed any more."""


@dataclass(frozen=True)
class Expiry:
    """When a link should expire: `seconds` from now, or at `moment` (one of the two)."""

    seconds: int | None = None
    moment: datetime | None = None

    def resolve(self, now: datetime) -> datetime:
        if self.moment is not None:
            expires = self.moment
            if timezone.is_naive(expires):
                raise LinkRejected("give the expiry time with its time zone")
        else:
            seconds = self.seconds if self.seconds is not None else DEFAULT_EXPIRY_SECONDS
            expires = now + timedelta(seconds=seconds)
        longest = now + timedelta(seconds=settings.SHARE_MAX_SECONDS)
        if expires <= now:
            raise LinkRejected("the expiry must be in the future")
        if expires > longest + timedelta(seconds=1):
            raise LinkRejected(f"a link can live at most {_duration(settings.SHARE_MAX_SECONDS)}")
        return min(expires, longest)


def _duration(seconds: int) -> str:
    days, rest = divmod(seconds, 24 * 3600)
    if not rest:
        return f"{days} day{'s' if days != 1 else ''}"
    hours = seconds / 3600
    return f"{hours:g} hours"


def _checked_max_views(max_views: int | None) -> int | None:
    if max_views is None:
        return None
    if isinstance(max_views, bool) or not isinstance(max_views, int):
        raise LinkRejected("max views must be a whole number")
    if not 1 <= max_views <= MAX_VIEWS_LIMIT:
        raise LinkRejected(f"max views must be from 1 to {MAX_VIEWS_LIMIT:,}")
    return max_views


def link_create(
    *,
    image: Image,
    created_by,
    expiry: Expiry | None = None,
    max_views: int | None = None,
    password: str | None = None,
    download: bool = False,
) -> ShareLink:
    """A new link to `image`. The password is stored hashed (Django's hasher), never as is."""
    now = timezone.now()
    expires = (expiry or Expiry()).resolve(now)
    if password is not None and len(password) > PASSWORD_MAX_LENGTH:
        raise LinkRejected(f"the password can be at most {PASSWORD_MAX_LENGTH} characters")
    max_views = _checked_max_views(max_views)
    hashed = make_password(password) if password else ""  # slow on purpose: outside the lock
    with transaction.atomic():
        link = ShareLink.objects.create(
            image=image,
            created_by=created_by,
            created=now,
            expires=expires,
            max_views=max_views,
            password=hashed,
            download=bool(download),
        )
        audit_record(
            action=Action.LINK_CREATED,
            actor=created_by,
            target=_target(link),
            details={
                "image": image.pk,
                "expires": expires.isoformat(),
                "max_views": link.max_views,
                "password": bool(hashed),
                "download": link.download,
            },
        )
    return link


def _target(link: ShareLink) -> str:
    return f"share link {link.pk}"  # never the token: the trail is no place for it


_UNCHANGED = object()


def link_update(*, link: ShareLink, expiry: Expiry | None = None, max_views=_UNCHANGED, actor=None):
    """Change the expiry (either way, within the maximum from now) and/or max views. An expired
    link opens again when extended; a revoked one stays revoked (LinkGone). `actor` made the
    change (the audit trail records which fields, from what to what)."""
    if link.revoked is not None:
        raise LinkGone("this link was revoked; make a new one instead")
    changes = {}
    if expiry is not None:
        expires = expiry.resolve(timezone.now())
        changes["expires"] = {"from": link.expires.isoformat(), "to": expires.isoformat()}
        link.expires = expires
    if max_views is not _UNCHANGED:
        max_views = _checked_max_views(max_views)
        changes["max_views"] = {"from": link.max_views, "to": max_views}
        link.max_views = max_views
    if changes:
        with transaction.atomic():
            link.save(update_fields=list(changes))
            audit_record(
                action=Action.LINK_CHANGED,
                actor=actor,
                target=_target(link),
                details={"fields": changes},
            )
    return link


def link_revoke(link: ShareLink, *, actor=None) -> tuple[ShareLink, bool]:
    """Revoke the link; (link, False) when it already was."""
    if link.revoked is not None:
        return link, False
    link.revoked = timezone.now()
    with transaction.atomic():
        link.save(update_fields=["revoked"])
        audit_record(action=Action.LINK_REVOKED, actor=actor, target=_target(link))
    return link, True


def is_link_preview(user_agent: str) -> bool:
    """A known link-preview bot or crawler (LINK_PREVIEW_BOTS): its visits are not views."""
    return bool(user_agent) and LINK_PREVIEW_BOTS.search(user_agent) is not None


def password_matches(link: ShareLink, password: str) -> bool:
    if len(password) > PASSWORD_MAX_LENGTH:  # never one we stored; don't spend the hasher on it
        return False
    return bool(link.password) and check_password(password, link.password)


def _password_limits(link: ShareLink, ip: str):
    """(limit, key, whose): PASSWORD_TRIES per link, RATELIMIT_SHARE_PASSWORD per client IP."""
    per_link = ratelimits.per_seconds(
        PASSWORD_TRIES, PASSWORD_TRIES_SECONDS, name="share-password-link"
    )
    return (
        (per_link, link.token, "link"),
        (ratelimits.limit("RATELIMIT_SHARE_PASSWORD"), ip, "you"),
    )


def password_try_refusal(link: ShareLink, *, ip: str) -> tuple[ratelimits.Refusal, str] | None:
    """(refusal, "link" or "you") after PASSWORD_TRIES wrong passwords for this link within
    PASSWORD_TRIES_SECONDS, or RATELIMIT_SHARE_PASSWORD from this IP; None while tries are left."""
    for item, key, whose in _password_limits(link, ip):
        if (refusal := ratelimits.check(item, key)) is not None:
            return refusal, whose
    return None


def password_try_failed(link: ShareLink, *, ip: str, actor=None) -> None:
    """Count one wrong password, for the link and for the client IP, and record it in the audit
    trail."""
    audit_record(action=Action.LINK_PASSWORD_FAILED, actor=actor, target=_target(link))
    for item, key, _whose in _password_limits(link, ip):
        ratelimits.hit(item, key)


def link_count_view(link: ShareLink, *, viewer: str | None) -> bool:
    """Count one view if the link still opens; False when it is revoked, expired or used up
    (exactly, also under concurrent opens: see uploads/viewers.py).

    `viewer` is the keyed viewer hash (viewers.viewer_id), or None for a view that counts
    toward the total but not toward distinct viewers.
    """
    return viewers.count_view(link, viewer)


def links_purge(*, now=None, batch_size: int = BATCH_SIZE) -> int:
    """Delete share links that expired or were revoked more than SHARE_RETENTION_DAYS ago, and
    their view counts in Redis; answers how many. Safe to run on several machines at once."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.SHARE_RETENTION_DAYS)
    ended = ShareLink.objects.filter(Q(expires__lt=cutoff) | Q(revoked__lt=cutoff))
    return delete_in_batches(
        ended.only("pk", "token"), batch_size=batch_size, after_batch=viewers.forget
    )
