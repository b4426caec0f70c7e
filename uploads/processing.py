"""Checking and re-encoding an uploaded file: the one validation both upload paths use.

Only the bytes count: the declared type and the file name's extension are ignored. The file is
decoded by Pillow, restricted to an allow-list of formats, and re-encoded, so what we store and
serve is pixels we made ourselves (no camera data unless asked, no payload riding in a chunk).
"""

from __future__ import annotations

import io
import re
import unicodedata
import warnings
from dataclasses import dataclass

import pillow_heif
from django.conf import settings
from PIL import Image, ImageOps, UnidentifiedImageError

pillow_heif.register_heif_opener()

# Pillow's format names we accept, and how each is stored. Browsers can't show HEIC/HEIF
# (iPhone photos), so those are stored as JPEG; the others keep their format.
STORED_AS = {
    "JPEG": ("JPEG", "image/jpeg", "jpg"),
    "PNG": ("PNG", "image/png", "png"),
    "GIF": ("GIF", "image/gif", "gif"),
    "WEBP": ("WEBP", "image/webp", "webp"),
    "AVIF": ("AVIF", "image/avif", "avif"),
    "HEIF": ("JPEG", "image/jpeg", "jpg"),
}
ALLOWED_FORMATS = tuple(STORED_AS)
ALLOWED_NAMES = "JPEG, PNG, GIF, WebP, AVIF or HEIC"
THUMBNAIL_SIZE = (480, 480)
JPEG_QUALITY = 92
# A PNG or GIF can carry HTML in a text chunk or after its end (a polyglot): served as a page it
# would run. We re-encode anyway, but refuse such a file outright so nobody mistakes it for a
# picture. A photo's compressed bytes look random, so each pattern is long enough that random
# bytes hold none: the short "<svg" alone matched about once per GiB of noise (1 in ~50 big
# photos); these matched nothing in 1 GiB. An SVG tag counts only with an event handler.
MARKUP = re.compile(
    rb"<(?:script|html|body|iframe|object|embed)[\s/>]"
    rb"|<(?:svg|img|image|video|audio)[\s/][^<>]{0,500}?\bon[a-z]{3,20}\s*="
    rb"|javascript:",
    re.I,
)
SCAN_CHUNK, SCAN_OVERLAP = 1024 * 1024, 1024  # the overlap is longer than any match
EXIF_ORIENTATION = 0x0112


class ImageRefused(ValueError):
    """The file is not an image we take; the message says why, for the person uploading."""

    code = "unsupported_type"


class TooLarge(ImageRefused):
    code = "too_large"


class BadImage(ImageRefused):
    """An image format we take, but the file is damaged, empty or too big to decode."""

    code = "invalid"


@dataclass(frozen=True)
class ProcessedImage:
    original: bytes
    thumbnail: bytes
    format: str  # Pillow's name of the uploaded format
    content_type: str  # of the stored original
    extension: str
    width: int
    height: int


def size_problem(size: int) -> ImageRefused | None:
    """The refusal for a file of `size` bytes, if any."""
    if size <= 0:
        return BadImage("the file is empty")
    if size > settings.UPLOAD_MAX_BYTES:
        limit, shown = megabytes(settings.UPLOAD_MAX_BYTES), megabytes(size)
        what = f"the file is {shown}" if shown != limit else "the file is just over the limit"
        return TooLarge(f"{what}; the largest allowed is {limit}")
    return None


def megabytes(size: int) -> str:
    """ "19.1 MB", "312 KB", "1 GB": binary units, as file managers show them."""
    for unit, factor in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= factor:
            value = size / factor
            shown = f"{value:.0f}" if value >= 100 else f"{value:.1f}".removesuffix(".0")
            return f"{shown} {unit}"
    return f"{size} bytes"


def safe_filename(name: str) -> str:
    """The uploader's file name without folders, control characters or odd spacing (≤ 255)."""
    name = unicodedata.normalize("NFC", name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = " ".join(name.split()).strip(". ")
    if len(name) > 255:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 254 - len(ext)] + dot + ext) if dot and len(ext) <= 10 else name[:255]
    return name or "image"


