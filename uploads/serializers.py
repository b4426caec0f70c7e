"""Images and share links as JSON-ready dicts for the API: times in UTC ending in Z, presigned
URLs for the pictures, the absolute /s/<token> address for links."""

from __future__ import annotations

from django.urls import reverse

from portal.times import utc_timestamp
from uploads import signing, viewers
from uploads.models import Image, PendingUpload, ShareLink
from uploads.selectors import ImagePage


def _image_dict(image: Image, *, url: str, thumbnail_url: str) -> dict:
    return {
        "id": image.pk,
        "title": image.title,
        "filename": image.filename,
        "content_type": image.content_type,
        "width": image.width,
        "height": image.height,
        "bytes": image.bytes,
        "created": utc_timestamp(image.created),
        "url": url,
        "thumbnail_url": thumbnail_url,
        "owner": image.owner.email,
    }


def images_to_dicts(images: list[Image]) -> list[dict]:
    """Several images, their URLs signed in one call per variant (select `owner` with them)."""
    urls = signing.image_urls(images, thumbnails=False)
    thumbnail_urls = signing.image_urls(images, thumbnails=True)
    return [
        _image_dict(image, url=urls[image.pk], thumbnail_url=thumbnail_urls[image.pk])
        for image in images
    ]


def image_to_dict(image: Image) -> dict:
    return images_to_dicts([image])[0]


def images_page_to_dict(page: ImagePage) -> dict:
    """A page of images: newest first, `next` leads to older ones (null at the end), `previous`
    back to newer ones, as the order list pages."""
    return {"results": images_to_dicts(page.images), "next": page.older, "previous": page.newer}


def upload_to_dict(upload: PendingUpload, post: dict) -> dict:
    """A direct upload's presigned POST: send every one of `fields`, then the file, to `url`."""
    return {
        "upload_id": str(upload.pk),
        "url": post["url"],
        "fields": post["fields"],
        "expires": utc_timestamp(upload.expires),
    }


def link_to_dict(link: ShareLink, *, request, distinct_viewers: int | None = None) -> dict:
    """One share link; `url` is absolute, for the request's host."""
    return {
        "token": link.token,
        "url": request.build_absolute_uri(reverse("share_open", args=[link.token])),
        "image": link.image_id,
        "created": utc_timestamp(link.created),
        "expires": utc_timestamp(link.expires),
        "max_views": link.max_views,
        "views": link.views,
        "distinct_viewers": viewers.count(link) if distinct_viewers is None else distinct_viewers,
        "revoked": link.revoked is not None,
        "has_password": link.has_password,
        "download": link.download,
    }
