"""Counting share-link views and distinct viewers: in Redis when REDIS_URL is set, else in
the database.

A view is counted atomically with the max-views rule, so the limit is exact under concurrent
opens: with Redis by one small Lua script (the count and the viewer in one step, no database
write on the busiest public path), without it by one conditional UPDATE. The link's `views`
column is the count in the database; with Redis it is where Redis starts from (so turning
REDIS_URL on keeps the counts), and `load_views` puts Redis's count on the links read.

Distinct viewers are estimated with HyperLogLog. A viewer is an HMAC (with a key derived from
SECRET_KEY) of the client IP and User-Agent, so no raw IP is stored anywhere. With Redis,
PFADD/PFCOUNT (12 KB at most per link); otherwise a 4 KB sketch in the link's row
(uploads/hll.py).
"""

from __future__ import annotations

from functools import cache

import redis
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.crypto import salted_hmac

from portal.client_ip import client_ip
from uploads import hll
from uploads.models import ShareLink

# Counts stay this long after the last view (a link lives at most SHARE_MAX_SECONDS).
REDIS_KEEP_SECONDS = 90 * 24 * 3600
REDIS_PREFIX = "portal:share-viewers:"
REDIS_VIEWS_PREFIX = "portal:share-views:"
# KEYS: the view count, the viewers' sketch. ARGV: the count to start from (the database's),
# max views ('' for none), the viewer ('' for none), seconds to keep. Answers the new count, or
# -1 when the link is used up.
COUNT_VIEW_SCRIPT = """
local views = tonumber(redis.call('GET', KEYS[1]) or ARGV[1])
local limit = tonumber(ARGV[2])
if limit and views >= limit then return -1 end
views = views + 1
redis.call('SET', KEYS[1], views, 'EX', ARGV[4])
if ARGV[3] ~= '' then
  redis.call('PFADD', KEYS[2], ARGV[3])
  redis.call('EXPIRE', KEYS[2], ARGV[4])
end
return views
"""


def viewer_id(request) -> str:
    """The keyed hash of who is asking: client IP and User-Agent."""
    ip = client_ip(request)
    agent = request.headers.get("User-Agent", "")
    return salted_hmac("uploads.viewers", f"{ip}\n{agent}", algorithm="sha256").hexdigest()


@cache
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


# By token, not id: a token is never used twice, while ids can come back (a rolled-back insert).
def _redis_key(link: ShareLink) -> str:
    return f"{REDIS_PREFIX}{link.token}"


def _views_key(link: ShareLink) -> str:
    return f"{REDIS_VIEWS_PREFIX}{link.token}"


@cache
def _count_view_script(url: str):
    return _redis(url).register_script(COUNT_VIEW_SCRIPT)


def count_view(link: ShareLink, viewer: str | None) -> bool:
    """Count one view if the link still opens (not revoked, not expired, views left); False
    otherwise. Sets link.views to the new count. `viewer`: the viewer_id, or None to count
    the view but no viewer."""
    now = timezone.now()
    if settings.REDIS_URL:
        if link.revoked is not None or link.expires <= now:
            return False
        views = _count_view_script(settings.REDIS_URL)(
            keys=[_views_key(link), _redis_key(link)],
            args=[link.views, link.max_views or "", viewer or "", REDIS_KEEP_SECONDS],
        )
        if views < 0:
            link.views = link.max_views  # used up (link.state() says so)
            return False
        link.views = views
        return True
    opened = (
        ShareLink.objects.filter(pk=link.pk, revoked__isnull=True, expires__gt=now)
        .filter(Q(max_views__isnull=True) | Q(views__lt=F("max_views")))
        .update(views=F("views") + 1)
    )
    if not opened:
        link.refresh_from_db(fields=["views", "revoked", "expires", "max_views"])
        return False
    link.views += 1
    if viewer is not None:
        add(link, viewer)
    return True


def forget(links) -> None:
    """Remove the Redis counts of links that are gone (without Redis they went with the row);
    a key already removed is no error."""
    if not settings.REDIS_URL or not links:
        return
    keys = [key for link in links for key in (_views_key(link), _redis_key(link))]
    _redis(settings.REDIS_URL).delete(*keys)


def load_views(links) -> None:
    """With Redis, set each link's `views` to Redis's count (one round trip); the database's
    column is the count otherwise, and where Redis starts from."""
    links = list(links)
    if not settings.REDIS_URL or not links:
        return
    counted = _redis(settings.REDIS_URL).mget([_views_key(link) for link in links])
    for link, views in zip(links, counted, strict=True):
        if views is not None:
            link.views = int(views)


def add(link: ShareLink, viewer: str) -> None:
    if settings.REDIS_URL:
        client = _redis(settings.REDIS_URL)
        pipe = client.pipeline(transaction=False)
        pipe.pfadd(_redis_key(link), viewer)
        pipe.expire(_redis_key(link), REDIS_KEEP_SECONDS)
        pipe.execute()
        return
    with transaction.atomic():
        # Read-modify-write of the sketch: one view at a time per link.
        sketch = (
            ShareLink.objects.select_for_update()
            .values_list("viewer_sketch", flat=True)
            .get(pk=link.pk)
        )
        registers = bytearray(sketch) if sketch else hll.empty()
        if hll.add(registers, int(viewer[:16], 16)):
            ShareLink.objects.filter(pk=link.pk).update(viewer_sketch=bytes(registers))


def count(link: ShareLink) -> int:
    if settings.REDIS_URL:
        return _redis(settings.REDIS_URL).pfcount(_redis_key(link))
    sketch = ShareLink.objects.values_list("viewer_sketch", flat=True).get(pk=link.pk)
    return hll.count(bytes(sketch)) if sketch else 0


def counts(links: list[ShareLink]) -> dict[int, int]:
    """Link id -> distinct viewers, for a page of links (one round trip)."""
    if not links:
        return {}
    if settings.REDIS_URL:
        pipe = _redis(settings.REDIS_URL).pipeline(transaction=False)
        for link in links:
            pipe.pfcount(_redis_key(link))
        return dict(zip((link.pk for link in links), pipe.execute(), strict=True))
    sketches = ShareLink.objects.filter(pk__in=[link.pk for link in links]).values_list(
        "pk", "viewer_sketch"
    )
    return {pk: hll.count(bytes(sketch)) if sketch else 0 for pk, sketch in sketches}