def process_image(file, *, keep_metadata: bool = False) -> ProcessedImage:
    """Check the upload in `file` (an open binary file) and re-encode it and its thumbnail.

    Raises ImageRefused (or TooLarge, BadImage) with a message for the person uploading.
    """
    file.seek(0, io.SEEK_END)
    if problem := size_problem(file.tell()):
        raise problem
    file.seek(0)
    try:
        with warnings.catch_warnings():
            # Pillow only warns between MAX_IMAGE_PIXELS and twice that: a bomb all the same.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(file, formats=ALLOWED_FORMATS) as image:
                _check_markup(file)
                _check_pixels(image)
                image.load()
                return _reencode(image, keep_metadata=keep_metadata)
    except UnidentifiedImageError:
        raise ImageRefused(
            f"this file is not a picture we can take; upload a {ALLOWED_NAMES} image "
            "(SVG, HTML and other files are refused)"
        ) from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise _too_many_pixels() from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        if isinstance(error, ImageRefused):
            raise
        raise BadImage(
            "this picture is damaged or cut short and can't be read; try exporting it again"
        ) from None


def _check_markup(file) -> None:
    """Refuse a picture that also carries web-page markup (a polyglot)."""
    position = file.tell()
    file.seek(0)
    found, tail = False, b""
    # In pieces, overlapping by more than any match, so the file is never read whole here.
    while not found and (chunk := file.read(SCAN_CHUNK)):
        found = MARKUP.search(tail + chunk) is not None
        tail = chunk[-SCAN_OVERLAP:]
    file.seek(position)
    if found:
        raise ImageRefused(
            "this picture also carries web-page markup (HTML or script), so it was refused; "
            f"export it again as a plain {ALLOWED_NAMES} picture"
        )


def _too_many_pixels() -> BadImage:
    limit = settings.UPLOAD_MAX_PIXELS / 1_000_000
    return BadImage(f"this picture has too many pixels; the most allowed is {limit:g} megapixels")


def _check_pixels(image: Image.Image) -> None:
    """Width x height x frames against UPLOAD_MAX_PIXELS, before any pixel is decoded."""
    frames = getattr(image, "n_frames", 1)
    if image.width * image.height * frames > settings.UPLOAD_MAX_PIXELS:
        raise _too_many_pixels()


def _reencode(image: Image.Image, *, keep_metadata: bool) -> ProcessedImage:
    stored_format, content_type, extension = STORED_AS[image.format]
    icc_profile = image.info.get("icc_profile")
    animated = getattr(image, "n_frames", 1) > 1 and stored_format in ("GIF", "WEBP")
    exif = image.getexif()
    # Upright, and the orientation tag dropped, in place: a full-size copy is ~50 MB a photo. An
    # animation keeps every frame (they carry no orientation).
    if not animated:
        ImageOps.exif_transpose(image, in_place=True)
    picture = image
    options = {}
    if icc_profile and stored_format != "GIF":
        options["icc_profile"] = icc_profile
    if keep_metadata and len(exif) and stored_format in ("JPEG", "WEBP", "PNG", "AVIF"):
        exif[EXIF_ORIENTATION] = 1  # the pixels are upright now
        options["exif"] = exif.tobytes()
    if stored_format == "JPEG":
        picture = picture.convert("RGB") if picture.mode not in ("RGB", "L", "CMYK") else picture
        options["quality"] = JPEG_QUALITY
    if animated:
        options["save_all"] = True
    original = io.BytesIO()
    picture.save(original, format=stored_format, **options)
    thumbnail = io.BytesIO()
    small = picture
    if small.mode in ("1", "P", "PA"):  # palettes only resize by nearest neighbour
        small = small.convert("RGBA")
    if small.width > THUMBNAIL_SIZE[0] or small.height > THUMBNAIL_SIZE[1]:
        small = ImageOps.contain(small, THUMBNAIL_SIZE)  # a new small image, no full-size copy
    if small.mode not in ("RGB", "RGBA", "L", "LA"):
        small = small.convert("RGB")
    small.save(
        thumbnail,
        format="WEBP",
        quality=80,
        **({"icc_profile": icc_profile} if icc_profile else {}),
    )
    return ProcessedImage(
        original=original.getvalue(),
        thumbnail=thumbnail.getvalue(),
        format=image.format,
        content_type=content_type,
        extension=extension,
        width=picture.width,
        height=picture.height,
    )
