"""The one validation both upload paths share, and what a refused or failed upload leaves
behind (nothing)."""

import io
from unittest import mock

import pytest
from PIL import Image as PILImage

from uploads import s3
from uploads.processing import (
    BadImage,
    ImageRefused,
    TooLarge,
    megabytes,
    process_image,
    safe_filename,
)
from uploads.services import QuotaExceeded, image_store, quota_used
from uploads.tests import samples
from uploads.tests.conftest import holdings


@pytest.mark.parametrize(
    ("fmt", "stored_type"),
    [
        ("JPEG", "image/jpeg"),
        ("PNG", "image/png"),
        ("WEBP", "image/webp"),
        ("AVIF", "image/avif"),
        ("HEIF", "image/jpeg"),  # browsers can't show HEIC: iPhone photos are stored as JPEG
    ],
)
def test_each_allowed_format_is_stored_upright_without_camera_data(fmt, stored_type):
    processed = process_image(io.BytesIO(samples.photo(fmt)))

    stored = PILImage.open(io.BytesIO(processed.original))
    assert processed.format == fmt
    assert processed.content_type == stored_type
    assert stored.size == (processed.width, processed.height) == (480, 640)
    assert dict(stored.getexif()) == {}
    assert stored.info.get("icc_profile")
    thumbnail = PILImage.open(io.BytesIO(processed.thumbnail))
    assert thumbnail.format == "WEBP"
    assert max(thumbnail.size) <= 480


def test_an_animated_gif_keeps_its_frames():
    processed = process_image(io.BytesIO(samples.animated_gif()))

    assert PILImage.open(io.BytesIO(processed.original)).n_frames == 3
    assert processed.content_type == "image/gif"


@pytest.mark.parametrize("name", list(samples.HOSTILE))
def test_each_hostile_file_is_refused_with_a_clear_message(name):
    _filename, _declared, make, word = samples.HOSTILE[name]

    with pytest.raises(ImageRefused) as refused:
        process_image(io.BytesIO(make()))

    assert word in str(refused.value)


def test_an_oversize_file_is_refused_before_it_is_decoded(settings):
    settings.UPLOAD_MAX_BYTES = 200_000

    with pytest.raises(TooLarge, match="largest allowed is 195 KB"):
        process_image(io.BytesIO(samples.oversize(200_000)))


def test_pillows_bomb_warning_counts_as_a_refusal(settings):
    # Above Pillow's own MAX_IMAGE_PIXELS it only warns (up to twice that); we refuse.
    settings.UPLOAD_MAX_PIXELS = 10**12
    with (
        mock.patch.object(PILImage, "MAX_IMAGE_PIXELS", 50_000_000),
        pytest.raises(BadImage, match="too many pixels"),
    ):
        process_image(io.BytesIO(samples.pixel_bomb()))


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\IMG_0001.HEIC", "IMG_0001.HEIC"),
        ("a\x00b\u202e.jpg", "ab.jpg"),
        ("   ", "image"),
        ("x" * 300 + ".jpeg", "x" * 250 + ".jpeg"),
    ],
)
def test_file_names_are_kept_only_sanitised(given, kept):
    assert safe_filename(given) == kept


def test_sizes_are_shown_as_people_read_them():
    sizes = (512, 2048, 7 * 1024 + 10, 20 * 1024**2, 312 * 1024**2, 1024**3)
    assert [megabytes(n) for n in sizes] == [
        "512 bytes",
        "2 KB",
        "7 KB",
        "20 MB",
        "312 MB",
        "1 GB",
    ]


@pytest.mark.parametrize("name", list(samples.HOSTILE))
def test_a_refused_upload_leaves_nothing_behind(alice, name):
    filename, _declared, make, _word = samples.HOSTILE[name]
    before = holdings()

    with pytest.raises(ImageRefused):
        image_store(owner=alice, file=io.BytesIO(make()), filename=filename)

    assert holdings() == before


def test_an_upload_over_the_quota_is_refused_and_leaves_nothing(alice, store_image, settings):
    store_image(alice)
    settings.UPLOAD_QUOTA_BYTES = quota_used(alice) + 100
    before = holdings()

    with pytest.raises(QuotaExceeded, match="go over your storage"):
        store_image(alice, samples.photo(size=(900, 700)))

    assert holdings() == before


def test_when_s3_fails_midway_the_first_object_is_removed_again(alice):
    """A fault injected into the second write (the thumbnail): no original is left over."""
    before = holdings()
    real_put = s3.put_file
    calls = []

    def put_then_fail(**kwargs):
        calls.append(kwargs["key"])
        if len(calls) == 2:
            raise s3.S3Error("the image store is not answering (injected); try again shortly")
        return real_put(**kwargs)

    with (
        mock.patch.object(s3, "put_file", put_then_fail),
        pytest.raises(s3.S3Error, match="not answering"),
    ):
        image_store(owner=alice, file=io.BytesIO(samples.photo()), filename="a.jpg")

    assert holdings() == before
    assert len(calls) == 2


def test_markup_is_found_across_the_pieces_the_file_is_read_in():
    from uploads.processing import SCAN_CHUNK, _check_markup

    straddling = io.BytesIO(b"\x89PNG" + b"x" * (SCAN_CHUNK - 7) + b"<script>alert(1)</script>")
    with pytest.raises(ImageRefused, match="markup"):
        _check_markup(straddling)
    _check_markup(io.BytesIO(b"x" * (SCAN_CHUNK + 10)))  # plain bytes pass
