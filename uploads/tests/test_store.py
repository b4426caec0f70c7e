"""Storing an image through the one service: what lands in S3 and in the database."""

import io

import requests
from PIL import Image as PILImage

from uploads import s3, signing
from uploads.tests import samples
from uploads.tests.conftest import holdings


def test_a_stored_photo_is_upright_without_camera_data_and_keeps_its_colour_profile(
    alice, store_image
):
    image = store_image(alice, samples.photo(size=(640, 480), orientation=6), filename="IMG 1.JPG")

    answer = requests.get(signing.image_url(image), timeout=10)
    stored = PILImage.open(io.BytesIO(answer.content))
    assert (image.width, image.height) == stored.size == (480, 640)
    # Orientation 6 turns the picture clockwise: the red left half ends up on top.
    assert stored.convert("RGB").getpixel((240, 10))[0] > 200
    assert len(stored.getexif()) == 0
    assert stored.info.get("icc_profile")
    assert answer.headers["Content-Type"] == "image/jpeg"
    assert answer.headers["Content-Disposition"] == 'inline; filename="IMG 1.JPG"'
    assert answer.headers["Cache-Control"].startswith("private")
    assert image.key.startswith(f"users/{alice.pk}/")
    assert image.thumbnail_key.startswith(f"users/{alice.pk}/thumbs/")


def test_keep_camera_data_keeps_exif_and_gps(alice, store_image):
    image = store_image(alice, samples.photo(), keep_metadata=True)

    stored = PILImage.open(io.BytesIO(requests.get(signing.image_url(image), timeout=10).content))
    assert stored.getexif()[samples.MAKE] == samples.CAMERA
    assert stored.getexif().get_ifd(samples.GPS_IFD)
    assert stored.getexif()[samples.ORIENTATION] == 1  # the pixels were turned already


def test_an_anonymous_get_of_a_stored_object_is_refused(alice, store_image):
    image = store_image(alice)

    url = signing.image_url(image)
    assert requests.get(url, timeout=10).status_code == 200
    assert requests.get(url.split("?")[0], timeout=10).status_code == 403
    tampered = url.replace("X-Amz-Expires=", "X-Amz-Expires=9")
    assert requests.get(tampered, timeout=10).status_code == 403


def test_delete_all_removes_only_the_owners_objects(alice, bob, store_image):
    from uploads.services import images_delete_all

    store_image(alice)
    store_image(alice, samples.plain("PNG"), filename="b.png")
    kept = store_image(bob)

    assert images_delete_all(alice) == 2

    left = holdings()
    assert left.keys == {kept.key, kept.thumbnail_key}
    assert left.images == 1
    assert list(s3.keys_under(f"users/{alice.pk}/")) == []
