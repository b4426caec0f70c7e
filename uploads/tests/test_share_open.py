"""Opening share links, as anyone holding one: /s/<token> and /s/<token>/raw against the real
S3, with views counted exactly, previews and HEAD not counted, passwords, and gone links."""

from __future__ import annotations

import html
import io
import re
import time
from datetime import timedelta

import pytest
import requests
from django.conf import settings as django_settings
from django.contrib.auth.hashers import check_password
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from PIL import Image as PILImage

from uploads import links, signing, viewers
from uploads.links import Expiry, link_create, link_revoke, link_update
from uploads.models import ShareLink
from uploads.share_views import UNLOCK_COOKIE
from uploads.tests import samples
from uploads.tests.conftest import views_of
from uploads.tests.test_viewers import STATED_ERROR

TITLE = "Harbour at dusk"
FILENAME = "IMG_0042 private-name.jpg"
PASSWORD = "correct horse battery"
BROWSER = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/142.0.0.0 Safari/537.36"
)
# Real User-Agents of link-preview fetchers, as they send them.
PREVIEW_BOTS = {
    "Slackbot": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "facebookexternalhit": "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Discordbot": "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "Twitterbot": "Twitterbot/1.0",
    "TelegramBot": "TelegramBot (like TwitterBot)",
    "WhatsApp": "WhatsApp/2.23.20.0 A",
    "LinkedInBot": "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
    "SkypeUriPreview": "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5",
    "Mastodon": "http.rb/5.1.1 (Mastodon/4.2.0; +https://mastodon.social/)",
    "Iframely": "Iframely/1.3.1 (+https://iframely.com/docs/about)",
    "redditbot": "Mozilla/5.0 (compatible; redditbot/1.0; +http://www.reddit.com/feedback)",
    "Applebot": "Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 (KHTML, like Gecko) Applebot/0.1",
    "Google-InspectionTool": "Mozilla/5.0 (compatible; Google-InspectionTool/1.0;)",
    "Zulip": "Mozilla/5.0 (compatible; ZulipURLPreview/9.2; +https://zulip.com/)",
    "Matrix": "Synapse (bot; +https://github.com/element-hq/synapse)",
}
PEOPLE = {
    "Chrome": BROWSER,
    "Safari on an iPhone": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) "
    "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Firefox": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "a CUBOT phone": "Mozilla/5.0 (Linux; Android 10; CUBOT X30) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
    "Snapchat's in-app browser": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) "
    "AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Snapchat/13.10.0.37 (like Safari)",
    "Zulip's desktop app": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like "
    "Gecko) ZulipElectron/5.11.1 Chrome/128.0.6613.186 Electron/32.2.6 Safari/537.36",
    "curl": "curl/8.11.0",
    "no User-Agent": "",
}
IMG_SRC = re.compile(r'<img src="([^"]+)"')


@pytest.fixture
def image(alice, store_image):
    return store_image(alice, samples.photo(), filename=FILENAME, title=TITLE)


def page_of(link) -> str:
    return reverse("share_open", args=[link.token])


def raw_of(link) -> str:
    return reverse("share_raw", args=[link.token])


def embedded_url(response) -> str:
    found = IMG_SRC.findall(response.content.decode())
    assert len(found) == 1, "the page embeds the image once"
    return html.unescape(found[0])


def assert_private_headers(response, referrer_policy="no-referrer"):
    cache_control = response.headers["Cache-Control"]
    assert "private" in cache_control
    assert "no-store" in cache_control
    assert response.headers["Referrer-Policy"] == referrer_policy
    assert "noindex" in response.headers["X-Robots-Tag"]


