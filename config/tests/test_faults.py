"""Faults: S3, the OpenID provider, Redis and PostgreSQL stopped and started for real, under a
portal process (gunicorn) of this module's own, driven over HTTP as a browser would.

Every server here is this module's own (started once, stopped at the end): PostgreSQL and
Redis whatever the suite's DATABASE_URL and REDIS_URL say, and a second local stack. What a
person sees at each fault is screenshotted at both widths and checked with axe.
"""

from __future__ import annotations

import json
import secrets
import time
from urllib.parse import urlsplit

import psycopg
import pytest
import requests

from accounts import signin
from config.tests import fault_servers
from config.tests.test_accessibility import axe_js, problems_at_each_width  # noqa: F401 - a fixture
from devstack.servers import ensure_private_bucket
from uploads.tests.samples import photo

pytestmark = pytest.mark.own_servers

CSRF = secrets.token_hex(16)  # a CSRF cookie of our choosing, sent back in forms and headers
STORAGE_DOWN = "Images can't be shown or uploaded right now"
SESSION_STORE_DOWN = "The portal can't reach its session store right now"
DATABASE_DOWN = "The portal can't reach its database right now"
PROVIDER_DOWN = "the company sign-in service is not answering right now"
# The portal trusts one answer of "is S3 / the provider up?" for 5 s: a change shows within it.
SETTLE_SECONDS = 15
LAST_ANSWER: list = []
TIMINGS = fault_servers.ROOT / "test-output" / "fault-timings.json"


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """PostgreSQL, Redis, the provider and S3 of this module's own, and the portal on them."""
    if fault_servers.postgres_bin() is None:
        pytest.skip("PostgreSQL's server binaries are missing (apt-get install postgresql)")
    work = tmp_path_factory.mktemp("faults")
    started = time.monotonic()
    postgres = fault_servers.start_postgres()
    redis = stack = portal = None
    try:
        redis = fault_servers.start_redis(work)
        stack = fault_servers.start_stack(work)
        ensure_private_bucket(
            endpoint_url=stack.s3_url,
            bucket=stack.bucket,
            access_key=stack.access_key,
            secret_key=stack.secret_key,
            region="us-east-1",
        )
        env = fault_servers.portal_environment(
            database_url=postgres.url, redis_url=redis.url, stack=stack
        )
        portal = fault_servers.Portal(port=fault_servers.free_port(), env=env, log=work / "app.log")
        portal.manage("migrate", "--no-input")
        portal.manage("seed_orders")
        portal.start()
        portal.timings["start-up"] = round(time.monotonic() - started, 1)
        yield {"postgres": postgres, "redis": redis, "stack": stack, "portal": portal}
        portal.timings["module"] = round(time.monotonic() - started, 1)
        TIMINGS.parent.mkdir(parents=True, exist_ok=True)
        TIMINGS.write_text(json.dumps(portal.timings, indent=1) + "\n")
    finally:
        if portal is not None:
            portal.stop()
        if stack is not None:
            stack.stop()
        if redis is not None:
            redis.stop()
        postgres.stop()
        postgres.remove()


@pytest.fixture(scope="module")
def portal(servers):
    return servers["portal"]


@pytest.fixture(scope="module")
def stack(servers):
    return servers["stack"]


def sql(servers, query: str, *args):
    """One query on the portal's database (this module's PostgreSQL)."""
    with psycopg.connect(servers["postgres"].url.replace("postgres://", "postgresql://")) as db:
        return db.execute(query, args).fetchall()


def sign_in(portal, sub: str = "alice") -> requests.Session:
    """Sign in as a browser would: the portal, the provider's form, the portal's callback."""
    browser = requests.Session()
    callback = start_sign_in(portal, browser, sub)
    done = browser.get(callback, allow_redirects=False, timeout=10)
    assert done.status_code == 302, done.text[:500]
    # Signing in renews the CSRF cookie: put ours in its place, sent back in forms and headers.
    for cookie in list(browser.cookies):
        if cookie.name == "csrftoken":
            browser.cookies.clear(cookie.domain, cookie.path, cookie.name)
    browser.cookies.set("csrftoken", CSRF, domain=fault_servers.HOST)
    return browser


