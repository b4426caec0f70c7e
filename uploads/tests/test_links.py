"""Share-link rules: expiry (default, choices, maximum, editing both ways), max views, passwords,
revoking, and counting views exactly."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from uploads.checks import check_upload_limits
from uploads.links import (
    Expiry,
    LinkGone,
    LinkRejected,
    link_count_view,
    link_create,
    link_revoke,
    link_update,
    password_matches,
)
from uploads.models import ShareLink
from uploads.tests.conftest import views_of

DAY = timedelta(days=1)


@pytest.fixture
def image(alice, store_image):
    return store_image(alice)


def close_to(moment, expected):
    return abs(moment - expected) < timedelta(seconds=5)


def test_a_new_link_lives_one_day_and_has_an_unguessable_token(image, alice):
    link = link_create(image=image, created_by=alice)

    assert close_to(link.expires, timezone.now() + DAY)
    assert len(link.token) >= 43  # 32 random bytes: 256 bits
    assert link.state() == "open"
    assert link.max_views is None
    assert not link.has_password


@pytest.mark.parametrize("seconds", [3600, 24 * 3600, 7 * 24 * 3600])
def test_each_expiry_choice_is_taken(image, alice, seconds):
    link = link_create(image=image, created_by=alice, expiry=Expiry(seconds=seconds))

    assert close_to(link.expires, timezone.now() + timedelta(seconds=seconds))


@pytest.mark.parametrize(
    ("expiry", "message"),
    [
        (Expiry(seconds=7 * 24 * 3600 + 60), "at most 7 days"),
        (Expiry(seconds=-1), "in the future"),
        (Expiry(moment=datetime(2020, 1, 1, tzinfo=UTC)), "in the future"),
        (Expiry(moment=datetime(2030, 1, 1)), "time zone"),
    ],
)
def test_an_expiry_past_the_maximum_or_in_the_past_is_refused(image, alice, expiry, message):
    with pytest.raises(LinkRejected, match=message):
        link_create(image=image, created_by=alice, expiry=expiry)
    assert ShareLink.objects.count() == 0


@pytest.mark.parametrize("max_views", [0, -1, True, 1.5, 10_000_001])
def test_max_views_must_be_a_positive_whole_number(image, alice, max_views):
    with pytest.raises(LinkRejected, match="max views"):
        link_create(image=image, created_by=alice, max_views=max_views)


def test_the_password_is_stored_hashed(image, alice):
    link = link_create(image=image, created_by=alice, password="correct horse")

    assert link.has_password
    assert "correct horse" not in link.password
    assert password_matches(link, "correct horse")
    assert not password_matches(link, "wrong")


def test_the_expiry_can_be_shortened_and_extended_and_an_expired_link_reopens(image, alice):
    link = link_create(image=image, created_by=alice, expiry=Expiry(seconds=7 * 24 * 3600))

    link_update(link=link, expiry=Expiry(seconds=3600))
    assert close_to(link.expires, timezone.now() + timedelta(hours=1))

    ShareLink.objects.filter(pk=link.pk).update(expires=timezone.now() - DAY)
    link.refresh_from_db()
    assert link.state() == "expired"
    assert not link_count_view(link, viewer=None)

    link_update(link=link, expiry=Expiry(seconds=2 * 24 * 3600))
    link.refresh_from_db()
    assert link.state() == "open"
    assert link_count_view(link, viewer=None)


def test_a_revoked_link_stays_revoked(image, alice):
    link = link_create(image=image, created_by=alice)

    assert link_revoke(link)[1] is True
    assert link_revoke(link)[1] is False  # again: nothing changes
    with pytest.raises(LinkGone):
        link_update(link=link, expiry=Expiry(seconds=3600))
    assert link.state() == "revoked"
    assert not link_count_view(link, viewer=None)


def test_max_views_is_exact_and_the_last_allowed_view_shows(image, alice):
    link = link_create(image=image, created_by=alice, max_views=3)

    assert [link_count_view(link, viewer=None) for _ in range(4)] == [True, True, True, False]
    assert views_of(link) == 3
    assert link.state() == "used up"

    link_update(link=link, max_views=5)  # the owner allows more
    assert link_count_view(link, viewer=None)


def test_upload_and_link_limits_are_checked_at_start_up(settings):
    settings.SHARE_REDIRECT_SECONDS = 0
    settings.UPLOAD_MAX_BYTES = 6 * 1024**3

    messages = sorted(error.msg for error in check_upload_limits())

    assert messages == [
        "SHARE_REDIRECT_SECONDS: 0 — must be from 1 to 604800 (S3 signs for at most 7 days)",
        "UPLOAD_MAX_BYTES: 6442450944 — must be from 1 to 5368709120 (S3 takes at most 5 GB "
        "in one upload)",
    ]


def test_a_link_to_an_untitled_image_never_shows_the_file_name(alice, store_image, client):
    untitled = store_image(alice, filename="IMG_2041 Berlin flat.jpg")
    titled = store_image(alice, filename="IMG_2042.jpg", title="Lake")
    assert untitled.title == "IMG_2041 Berlin flat"  # the owner sees it in the gallery

    page = client.get(f"/s/{link_create(image=untitled, created_by=alice).token}")
    raw = client.get(f"/s/{link_create(image=untitled, created_by=alice, download=True).token}/raw")

    assert "Shared image" in page.content.decode()
    assert "IMG_2041" not in page.content.decode()
    assert "IMG_2041" not in raw["Location"]
    assert "Shared%20image.jpg" in raw["Location"]
    assert titled.shared_title == "Lake"


def test_the_public_lookup_loads_the_link_and_image_as_the_orm_does(alice, store_image):
    from uploads.models import Image
    from uploads.selectors import link_get_public

    image = store_image(alice, title="Lake")
    made = link_create(image=image, created_by=alice, max_views=4, password="pw", download=True)
    link_revoke(made)

    found = link_get_public(made.token)
    expected = ShareLink.objects.select_related("image").get(pk=made.pk)

    for field in ShareLink._meta.concrete_fields:
        assert getattr(found, field.attname) == getattr(expected, field.attname), field.name
        assert type(getattr(found, field.attname)) is type(getattr(expected, field.attname))
    for field in Image._meta.concrete_fields:
        assert getattr(found.image, field.attname) == getattr(expected.image, field.attname)
    assert found.created.tzinfo is not None
    assert found.state() == "revoked"
    assert link_get_public("A" * 43) is None


def test_a_share_url_is_reused_briefly_and_never_lives_past_the_redirect_lifetime(
    alice, store_image
):
    from datetime import datetime
    from unittest import mock
    from urllib.parse import parse_qs, urlsplit

    from uploads import signing

    image = store_image(alice)
    first = signing.share_url(image, download=False)
    assert signing.share_url(image, download=False) == first  # a popular link: one signature
    assert signing.share_url(image, download=True) != first

    query = parse_qs(urlsplit(first).query)
    signed = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert query["X-Amz-Expires"] == ["60"]
    assert timezone.now() - signed < timedelta(seconds=60 // signing.SHARE_URL_REUSE_PART + 1)

    later = signing.time.time() + 60 // signing.SHARE_URL_REUSE_PART
    with (
        mock.patch.object(signing.time, "time", return_value=later),
        mock.patch.object(signing, "_sign_share", wraps=signing._sign_share) as signer,
    ):
        signing.share_url(image, download=False)
        signing.share_url(image, download=False)
    assert signer.call_count == 1  # the next window signs anew, once