def test_the_page_shows_the_image_and_its_title_and_nothing_of_the_owner(alice, image, client):
    link = link_create(image=image, created_by=alice)

    response = client.get(page_of(link), HTTP_USER_AGENT=BROWSER)

    assert response.status_code == 200
    assert_private_headers(response)
    body = response.content.decode()
    assert f'<h1 class="share-title">{TITLE}</h1>' in body
    for private in (alice.email, "alice", "Alice", FILENAME, "IMG_0042", samples.CAMERA):
        assert private not in body
    # Embedded through the presigned URL itself, not /raw: opening the page is one view.
    url = embedded_url(response)
    assert url.startswith(django_settings.S3_ENDPOINT_URL)
    assert raw_of(link) not in body
    assert views_of(link) == 1
    served = requests.get(url, timeout=10)
    assert served.status_code == 200
    assert served.headers["Content-Type"] == image.content_type == "image/jpeg"
    assert FILENAME not in served.headers["Content-Disposition"]
    picture = PILImage.open(io.BytesIO(served.content))
    assert picture.size == (image.width, image.height)
    assert len(picture.getexif()) == 0
    # When it stops working, in the portal's zone.
    assert f'<time datetime="{link.expires.isoformat()}">' in body
    assert re.search(r"\d{2}:\d{2} CES?T</time>", body)


def test_camera_data_the_owner_kept_is_never_shown_on_the_page(alice, store_image, client):
    kept = store_image(alice, samples.photo(), filename=FILENAME, title=TITLE, keep_metadata=True)
    link = link_create(image=kept, created_by=alice)

    body = client.get(page_of(link)).content.decode()

    assert TITLE in body
    assert samples.CAMERA not in body
    assert "GPS" not in body
    assert FILENAME not in body


def test_raw_redirects_to_a_short_lived_url_with_the_forced_headers(alice, image, client):
    link = link_create(image=image, created_by=alice)

    response = client.get(raw_of(link))

    assert response.status_code == 302
    assert_private_headers(response)
    assert views_of(link) == 1
    location = response.headers["Location"]
    assert f"X-Amz-Expires={django_settings.SHARE_REDIRECT_SECONDS}&" in location
    served = requests.get(location, timeout=10)
    assert served.status_code == 200
    assert served.headers["Content-Type"] == "image/jpeg"
    assert served.headers["Content-Disposition"] == 'inline; filename="Harbour at dusk.jpg"'
    assert served.headers["Cache-Control"].startswith("private")
    tampered = location.replace("X-Amz-Expires=", "X-Amz-Expires=9")
    assert requests.get(tampered, timeout=10).status_code == 403


def test_a_download_link_downloads_under_the_title_never_the_file_name(alice, image, client):
    link = link_create(image=image, created_by=alice, download=True)

    page = client.get(page_of(link))
    raw = client.get(raw_of(link))

    # The page offers the download; the picture it shows is still inline.
    assert f'href="{raw_of(link)}"' in page.content.decode()
    shown = requests.get(embedded_url(page), timeout=10)
    assert shown.headers["Content-Disposition"].startswith("inline")
    downloaded = requests.get(raw.headers["Location"], timeout=10)
    assert downloaded.status_code == 200
    expected = f'attachment; filename="{signing.shared_filename(image)}"'
    assert (
        downloaded.headers["Content-Disposition"]
        == expected
        == ('attachment; filename="Harbour at dusk.jpg"')
    )
    assert views_of(link) == 2


def test_the_last_allowed_view_of_a_download_link_can_still_download(alice, image, client):
    link = link_create(image=image, created_by=alice, download=True, max_views=1)

    page = client.get(page_of(link))

    body = page.content.decode()
    assert "This was the last view this link allows: download the image now" in body
    # Not /raw, which would now refuse: this view's own download URL.
    assert f'href="{raw_of(link)}"' not in body
    urls = [html.unescape(url) for url in re.findall(r'href="([^"]+)"', body)]
    (download_url,) = [url for url in urls if url.startswith(django_settings.S3_ENDPOINT_URL)]
    downloaded = requests.get(download_url, timeout=10)
    assert downloaded.status_code == 200
    assert downloaded.headers["Content-Disposition"].startswith("attachment")
    assert views_of(link) == 1
    assert client.get(raw_of(link)).status_code == 410


def test_an_inline_link_offers_no_download_button(alice, image, client):
    link = link_create(image=image, created_by=alice, download=False)

    assert "Download" not in client.get(page_of(link)).content.decode()