def start_sign_in(portal, browser: requests.Session, sub: str) -> str:
    """Up to the provider's answer: the callback URL it sends the browser to."""
    start = browser.get(portal.url + "/oidc/authenticate/", allow_redirects=False, timeout=10)
    assert start.status_code == 302, start.text[:500]
    picked = browser.post(start.headers["Location"], data={"sub": sub}, allow_redirects=False)
    assert picked.status_code == 302, picked.text[:500]
    return picked.headers["Location"]


def until(check, *, what: str, timeout: float = SETTLE_SECONDS):
    """Poll `check` until it answers something (not None); that answer."""
    deadline = time.monotonic() + timeout
    while True:
        answer = check()
        if answer is not None:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what} (last: {LAST_ANSWER})")
        time.sleep(0.2)


def status_of(browser, url: str, wanted: int):
    response = browser.get(url, allow_redirects=False, timeout=10)
    LAST_ANSWER[:] = [response.status_code, response.text[:300]]
    return response if response.status_code == wanted else None


def api(browser, method: str, url: str, **kwargs) -> requests.Response:
    return browser.request(method, url, headers={"X-CSRFToken": CSRF}, timeout=30, **kwargs)


def look_at(browser_engine, portal, session, path: str, name: str, axe_js, screenshot, status):  # noqa: F811
    """Open `path` in Chromium with the session's cookie: the status, and axe at both widths."""
    context = browser_engine.new_context(viewport={"width": 1280, "height": 800})
    try:
        if session is not None:
            context.add_cookies(
                [
                    {"name": c.name, "value": c.value, "url": portal.url}
                    for c in session.cookies
                    if c.name in ("sessionid", "csrftoken")
                ]
            )
        tab = context.new_page()
        response = tab.goto(portal.url + path)
        assert response.status == status, f"{name}: {response.status}"
        assert problems_at_each_width(tab, axe_js, f"fault-{name}", screenshot=screenshot) == []
        return tab.inner_text("main")
    finally:
        context.close()


def look_after_sending(browser_engine, portal, session, path, name, axe_js, screenshot, status):  # noqa: F811
    """Open `path` in Chromium with the session's cookie, send its form: as look_at."""
    context = browser_engine.new_context(viewport={"width": 1280, "height": 800})
    try:
        context.add_cookies(
            [
                {"name": c.name, "value": c.value, "url": portal.url}
                for c in session.cookies
                if c.name in ("sessionid", "csrftoken")
            ]
        )
        tab = context.new_page()
        assert tab.goto(portal.url + path).status == 200
        with tab.expect_navigation() as navigation:
            tab.evaluate("document.querySelector('main form[method=post]').submit()")
        assert navigation.value.status == status, f"{name}: {navigation.value.status}"
        assert problems_at_each_width(tab, axe_js, f"fault-{name}", screenshot=screenshot) == []
        return tab.inner_text("main")
    finally:
        context.close()


def time_it(portal, name: str, started: float) -> None:
    portal.timings[name] = round(time.monotonic() - started, 1)


# -- S3 down ----------------------------------------------------------------------------------


