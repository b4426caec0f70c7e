"""Scale-out: two production servers (gunicorn, `make serve`'s command) behind one public
address, sharing PostgreSQL, Redis, S3 and the provider, as two machines behind a load balancer.

The balancer is played by the test: every request goes to one server or the other with the
public Host (portal.test), X-Forwarded-Proto https and the client's address in X-Forwarded-For.
Runs only on PostgreSQL with REDIS_URL set (in CI: the step after the three full runs).
"""

from __future__ import annotations

import io
import os
import time
from itertools import cycle
from urllib.parse import urlsplit

import pytest
import requests
from django.conf import settings
from django.db import connection

from accounts.backends import USER_PROCESS_CACHE_SECONDS
from accounts.models import User
from config.tests.portal_servers import production_env, start
from uploads import s3, viewers
from uploads.links import link_create
from uploads.services import image_delete, image_store
from uploads.tests import samples
from uploads.tests.conftest import views_of

pytestmark = pytest.mark.django_db(transaction=True)
SHARED = settings.DATABASES["default"]["ENGINE"] == "config.postgresql" and bool(settings.REDIS_URL)


@pytest.fixture(scope="module", autouse=True)
def _needs_what_processes_share():
    """Skipped without PostgreSQL and Redis; CI sets REQUIRE_SCALE_OUT, so there it fails."""
    if not SHARED:
        reason = "scale-out needs what processes share: DATABASE_URL on PostgreSQL and REDIS_URL"
        if os.environ.get("REQUIRE_SCALE_OUT"):
            pytest.fail(f"REQUIRE_SCALE_OUT is set but {reason}")
        pytest.skip(reason)


PUBLIC_HOST = "portal.test"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
# How much later than stated a change may show on the other server here: this machine's two
# cores are shared, and each poll is a request.
SLACK_SECONDS = 3


@pytest.fixture(scope="module")
def two_servers(django_db_setup, django_db_blocker, local_stack, tmp_path_factory):
    """Servers A and B on the test database and the test run's Redis database."""
    with django_db_blocker.unblock():
        db = connection.settings_dict
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    database_url = (
        f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )
    env = production_env(
        local_stack,
        database_url=database_url,
        redis_url=settings.REDIS_URL,
        ALLOWED_HOSTS=f"{PUBLIC_HOST},127.0.0.1",
        SITE_ORIGIN=f"https://{PUBLIC_HOST}",
    )
    logs = tmp_path_factory.mktemp("scale-out")
    servers = []
    try:
        for name in ("a", "b"):
            servers.append(start(dict(env), log_path=logs / f"server-{name}.log"))
        yield servers
    finally:
        for server in servers:
            server.stop()


class Balancer:
    """One person's browser behind the load balancer: cookies for the public host, each
    request sent to the server named."""

    def __init__(self, client_ip: str = "203.0.113.10", user_agent: str = BROWSER):
        self.browser = requests.Session()
        self.headers = {
            "Host": PUBLIC_HOST,
            "X-Forwarded-Proto": "https",
            "X-Forwarded-For": client_ip,
            "User-Agent": user_agent,
        }

    def get(self, server, path: str, **options) -> requests.Response:
        options.setdefault("allow_redirects", False)
        return self.browser.get(server.url(path), headers=self.headers, timeout=15, **options)

    def sign_in(self, sub: str, *, start_on, finish_on) -> None:
        """Start on one server; the provider sends the browser back to the public address,
        and the balancer hands the callback to the other."""
        started = self.get(start_on, "/oidc/authenticate/?next=/orders/")
        assert started.status_code == 302, started.text[:500]
        picked = requests.post(
            started.headers["Location"], data={"sub": sub}, allow_redirects=False, timeout=15
        )
        assert picked.status_code == 302, picked.text[:500]
        callback = urlsplit(picked.headers["Location"])
        assert callback.netloc == PUBLIC_HOST
        finished = self.get(finish_on, f"{callback.path}?{callback.query}")
        assert finished.status_code == 302, finished.text[:2000]
        assert finished.headers["Location"] == "/orders/"


