"""Files for upload tests, made on the spot: real photos with camera data, and hostile files.

Each function answers bytes. `HOSTILE` names every file both upload paths must refuse, with a
word the refusal's message must contain.
"""

from __future__ import annotations

import io
import struct
import zlib
from functools import cache

import pillow_heif
from PIL import Image, ImageCms

pillow_heif.register_heif_opener()

ORIENTATION, MAKE, GPS_IFD = 0x0112, 0x010F, 0x8825
CAMERA = "PortalTestCam"


def _srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def photo(
    fmt: str = "JPEG", *, size=(640, 480), orientation: int = 6, gps: bool = True, icc=True
) -> bytes:
    """A photo as a camera writes it: landscape pixels, an orientation tag (6: turn 90° to
    show it upright), the camera's make, GPS coordinates and an sRGB colour profile.

    The left half is red and the right half blue, so a test can tell which way it was turned.
    """
    image = Image.new("RGB", size, "red")
    image.paste("blue", (size[0] // 2, 0, size[0], size[1]))
    exif = image.getexif()
    exif[ORIENTATION] = orientation
    exif[MAKE] = CAMERA
    if gps:
        exif.get_ifd(GPS_IFD).update({1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 0.0)})
    options = {"exif": exif.tobytes()}
    if icc:
        options["icc_profile"] = _srgb_profile()
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def plain(fmt: str, *, size=(120, 80), mode="RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (20, 120, 200) if mode == "RGB" else 128).save(out, fmt)
    return out.getvalue()


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (60, 40), color) for color in ("red", "green", "blue")]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


def svg_with_script() -> bytes:
    return (
        b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
        b"<script>alert(document.cookie)</script><rect width='10' height='10'/></svg>"
    )


def html_named_jpg() -> bytes:
    return b"<!doctype html><html><body><script>alert(1)</script></body></html>"


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_polyglot() -> bytes:
    """A valid PNG that also carries HTML: in a text chunk, and again after its end."""
    png = plain("PNG")
    end = png.rindex(b"IEND") - 4
    html = b"<html><script>alert(document.domain)</script></html>"
    return png[:end] + _png_chunk(b"tEXt", b"Comment\x00" + html) + png[end:] + html


def truncated_jpeg() -> bytes:
    data = photo(size=(800, 600), gps=False)
    return data[: len(data) // 2]


@cache
def pixel_bomb() -> bytes:
    """A 10,000 x 10,000 PNG (100 megapixels) of a few kilobytes."""
    out = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(out, "PNG", optimize=True)
    return out.getvalue()


def empty() -> bytes:
    return b""


def oversize(limit: int) -> bytes:
    """A real JPEG padded past `limit` bytes (a trailing comment after the image's end)."""
    data = photo(gps=False)
    return data + b"\xff\xfe" + b"\x00" * (limit + 1 - len(data))


# name -> (file name the uploader gives, declared type, bytes maker, word in the refusal)
HOSTILE = {
    "svg with script": ("drawing.svg", "image/svg+xml", svg_with_script, "SVG, HTML"),
    "html named .jpg": ("photo.jpg", "image/jpeg", html_named_jpg, "not a picture"),
    "png polyglot": ("picture.png", "image/png", png_polyglot, "markup"),
    "truncated jpeg": ("cut.jpg", "image/jpeg", truncated_jpeg, "damaged"),
    "pixel bomb": ("bomb.png", "image/png", pixel_bomb, "megapixels"),
    "empty file": ("empty.jpg", "image/jpeg", empty, "empty"),
}