def test_s3_down_images_say_storage_unavailable_orders_work_nothing_half_written(
    servers,
    portal,
    stack,
    browser,
    axe_js,  # noqa: F811 - the fixture imported above
    screenshot,
):
    started = time.monotonic()
    alice = sign_in(portal)
    stored = api(alice, "POST", portal.url + "/api/images", files={"file": ("a.jpg", photo())})
    assert stored.status_code == 201, stored.text
    image_id = stored.json()["id"]
    link = api(alice, "POST", f"{portal.url}/api/images/{image_id}/links", json={})
    assert link.status_code == 201, link.text
    share_path = urlsplit(link.json()["url"]).path
    token = link.json()["token"]
    # A direct upload that reached S3 and is completed only once S3 is down.
    data = photo(size=(200, 150))
    upload = api(
        alice,
        "POST",
        portal.url + "/api/images/uploads",
        json={"filename": "b.jpg", "content_type": "image/jpeg", "size": len(data)},
    )
    assert upload.status_code == 201, upload.text
    post = upload.json()
    sent = requests.post(
        post["url"], data=post["fields"], files={"file": ("upload", data)}, timeout=30
    )
    assert sent.status_code == 201, sent.text
    images_before = sql(servers, "SELECT count(*), coalesce(sum(bytes), 0) FROM uploads_image")

    stack.stop_s3()
    try:
        gallery = until(
            lambda: status_of(alice, portal.url + "/images/", 503), what="the gallery says 503"
        )
        assert STORAGE_DOWN in gallery.text
        assert "Orders still work" in gallery.text
        assert gallery.headers["Retry-After"]
        for path in ("/images/upload/", f"/images/{image_id}/"):
            page = alice.get(portal.url + path, timeout=10)
            assert page.status_code == 503, path
            assert STORAGE_DOWN in page.text
        # Orders carry on.
        assert alice.get(portal.url + "/orders/", timeout=10).status_code == 200
        assert alice.get(portal.url + "/orders/new/", timeout=10).status_code == 200
        assert alice.get(portal.url + "/api/orders", timeout=10).status_code == 200

        # The API: 503 "unavailable" for images and uploads; a link can still be read.
        for method, path, body in (
            ("GET", "/api/images", None),
            ("GET", f"/api/images/{image_id}", None),
            (
                "POST",
                "/api/images/uploads",
                {"filename": "c.jpg", "content_type": "image/jpeg", "size": 9},
            ),
            ("POST", f"/api/images/uploads/{post['upload_id']}/complete", {}),
        ):
            answer = api(alice, method, portal.url + path, json=body)
            assert answer.status_code == 503, (path, answer.text)
            assert answer.json()["error"] == "unavailable"
            assert answer.headers["Retry-After"]
        form_upload = api(
            alice, "POST", portal.url + "/api/images", files={"file": ("d.jpg", data)}
        )
        assert form_upload.status_code == 503
        assert form_upload.json()["error"] == "unavailable"
        # The upload page's own form (no JavaScript).
        page_upload = alice.post(
            portal.url + "/images/upload/",
            data={"csrfmiddlewaretoken": CSRF, "title": "e"},
            files={"file": ("e.jpg", data)},
            timeout=30,
        )
        assert page_upload.status_code == 503
        assert STORAGE_DOWN in page_upload.text

        # Share links: 503, not 404 or 410, and the visit is not counted.
        anyone = requests.Session()
        for path in (share_path, share_path + "/raw"):
            opened = anyone.get(portal.url + path, allow_redirects=False, timeout=10)
            assert opened.status_code == 503, path
            assert "This image can't be shown right now" in opened.text
        assert api(alice, "GET", f"{portal.url}/api/links/{token}").json()["views"] == 0

        assert sql(servers, "SELECT count(*), coalesce(sum(bytes), 0) FROM uploads_image") == (
            images_before
        )
        assert sql(servers, "SELECT count(*) FROM uploads_pendingupload") == [(1,)]

        gallery_words = look_at(
            browser, portal, alice, "/images/", "s3-gallery", axe_js, screenshot, 503
        )
        assert "Images can't be shown or uploaded right now" in gallery_words
        share_words = look_at(
            browser, portal, None, share_path, "s3-share-link", axe_js, screenshot, 503
        )
        assert "try the link again in a few minutes" in share_words
    finally:
        stack.start_s3()

    until(lambda: status_of(alice, portal.url + "/images/", 200), what="the gallery is back")
    # The upload completed while S3 was down can be completed now, once.
    completed = api(
        alice, "POST", f"{portal.url}/api/images/uploads/{post['upload_id']}/complete", json={}
    )
    assert completed.status_code == 201, completed.text
    opened = requests.get(portal.url + share_path, timeout=10)
    assert opened.status_code == 200
    assert api(alice, "GET", f"{portal.url}/api/links/{token}").json()["views"] == 1
    # Nothing half-written: every object outside incoming/ belongs to an image.
    client = fault_servers_s3_client(stack)
    keys = {item["Key"] for item in client.list_objects_v2(Bucket=stack.bucket).get("Contents", [])}
    known = {
        key for row in sql(servers, "SELECT key, thumbnail_key FROM uploads_image") for key in row
    }
    assert {key for key in keys if not key.startswith("incoming/")} == known
    assert len(known) == 4  # two images, each an original and a thumbnail
    time_it(portal, "s3", started)