def set_provider_claims(local_stack, sub: str, groups: list[str]) -> None:
    claims = {"email": f"{sub}@example.com", "name": sub.title(), "groups": groups}
    response = requests.put(f"{local_stack.issuer}/users/{sub}", json=claims, timeout=5)
    assert response.status_code == 204


def seconds_until(check, *, within: float) -> float:
    """Poll `check` until it holds; how long that took (fails past `within`)."""
    began = time.monotonic()
    while not check():
        elapsed = time.monotonic() - began
        assert elapsed <= within, f"not applied after {elapsed:.1f} s (allowed {within} s)"
        time.sleep(0.2)
    return time.monotonic() - began


def test_sign_in_started_on_one_server_finishes_on_the_other_and_works_on_both(two_servers):
    a, b = two_servers
    person = Balancer()
    person.sign_in("alice", start_on=a, finish_on=b)
    for server in (a, b, a, b):
        orders = person.get(server, "/orders/")
        assert orders.status_code == 200, orders.text[:500]
        assert "Alice Archer" in orders.text
    assert Balancer().get(b, "/orders/").status_code == 302  # and only with that session


def test_share_link_views_and_viewers_add_up_across_both_servers(two_servers, alice):
    a, b = two_servers
    image = image_store(owner=alice, file=io.BytesIO(samples.photo()), filename="harbour.jpg")
    link = link_create(image=image, created_by=alice)
    opens, distinct = 12, 4
    viewers_ips = cycle([f"198.51.100.{n}" for n in range(1, distinct + 1)])
    servers = cycle([a, b])
    try:
        for _ in range(opens):
            opened = Balancer(client_ip=next(viewers_ips)).get(next(servers), f"/s/{link.token}")
            assert opened.status_code == 200, opened.text[:500]
        assert views_of(link) == opens
        assert viewers.count(link) == distinct  # HyperLogLog: exact at this size
    finally:
        image_delete(image)
        client = viewers._redis(settings.REDIS_URL)
        client.delete(viewers._redis_key(link), viewers._views_key(link))
        s3.delete_prefix(f"users/{alice.pk}/")


def test_deactivation_through_one_process_applies_on_both_servers_within_the_stated_time(
    two_servers,
):
    a, b = two_servers
    person = Balancer()
    person.sign_in("bob", start_on=b, finish_on=a)
    for server in (a, b):  # each server now holds its short-lived copy of bob
        assert person.get(server, "/orders/").status_code == 200

    # As the admin site does on any process: a save, which drops the shared cached copy.
    user = User.objects.get(oidc_issuer=settings.OIDC_ISSUER, oidc_subject="bob")
    user.is_active = False
    user.save(update_fields=["is_active"])

    allowed = USER_PROCESS_CACHE_SECONDS + SLACK_SECONDS
    for server in (a, b):
        seconds_until(lambda s=server: person.get(s, "/orders/").status_code == 302, within=allowed)
    refused = person.get(b, "/orders/")
    assert refused.headers["Location"].startswith("/oidc/authenticate/")


def test_a_role_change_at_sign_in_on_one_server_applies_on_the_other(two_servers, local_stack):
    a, b = two_servers
    sub = "scale-out-dana"
    set_provider_claims(local_stack, sub, ["portal-users"])
    person = Balancer()
    person.sign_in(sub, start_on=a, finish_on=b)
    for server in (a, b):
        assert person.get(server, "/admin/").status_code == 403

    # The provider makes her an admin; her next sign-in (on B) brings the new role to A too.
    set_provider_claims(local_stack, sub, ["portal-admins"])
    person.sign_in(sub, start_on=b, finish_on=b)
    seconds_until(
        lambda: person.get(a, "/admin/").status_code == 200,
        within=USER_PROCESS_CACHE_SECONDS + SLACK_SECONDS,
    )
    assert person.get(b, "/admin/").status_code == 200