def test_the_url_raw_hands_out_stops_working_after_its_lifetime(alice, image, client, settings):
    settings.SHARE_REDIRECT_SECONDS = 1  # the shortest a presigned URL can live
    link = link_create(image=image, created_by=alice)

    location = client.get(raw_of(link)).headers["Location"]
    time.sleep(3)

    expired = requests.get(location, timeout=10)
    assert expired.status_code == 403
    assert b"expired" in expired.content


def test_a_revoked_link_is_gone_at_once_for_every_new_open(alice, image, client):
    link = link_create(image=image, created_by=alice)
    assert client.get(page_of(link)).status_code == 200

    link_revoke(link)

    page, raw = client.get(page_of(link)), client.get(raw_of(link))
    assert page.status_code == raw.status_code == 410
    assert_private_headers(page)
    assert "This link was turned off by its owner" in page.content.decode()
    assert "ask the person who sent you the link" in page.content.decode()
    assert "Location" not in raw.headers
    assert TITLE not in page.content.decode()
    assert client.head(page_of(link)).status_code == 410
    assert views_of(link) == 1


def test_an_expired_link_is_gone_and_opens_again_when_extended(alice, image, client):
    link = link_create(image=image, created_by=alice)
    ShareLink.objects.filter(pk=link.pk).update(expires=timezone.now() - timedelta(seconds=1))

    page = client.get(page_of(link))
    assert page.status_code == 410
    assert "This link has expired" in page.content.decode()
    assert client.get(raw_of(link)).status_code == 410

    link.refresh_from_db()
    link_update(link=link, expiry=Expiry(seconds=3600))

    assert client.get(page_of(link)).status_code == 200
    assert client.get(raw_of(link)).status_code == 302
    assert views_of(link) == 2


def test_max_views_is_exact_and_head_and_previews_do_not_count(alice, image, client):
    link = link_create(image=image, created_by=alice, max_views=3)

    def uncounted_visits():
        assert client.head(page_of(link)).status_code == 200
        head_raw = client.head(raw_of(link))
        # HEAD gets the same status, but to the page: never a signed URL that wasn't counted.
        assert (head_raw.status_code, head_raw.headers["Location"]) == (302, page_of(link))
        for agent in PREVIEW_BOTS.values():
            preview = client.get(page_of(link), HTTP_USER_AGENT=agent)
            assert preview.status_code == 200
            assert TITLE in preview.content.decode()
            assert "X-Amz-Signature" not in preview.content.decode()
            preview_raw = client.get(raw_of(link), HTTP_USER_AGENT=agent)
            assert preview_raw.headers["Location"] == page_of(link)

    uncounted_visits()
    assert views_of(link) == 0
    first = client.get(page_of(link), HTTP_USER_AGENT=BROWSER)
    assert "2 more times" in first.content.decode()
    uncounted_visits()
    assert client.get(raw_of(link), HTTP_USER_AGENT=BROWSER).status_code == 302
    uncounted_visits()
    last = client.get(page_of(link), HTTP_USER_AGENT=BROWSER)
    assert last.status_code == 200
    assert "X-Amz-Signature" in last.content.decode()
    assert "This was the last view this link allows" in last.content.decode()
    assert views_of(link) == 3

    for path in (page_of(link), raw_of(link)):
        gone = client.get(path, HTTP_USER_AGENT=BROWSER)
        assert gone.status_code == 410
        assert "viewed the maximum number of times" in gone.content.decode()
        assert client.head(path).status_code == 410
        assert client.get(path, HTTP_USER_AGENT=PREVIEW_BOTS["Slackbot"]).status_code == 410
    assert views_of(link) == 3


@pytest.mark.parametrize("name", PREVIEW_BOTS)
def test_known_preview_bots_are_recognised(name):
    assert links.is_link_preview(PREVIEW_BOTS[name])


@pytest.mark.parametrize("name", PEOPLE)
def test_people_are_not_taken_for_bots(name):
    assert not links.is_link_preview(PEOPLE[name])


