"""Distinct viewers of share links: a keyed hash per viewer, counted with HyperLogLog.

A viewer is an HMAC (with a key derived from SECRET_KEY) of the client IP and User-Agent, so
no raw IP is stored anywhere and nobody without the key can tell two viewers' hashes apart from
others. With REDIS_URL set the count lives in Redis (PFADD/PFCOUNT: 12 KB at most per link);
otherwise in the link's row as a 4 KB sketch (uploads/hll.py).
"""

from __future__ import annotations

from functools import cache

import redis
from django.conf import settings
from django.db import transaction
from django.utils.crypto import salted_hmac

from uploads import hll
from uploads.models import ShareLink

# Counts stay this long after the last view (a link lives at most SHARE_MAX_SECONDS).
REDIS_KEEP_SECONDS = 90 * 24 * 3600
REDIS_PREFIX = "portal:share-viewers:"


def viewer_id(request) -> str:
    """The keyed hash of who is asking: client IP and User-Agent."""
    ip = request.META.get("REMOTE_ADDR", "")
    agent = request.headers.get("User-Agent", "")
    return salted_hmac("uploads.viewers", f"{ip}\n{agent}", algorithm="sha256").hexdigest()


@cache
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def _redis_key(link: ShareLink) -> str:
    return f"{REDIS_PREFIX}{link.pk}"


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
