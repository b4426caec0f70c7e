"""Presigned GET URLs for stored images, with the headers S3 must answer them with.

Signing one URL costs about 0.2 ms, so a 100-image gallery would spend 20 ms on it. Instead each
object's URL is signed once per window (IMAGE_URL_WINDOW_SECONDS) and reused: the same URL for
the whole window, in this process (a dict) and across processes (the cache), which also lets
browsers keep the thumbnails. A URL handed out at the end of its window still lives one more.

Share links never use the window: their URLs live SHARE_REDIRECT_SECONDS, so that a revoke or an
expiry takes effect within that time.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.utils.http import content_disposition_header

from uploads.models import Image
from uploads.processing import safe_filename

THUMBNAIL_TYPE = "image/webp"
# Process-local URLs, for the current window only (emptied when the window moves on).
_window_urls: dict[tuple[str, str], str] = {}
_current_window = [-1]
# Share URLs of the current reuse window, by (key, download name, download or not).
SHARE_URL_REUSE_PART = 6
_share_urls: dict[tuple[str, str, bool], str] = {}
_current_share_window = [-1]


def _parameters(*, content_type: str, filename: str, download: bool, max_age: int) -> dict:
    return {
        "ResponseContentType": content_type,
        "ResponseContentDisposition": content_disposition_header(download, filename),
        "ResponseCacheControl": f"private, max-age={max_age}",
    }


def sign(
    key: str,
    *,
    content_type: str,
    filename: str,
    download: bool,
    seconds: int,
    max_age: int | None = None,
) -> str:
    """A fresh presigned GET for `key`, living `seconds`, with the forced response headers;
    browsers may keep the answer `max_age` seconds (default: as long as the URL lives)."""
    parameters = _parameters(
        content_type=content_type,
        filename=filename,
        download=download,
        max_age=seconds if max_age is None else max_age,
    )
    return default_storage.url(key, parameters=parameters, expire=seconds)


def _window() -> int:
    window = int(time.time() // settings.IMAGE_URL_WINDOW_SECONDS)
    if window != _current_window[0]:
        _window_urls.clear()
        _current_window[0] = window
    return window


def image_urls(images: list[Image], *, thumbnails: bool) -> dict[int, str]:
    """Image id -> its URL (the original, or the thumbnail), each signed at most once per
    window: from this process's dict, else the shared cache, else signed now."""
    window = _window()
    seconds = settings.IMAGE_URL_WINDOW_SECONDS
    variant = "thumb" if thumbnails else "full"
    urls, missing = {}, {}
    for image in images:
        key = image.thumbnail_key if thumbnails else image.key
        found = _window_urls.get((key, variant))
        if found is None:
            missing[f"image-url:{window}:{variant}:{key}"] = (image, key)
        else:
            urls[image.pk] = found
    if not missing:
        return urls
    shared = cache.get_many(list(missing))
    fresh = {}
    for cache_key, (image, key) in missing.items():
        url = shared.get(cache_key)
        if url is None:
            url = sign(
                key,
                content_type=THUMBNAIL_TYPE if thumbnails else image.content_type,
                filename=_owner_filename(image, thumbnails=thumbnails),
                download=False,
                seconds=2 * seconds,
                max_age=seconds,
            )
            fresh[cache_key] = url
        _window_urls[(key, variant)] = url
        urls[image.pk] = url
    if fresh:
        cache.set_many(fresh, timeout=seconds)
    return urls


def image_url(image: Image, *, thumbnail: bool = False) -> str:
    return image_urls([image], thumbnails=thumbnail)[image.pk]


def _owner_filename(image: Image, *, thumbnails: bool) -> str:
    if thumbnails:
        return f"{image.filename.rsplit('.', 1)[0]}-thumbnail.webp"
    return image.filename


def shared_filename(image: Image) -> str:
    """What a share link's download is called: the title, never the uploader's file name."""
    extension = image.key.rsplit(".", 1)[-1]
    return safe_filename(f"{image.shared_title}.{extension}")


def share_url(image: Image, *, download: bool) -> str:
    """A URL for a share link's viewer that lives at most SHARE_REDIRECT_SECONDS from now.

    It is signed for SHARE_REDIRECT_SECONDS and reused for the first sixth of that (10 s of
    60): a popular link's viewers share one signature, and every URL handed out still dies
    within SHARE_REDIRECT_SECONDS, so a revoke or an expiry takes effect as promised.
    """
    seconds = settings.SHARE_REDIRECT_SECONDS
    filename = shared_filename(image)
    reuse_seconds = seconds // SHARE_URL_REUSE_PART
    if not reuse_seconds:
        return _sign_share(image, filename=filename, download=download, seconds=seconds)
    window = int(time.time() // reuse_seconds)
    if window != _current_share_window[0]:
        _share_urls.clear()
        _current_share_window[0] = window
    found = _share_urls.get((image.key, filename, download))
    if found is None:
        found = _sign_share(image, filename=filename, download=download, seconds=seconds)
        _share_urls[(image.key, filename, download)] = found
    return found


def _sign_share(image: Image, *, filename: str, download: bool, seconds: int) -> str:
    return sign(
        image.key,
        content_type=image.content_type,
        filename=filename,
        download=download,
        seconds=seconds,
    )