def test_a_password_link_asks_for_it_and_shows_nothing_of_the_image(alice, image):
    link = link_create(image=image, created_by=alice, password=PASSWORD)
    visitor = Client(enforce_csrf_checks=True)

    form = visitor.get(page_of(link))

    assert form.status_code == 200
    # Not no-referrer here: under it the browser's POST says "Origin: null" and CSRF refuses it.
    assert_private_headers(form, referrer_policy="same-origin")
    body = form.content.decode()
    assert '<label for="share-password">Password</label>' in body
    assert f'<form method="post" action="{page_of(link)}"' in body
    assert 'name="csrfmiddlewaretoken"' in body
    assert "csrftoken" in form.cookies
    assert TITLE not in body
    assert "X-Amz" not in body
    assert "<img" not in body
    raw = visitor.get(raw_of(link))
    assert (raw.status_code, raw.headers["Location"]) == (302, page_of(link))
    assert views_of(link) == 0


def test_a_wrong_password_is_refused_and_nothing_counted(alice, image):
    link = link_create(image=image, created_by=alice, password=PASSWORD)
    visitor = Client(enforce_csrf_checks=True)
    token = visitor.get(page_of(link)).cookies["csrftoken"].value

    wrong = visitor.post(page_of(link), {"password": "wrong", "csrfmiddlewaretoken": token})

    assert wrong.status_code == 403
    assert_private_headers(wrong, referrer_policy="same-origin")
    assert "That password is not right" in wrong.content.decode()
    assert 'aria-invalid="true"' in wrong.content.decode()
    assert UNLOCK_COOKIE not in wrong.cookies
    assert TITLE not in wrong.content.decode()
    assert visitor.get(page_of(link)).status_code == 200  # the form again
    assert "<img" not in visitor.get(page_of(link)).content.decode()
    assert views_of(link) == 0


def test_the_password_form_needs_its_csrf_token(alice, image):
    link = link_create(image=image, created_by=alice, password=PASSWORD)
    visitor = Client(enforce_csrf_checks=True)
    visitor.get(page_of(link))

    refused = visitor.post(page_of(link), {"password": PASSWORD})

    assert refused.status_code == 403
    assert UNLOCK_COOKIE not in refused.cookies


def test_the_right_password_sets_a_scoped_cookie_and_shows_the_image(alice, image, settings):
    settings.SESSION_COOKIE_SECURE = True
    link = link_create(image=image, created_by=alice, password=PASSWORD, download=True)
    visitor = Client(enforce_csrf_checks=True)
    answers = [visitor.get(page_of(link))]
    token = answers[0].cookies["csrftoken"].value

    answers.append(
        visitor.post(page_of(link), {"password": PASSWORD, "csrfmiddlewaretoken": token})
    )

    unlocked = answers[-1]
    assert (unlocked.status_code, unlocked.headers["Location"]) == (303, page_of(link))
    cookie = unlocked.cookies[UNLOCK_COOKIE]
    assert cookie["path"] == page_of(link)
    assert cookie["httponly"]
    assert cookie["secure"]
    assert cookie["samesite"] == "Lax"
    assert 0 < int(cookie["max-age"]) <= 24 * 3600
    assert PASSWORD not in cookie.value
    assert views_of(link) == 0  # checking the form is not a view

    answers.append(visitor.get(page_of(link)))
    assert requests.get(embedded_url(answers[-1]), timeout=10).status_code == 200
    answers.append(visitor.get(raw_of(link)))
    assert answers[-1].status_code == 302
    assert requests.get(answers[-1].headers["Location"], timeout=10).status_code == 200
    assert views_of(link) == 2
    # The password is in no address and no page the visitor was sent.
    for answer in answers:
        assert PASSWORD not in answer.headers.get("Location", "")
        assert PASSWORD not in answer.content.decode()
    # Someone else, without the cookie, still gets the form.
    assert "<img" not in Client().get(page_of(link)).content.decode()


