"""Distinct viewers: the HyperLogLog sketch's error, the keyed viewer hash, and both counters
(the database sketch, and Redis's PFCOUNT) counting real views of a link."""

import hashlib
from threading import Barrier, Thread

import pytest
import redis
from django.db import connection
from django.test import RequestFactory

from uploads import hll, viewers
from uploads.links import link_count_view, link_create
from uploads.models import ShareLink
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


@pytest.fixture
def redis_test_db():
    """Redis database 12, empty before and after (the test's own, beside CI's 11)."""
    client = redis.Redis.from_url(REDIS_TEST_URL)
    try:
        client.flushdb()
    except redis.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    yield REDIS_TEST_URL
    client.flushdb()


@pytest.fixture(params=["database", "redis"])
def counter(request, settings):
    """Each test runs with the counts in the database and in Redis."""
    settings.REDIS_URL = (
        request.getfixturevalue("redis_test_db") if request.param == "redis" else ""
    )
    return request.param


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


@pytest.mark.django_db(transaction=True)
def test_max_views_holds_when_many_open_at_once(counter, alice, store_image):
    if counter == "database" and connection.vendor == "sqlite":
        pytest.skip("SQLite serialises writers; the race needs PostgreSQL")
    link = link_create(image=store_image(alice), created_by=alice, max_views=5)
    start, results = Barrier(12), []

    def open_once():
        start.wait()
        results.append(link_count_view(ShareLink.objects.get(pk=link.pk), viewer=None))
        connection.close()

    threads = [Thread(target=open_once) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert results.count(True) == 5
    assert views_of(link) == 5


def test_turning_redis_on_keeps_the_counts(settings, redis_test_db, alice, store_image):
    settings.REDIS_URL = ""
    link = link_create(image=store_image(alice), created_by=alice, max_views=3)
    assert link_count_view(link, viewer=None)
    assert link_count_view(link, viewer=None)

    settings.REDIS_URL = redis_test_db
    counted = [link_count_view(link, viewer=None) for _ in range(2)]

    assert counted == [True, False]  # 2 views from the database, 1 more in Redis: 3
    assert views_of(link) == 3
