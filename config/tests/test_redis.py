"""The production paths through Redis: the cache client, sessions and the cached user.

These run when REDIS_URL is set (`.ci/run`'s third run gives them a database of their own).
"""

from __future__ import annotations

import threading

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.redis import RedisCacheClient
from django.test import Client

from accounts import backends
from config.cache import SharedClientRedisCacheClient

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="REDIS_URL is not set")


def redis_server() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def test_the_cache_and_the_sessions_live_in_redis():
    assert settings.CACHES["default"]["BACKEND"] == "config.cache.PortalRedisCache"
    assert settings.SESSION_ENGINE == "portal.redis_sessions"
    cache.set("portal:test:where", "here", 30)
    assert any(b"portal:test:where" in key for key in redis_server().keys("*portal:test:where"))


def test_djangos_client_still_has_the_two_hooks_ours_builds_on():
    """config/cache.py relies on RedisCacheClient._get_connection_pool and ._client; a Django
    upgrade that renames them must fail here, not in production."""
    assert callable(RedisCacheClient._get_connection_pool)
    client = cache._cache
    assert isinstance(client, SharedClientRedisCacheClient)
    assert client._client is redis.Redis


def test_one_redis_client_serves_every_call_and_thread():
    client = cache._cache
    seen = []

    def use():
        seen.append(client.get_client("k"))
        cache.set("portal:test:thread", 1, 30)

    threads = [threading.Thread(target=use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(c) for c in seen}) == 1
    assert client.get_client("k", write=True) is seen[0]


def test_the_shared_client_keeps_djangos_cache_semantics():
    cache.set_many({"portal:test:a": {"n": 1}, "portal:test:b": [2]}, 30)
    assert cache.get_many(["portal:test:a", "portal:test:b", "portal:test:c"]) == {
        "portal:test:a": {"n": 1},
        "portal:test:b": [2],
    }
    assert cache.add("portal:test:a", "other") is False
    cache.set("portal:test:n", 1, 30)
    assert cache.incr("portal:test:n", 5) == 6
    cache.delete("portal:test:a")
    assert cache.get("portal:test:a") is None
    cache.set("portal:test:gone", 1, timeout=0)  # Django: timeout 0 expires at once
    assert cache.get("portal:test:gone") is None


@pytest.mark.django_db
def test_a_session_in_redis_serves_another_client_and_dies_with_sign_out(alice):
    first = Client()
    first.force_login(alice, backend="accounts.backends.PortalOIDCBackend")
    session_key = first.cookies[settings.SESSION_COOKIE_NAME].value
    assert redis_server().keys(f"*{session_key}")  # stored in Redis, not the database

    # Another app process would only have the cookie: a second client with it is signed in.
    second = Client()
    second.cookies[settings.SESSION_COOKIE_NAME] = session_key
    assert second.get("/account/").status_code == 200

    first.post("/oidc/logout/")
    assert not redis_server().keys(f"*{session_key}")
    assert second.get("/account/").status_code == 302


@pytest.mark.django_db
def test_the_signed_in_user_is_cached_in_redis_and_dropped_on_save(alice):
    backend = backends.PortalOIDCBackend()
    key = backends.user_cache_key(alice.pk)
    cache.delete(key)
    backends.forget_recently_served_users()
    assert backend.get_user(alice.pk) == alice
    assert cache.get(key) == alice
    alice.first_name = "Renamed"
    alice.save()
    assert cache.get(key) is None
    assert backend.get_user(alice.pk).first_name == "Renamed"
