"""What a serving process says once when it starts (config/wsgi.py and config/asgi.py call it;
management commands, `check --deploy` among them, don't)."""

from __future__ import annotations

import logging
from functools import cache

from django.conf import settings

logger = logging.getLogger(__name__)

WITHOUT_REDIS = (
    "REDIS_URL is not set: the cache and the rate limits live in this process's memory (each "
    "process counts on its own), and sessions and share-link counts are in the database. Run "
    "one app process, or set REDIS_URL so that every process shares them."
)


@cache  # once per process
def announce() -> None:
    if not settings.REDIS_URL:
        logger.warning(WITHOUT_REDIS)
