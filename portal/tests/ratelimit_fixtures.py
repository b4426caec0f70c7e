"""The rate limits' two stores, for any app's tests: Redis (when REDIS_URL is set, as in
`.ci/run`'s Redis run) and this process's memory (always), each emptied around the test."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings

from portal import ratelimits


@pytest.fixture(params=["memory", "redis"])
def limits_store(request, settings) -> str:
    """Run the test with the limits in memory, then in Redis."""
    if request.param == "redis":
        if not django_settings.REDIS_URL:
            pytest.skip("REDIS_URL is not set")
    else:
        settings.REDIS_URL = ""
    ratelimits.reset()
    yield request.param
    ratelimits.reset()