def fault_servers_s3_client(stack):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=stack.s3_url,
        aws_access_key_id=stack.access_key,
        aws_secret_access_key=stack.secret_key,
        region_name="us-east-1",
        config=Config(signature_version="s3v4"),
    )


# -- the provider down ------------------------------------------------------------------------


def make_session_check_due(servers, browser: requests.Session) -> None:
    """Move the session's next check with the provider into the past, in Redis itself."""
    from django.contrib.sessions.backends.cache import SessionStore
    from django.core.cache.backends.redis import RedisCache

    store = SessionStore(browser.cookies["sessionid"])
    store._cache = RedisCache(servers["redis"].url, {})
    store[signin.SESSION_REFRESH_DUE] = time.time() - 1
    store.save()


def test_provider_down_sign_in_says_unreachable_signed_in_users_carry_on(
    servers,
    portal,
    stack,
    browser,
    axe_js,  # noqa: F811 - the fixture imported above
    screenshot,
):
    started = time.monotonic()
    alice = sign_in(portal)
    due = sign_in(portal, "bob")
    halfway = requests.Session()
    callback = start_sign_in(portal, halfway, "admin")
    orders_before = sql(servers, "SELECT count(*) FROM orders_order")

    stack.stop_provider()
    try:
        newcomer = requests.Session()
        start = until(
            lambda: status_of(newcomer, portal.url + "/oidc/authenticate/", 502),
            what="the sign-in start says the provider is down",
        )
        assert PROVIDER_DOWN in start.text
        assert "wait a minute and try again" in start.text
        # The callback of a sign-in begun before: its token request fails.
        finish = halfway.get(callback, allow_redirects=False, timeout=10)
        assert finish.status_code == 502
        assert PROVIDER_DOWN in finish.text

        # Signed-in people carry on while their check is not due...
        assert alice.get(portal.url + "/orders/", allow_redirects=False).status_code == 200
        assert alice.get(portal.url + "/api/orders").status_code == 200
        # ...and when it is due: pages are still served (the check is tried again on each),
        # but a change waits, on a page that says why.
        make_session_check_due(servers, due)
        assert due.get(portal.url + "/orders/", allow_redirects=False).status_code == 200
        refused = due.post(portal.url + "/orders/new/", data={"csrfmiddlewaretoken": CSRF})
        assert refused.status_code == 503
        assert "the company sign-in service isn't answering: nothing was saved" in refused.text
        assert sql(servers, "SELECT count(*) FROM orders_order") == orders_before

        words = look_after_sending(
            browser, portal, due, "/orders/new/", "provider-check-due", axe_js, screenshot, 503
        )
        assert "You can still look at your orders and images" in words
        words = look_at(
            browser,
            portal,
            None,
            "/oidc/authenticate/",
            "provider-sign-in",
            axe_js,
            screenshot,
            502,
        )
        assert "the company sign-in service is not answering right now" in words
    finally:
        stack.start_provider()

    until(
        lambda: status_of(requests.Session(), portal.url + "/oidc/authenticate/", 302),
        what="sign-in starts again",
    )
    assert sign_in(portal, "admin").get(portal.url + "/orders/").status_code == 200
    time_it(portal, "provider", started)


