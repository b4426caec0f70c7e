"""Who is asking: the client's IP address, as far as the proxies we trust can tell.

Behind a load balancer every connection comes from the balancer, so REMOTE_ADDR names it, not
the person. Each proxy appends the address it saw to X-Forwarded-For; a client can put anything
at the left of that header, but not past the proxies we run. So with TRUSTED_PROXY_COUNT proxies
in front, the address that many hops from the right is the one the first of them saw.
Rate limits, the audit trail and the share-link viewer hash all ask this one function.
"""

from __future__ import annotations

from django.conf import settings


def client_ip(request) -> str:
    """REMOTE_ADDR, or TRUSTED_PROXY_COUNT hops from the right of X-Forwarded-For."""
    hops = settings.TRUSTED_PROXY_COUNT
    if hops <= 0:
        return request.META.get("REMOTE_ADDR", "")
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < hops:
        # Fewer entries than proxies: the request did not come through all of them (a probe or
        # a direct connection); the nearest peer is the best we know.
        return forwarded[0] if forwarded else request.META.get("REMOTE_ADDR", "")
    return forwarded[-hops]
