"""The session store on Redis: Redis being down is an error, not an empty (signed-out) session."""

import pytest
import redis
from django.contrib.sessions.backends.cache import SessionStore as DjangosStore
from django.core.cache.backends.redis import RedisCache

from devstack.servers import free_stack_ports
from portal.redis_sessions import SessionStore


@pytest.fixture
def redis_nobody_answers() -> RedisCache:
    """A Redis cache on a port where nothing listens."""
    return RedisCache(f"redis://127.0.0.1:{free_stack_ports().provider}/0", {})


def test_redis_down_is_an_error_for_our_store(redis_nobody_answers):
    store = SessionStore("a" * 32)
    store._cache = redis_nobody_answers
    with pytest.raises(redis.ConnectionError):
        store.load()


def test_djangos_store_would_have_signed_the_person_out(redis_nobody_answers):
    """Why ours exists: Django's store answers an empty session when Redis is down."""
    store = DjangosStore("a" * 32)
    store._cache = redis_nobody_answers
    assert store.load() == {}
