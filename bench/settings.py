"""Settings for bench/orders_bench.py: the portal's own settings plus a bare view to compare with.

The bench runs the app as production does (DEBUG off, sessions in Redis, gunicorn); only the
URLconf, the static files folder and the cache key prefix differ, so it can clean up after itself.
"""

import os
from pathlib import Path

from config.settings import *  # noqa: F403
from config.settings import CACHES as PORTAL_CACHES

ROOT_URLCONF = "bench.urls"
if os.environ.get("BENCH_STATIC_ROOT"):
    STATIC_ROOT = Path(os.environ["BENCH_STATIC_ROOT"])
CACHES = {
    "default": {**PORTAL_CACHES["default"], "KEY_PREFIX": os.environ.get("BENCH_CACHE_PREFIX", "")}
}
# The benches send tens of thousands of requests from 127.0.0.1 as a few users: the rate limits
# stay on, so their cost is in the figures, but far from refusing anything.
RATELIMIT_SHARE_OPEN = RATELIMIT_SHARE_OPEN_PER_LINK = RATELIMIT_API = "1000000000/m"
# The benches speak plain HTTP on 127.0.0.1, as a load balancer that ends TLS does (make load
# also says https in X-Forwarded-Proto); with the redirect every request would be a 301.
SECURE_SSL_REDIRECT = False