# -- PostgreSQL restarted ---------------------------------------------------------------------


def test_postgres_restart_is_survived_without_restarting_the_portal(
    servers,
    portal,
    browser,
    axe_js,  # noqa: F811 - the fixture imported above
    screenshot,
):
    started = time.monotonic()
    postgres = servers["postgres"]
    alice = sign_in(portal)
    for _ in range(4):  # both threads hold a connection now
        assert alice.get(portal.url + "/orders/").status_code == 200

    # A restart between two requests: the very next ones succeed (the health check notices
    # the connections the restart closed, and Django opens new ones).
    postgres.stop()
    postgres.start()
    for _ in range(4):
        assert alice.get(portal.url + "/orders/").status_code == 200

    # Down: a clear 503 page, never a 500; pages that need no database still work.
    postgres.stop()
    try:
        down = alice.get(portal.url + "/orders/", allow_redirects=False)
        assert down.status_code == 503, down.text[:300]
        assert DATABASE_DOWN in down.text
        assert down.headers["Retry-After"]
        assert requests.get(portal.url + "/", timeout=10).status_code == 200
        api_down = alice.get(portal.url + "/api/orders")
        assert api_down.status_code == 503
        assert api_down.json()["error"] == "unavailable"
        words = look_at(
            browser, portal, alice, "/orders/", "postgres-down", axe_js, screenshot, 503
        )
        assert "The portal can't reach its database right now" in words
    finally:
        postgres.start()
    first = alice.get(portal.url + "/orders/", allow_redirects=False)
    assert first.status_code == 200
    for _ in range(4):
        assert alice.get(portal.url + "/orders/").status_code == 200
    time_it(portal, "postgres", started)


# -- Redis down -------------------------------------------------------------------------------


def test_redis_down_session_pages_say_session_store_home_works(
    servers,
    portal,
    browser,
    axe_js,  # noqa: F811 - the fixture imported above
    screenshot,
):
    started = time.monotonic()
    redis = servers["redis"]
    alice = sign_in(portal)
    link_path = None
    stored = api(alice, "POST", portal.url + "/api/images", files={"file": ("r.jpg", photo())})
    assert stored.status_code == 201, stored.text
    link = api(alice, "POST", f"{portal.url}/api/images/{stored.json()['id']}/links", json={})
    link_path = urlsplit(link.json()["url"]).path

    redis.stop()
    try:
        for path in ("/orders/", "/images/", "/account/", "/"):
            down = alice.get(portal.url + path, allow_redirects=False, timeout=10)
            assert down.status_code == 503, (path, down.text[:300])
            assert SESSION_STORE_DOWN in down.text
        api_down = alice.get(portal.url + "/api/orders", timeout=10)
        assert api_down.status_code == 503
        assert api_down.json()["error"] == "unavailable"
        anyone = requests.Session()
        # Without a session: the home page works; signing in can't (its state is a session's).
        assert anyone.get(portal.url + "/", timeout=10).status_code == 200
        start = anyone.get(portal.url + "/oidc/authenticate/", allow_redirects=False)
        assert start.status_code == 503
        assert SESSION_STORE_DOWN in start.text
        # Share links count their views in Redis: without it they can't be counted, so 503.
        shared = anyone.get(portal.url + link_path, allow_redirects=False, timeout=10)
        assert shared.status_code == 503
        words = look_at(browser, portal, alice, "/orders/", "redis-down", axe_js, screenshot, 503)
        assert "The portal can't reach its session store right now" in words
    finally:
        redis.start()
    # Redis came back empty (no persistence here): sessions are gone, so people sign in again.
    back = alice.get(portal.url + "/orders/", allow_redirects=False)
    assert back.status_code == 302
    assert sign_in(portal).get(portal.url + "/orders/").status_code == 200
    time_it(portal, "redis", started)