def test_the_cookie_of_one_link_opens_no_other(alice, image, store_image):
    first = link_create(image=image, created_by=alice, password=PASSWORD)
    other_image = store_image(alice, samples.plain("PNG"), filename="o.png", title="Other")
    other = link_create(image=other_image, created_by=alice, password=PASSWORD)
    visitor = Client()
    visitor.post(page_of(first), {"password": PASSWORD})

    # The test client sends every cookie whatever its path, as a hand-made request could.
    assert UNLOCK_COOKIE in visitor.cookies
    assert "<img" not in visitor.get(page_of(other)).content.decode()
    assert visitor.get(raw_of(other)).headers["Location"] == page_of(other)
    assert "<img" in visitor.get(page_of(first)).content.decode()


def test_the_password_is_stored_hashed(alice, image):
    link = link_create(image=image, created_by=alice, password=PASSWORD)

    stored = ShareLink.objects.get(pk=link.pk).password
    assert stored != PASSWORD
    assert PASSWORD not in stored
    assert check_password(PASSWORD, stored)
    assert not check_password("wrong", stored)


def test_guessing_the_password_is_stopped_after_a_few_tries(alice, image, monkeypatch):
    monkeypatch.setattr(links, "PASSWORD_TRIES", 3)
    link = link_create(image=image, created_by=alice, password=PASSWORD)
    visitor = Client()

    for _ in range(3):
        assert visitor.post(page_of(link), {"password": "guess"}).status_code == 403
    stopped = visitor.post(page_of(link), {"password": PASSWORD})

    assert stopped.status_code == 429
    assert "Too many wrong passwords" in stopped.content.decode()
    assert UNLOCK_COOKIE not in stopped.cookies


def test_a_link_without_a_password_ignores_the_form(alice, image, client):
    link = link_create(image=image, created_by=alice)

    answer = client.post(page_of(link), {"password": "anything"})

    assert (answer.status_code, answer.headers["Location"]) == (303, page_of(link))
    assert UNLOCK_COOKIE not in answer.cookies
    assert views_of(link) == 0


# A NUL once reached PostgreSQL, which refuses it in a text column: a 500, now a 404.
NOT_TOKENS = [
    "no-such-token",
    "x" * 64,
    "x" * 65,
    "a" * 5000,
    "caf\u00e9" * 10,
    "%00",
    "a%00b",
    "a.b",
]


@pytest.mark.parametrize("token", NOT_TOKENS)
def test_an_unknown_or_overlong_token_is_a_friendly_404(token, alice, image, client):
    link_create(image=image, created_by=alice)

    for path in (f"/s/{token}", f"/s/{token}/raw"):
        answer = client.get(path)
        assert answer.status_code == 404
        assert_private_headers(answer)
        assert "We can't find this shared image" in answer.content.decode()


def test_only_get_head_and_the_form_are_allowed(alice, image, client):
    link = link_create(image=image, created_by=alice)

    assert client.put(page_of(link)).status_code == 405
    assert client.delete(page_of(link)).status_code == 405
    assert client.post(raw_of(link)).status_code == 405
    assert views_of(link) == 0


def test_distinct_viewers_are_counted_and_the_same_viewer_once(alice, image, client):
    link = link_create(image=image, created_by=alice)
    agents = [BROWSER, PEOPLE["Firefox"], PEOPLE["Safari on an iPhone"]]
    pairs = [(f"203.0.113.{n}", agent) for n in range(1, 21) for agent in agents]  # 60

    for address, agent in pairs:
        for path in (page_of(link), raw_of(link)):
            client.get(path, REMOTE_ADDR=address, HTTP_USER_AGENT=agent)

    assert views_of(link) == 120
    assert abs(viewers.count(link) - 60) <= 60 * STATED_ERROR

    again = link_create(image=image, created_by=alice)
    for _ in range(3):
        client.get(page_of(again), REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT=BROWSER)
    client.get(page_of(again), REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT=PREVIEW_BOTS["Slackbot"])
    assert views_of(again) == 3
    assert viewers.count(again) == 1
