"""Distinct viewers: the HyperLogLog sketch's error, the keyed viewer hash, and both counters
(the database sketch, and Redis's PFCOUNT) counting real views of a link."""

import hashlib

import pytest
import redis
from django.test import RequestFactory

from uploads import hll, viewers
from uploads.links import link_count_view, link_create
from uploads.tests.conftest import views_of

# The sketch's standard error is 1.6%; three of them bound nearly every estimate.
STATED_ERROR = 0.05
REDIS_TEST_URL = "redis://127.0.0.1:6379/12"


def hashes(n: int, seed: str = "a"):
    for i in range(n):
        yield int.from_bytes(hashlib.sha256(f"{seed}-{i}".encode()).digest()[:8], "big")


def estimate(n: int, seed: str = "a") -> int:
    registers = hll.empty()
    for value in hashes(n, seed):
        hll.add(registers, value)
    return hll.count(bytes(registers))


def test_an_empty_sketch_counts_zero():
    assert hll.count(bytes(hll.empty())) == 0


@pytest.mark.parametrize("seed", ["a", "b", "c", "d", "e"])
def test_fifty_viewers_are_counted_within_ten_percent(seed):
    assert abs(estimate(50, seed) - 50) <= 5


@pytest.mark.parametrize("n", [10, 1_000, 100_000])
def test_the_estimate_is_within_the_stated_error(n):
    assert abs(estimate(n) - n) <= max(1, STATED_ERROR * n)


def test_adding_the_same_viewer_again_changes_nothing():
    registers = hll.empty()
    [value] = hashes(1)
    assert hll.add(registers, value) is True
    assert hll.add(registers, value) is False
    assert hll.count(bytes(registers)) == 1


def test_the_viewer_hash_is_keyed_and_holds_no_ip(settings):
    request = RequestFactory().get("/", REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="Firefox")
    first = viewers.viewer_id(request)

    assert "203.0.113.9" not in first
    assert viewers.viewer_id(request) == first
    other = RequestFactory().get("/", REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="Safari")
    assert viewers.viewer_id(other) != first
    settings.SECRET_KEY = "another-secret-key-for-this-test-only"
    assert viewers.viewer_id(request) != first


@pytest.fixture(params=["database", "redis"])
def counter(request, settings):
    """Each test runs with the sketch in the database and with Redis."""
    if request.param == "redis":
        client = redis.Redis.from_url(REDIS_TEST_URL)
        try:
            client.flushdb()
        except redis.ConnectionError:
            pytest.skip("no Redis on 127.0.0.1:6379")
        settings.REDIS_URL = REDIS_TEST_URL
        yield "redis"
        client.flushdb()
    else:
        settings.REDIS_URL = ""
        yield "database"


def test_views_from_distinct_viewers_are_counted(counter, alice, store_image):
    link = link_create(image=store_image(alice), created_by=alice)
    factory = RequestFactory()
    for number in range(50):
        for _again in range(2):
            request = factory.get("/", REMOTE_ADDR=f"198.51.100.{number}", HTTP_USER_AGENT="UA")
            assert link_count_view(link, viewer=viewers.viewer_id(request))

    assert views_of(link) == 100
    assert abs(viewers.count(link) - 50) <= 5
    assert viewers.counts([link]) == {link.pk: viewers.count(link)}


def test_max_views_holds_when_many_open_at_once_in_redis(settings, alice, store_image):
    import copy
    from threading import Barrier, Thread

    client = redis.Redis.from_url(REDIS_TEST_URL)
    try:
        client.flushdb()
    except redis.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    settings.REDIS_URL = REDIS_TEST_URL
    link = link_create(image=store_image(alice), created_by=alice, max_views=5)
    start, results = Barrier(12), []

    def open_once():
        start.wait()
        results.append(link_count_view(copy.copy(link), viewer=None))

    threads = [Thread(target=open_once) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert results.count(True) == 5
    assert views_of(link) == 5
    client.flushdb()


def test_turning_redis_on_keeps_the_counts(settings, alice, store_image):
    client = redis.Redis.from_url(REDIS_TEST_URL)
    try:
        client.flushdb()
    except redis.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    settings.REDIS_URL = ""
    link = link_create(image=store_image(alice), created_by=alice, max_views=3)
    assert link_count_view(link, viewer=None)
    assert link_count_view(link, viewer=None)

    settings.REDIS_URL = REDIS_TEST_URL
    counted = [link_count_view(link, viewer=None) for _ in range(2)]

    assert counted == [True, False]  # 2 views from the database, 1 more in Redis: 3
    assert views_of(link) == 3
    client.flushdb()
