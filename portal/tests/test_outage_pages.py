"""OutagePageMiddleware: a database or Redis outage is a 503 page; any other failure stays a 500.

The real outages (servers stopped) are in config/tests/test_faults.py; here the errors are
raised by views of this module, with DEBUG on and off.
"""

import pytest
import redis
from django.db.utils import OperationalError
from django.test import Client
from django.urls import path

from config.urls import handler403, handler404, handler500, urlpatterns  # noqa: F401


def _database_down(request):
    raise OperationalError("connection refused (injected)")


def _redis_down(request):
    raise redis.ConnectionError("connection refused (injected)")


def _bug(request):
    raise RuntimeError("a bug (injected)")


urlpatterns = [
    *urlpatterns,
    path("database-down/", _database_down),
    path("redis-down/", _redis_down),
    path("api/database-down", _database_down),
    path("bug/", _bug),
]


@pytest.fixture
def client(settings):
    settings.ROOT_URLCONF = __name__
    return Client(raise_request_exception=False)


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/database-down/", b"The portal can't reach its database right now"),
        ("/redis-down/", b"The portal can't reach its session store right now"),
    ],
)
def test_an_outage_is_a_clear_503_page(client, settings, debug, path, words):
    settings.DEBUG = debug
    response = client.get(path)
    assert response.status_code == 503
    assert words in response.content
    assert b"injected" not in response.content
    assert response["Retry-After"] == "30"


def test_the_api_gets_its_error_shape(client):
    response = client.get("/api/database-down")
    assert response.status_code == 503
    assert response.json()["error"] == "unavailable"


def test_any_other_failure_is_still_a_500(client):
    response = client.get("/bug/")
    assert response.status_code == 500
    assert b"Something went wrong on our side" in response.content
