"""Reads that encode a rule: whose images and links someone may see, and how galleries page.

The rule is the orders' one: ADMIN sees everyone's, USER their own, anyone else nothing. Another
person's image, upload or link is "not found", never "forbidden".
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from django.db import connection
from django.db.models import Q, QuerySet

from accounts.roles import ADMIN, USER, has_role
from portal.cursors import decode_cursor, encode_cursor
from portal.sql import columns, from_row
from uploads import viewers
from uploads.models import Image, PendingUpload, ShareLink

PAGE_SIZE = 24
MAX_PAGE_SIZE = 100
TOKEN_MAX_LENGTH = ShareLink._meta.get_field("token").max_length
# What secrets.token_urlsafe makes; anything else (a NUL, which PostgreSQL refuses, included)
# can't be a token, so it is "not found" without a query.
TOKEN_CHARACTERS = re.compile(r"[A-Za-z0-9_-]+")


def _could_be_token(token) -> bool:
    return (
        isinstance(token, str)
        and 0 < len(token) <= TOKEN_MAX_LENGTH
        and TOKEN_CHARACTERS.fullmatch(token) is not None
    )


def images_visible_to(user, *, everyone: bool = True) -> QuerySet[Image]:
    """The images this user may see: ADMIN everyone's (or only their own with everyone=False),
    USER their own."""
    if has_role(user, ADMIN):
        return Image.objects.all() if everyone else Image.objects.filter(owner_id=user.pk)
    if has_role(user, USER):
        return Image.objects.filter(owner_id=user.pk)
    return Image.objects.none()


def image_get_visible(*, user, image_id) -> Image | None:
    """One image by id, or None when it doesn't exist or isn't this user's to see."""
    try:
        image_id = int(image_id)
    except (TypeError, ValueError):
        return None
    if not 0 < image_id < 2**63:
        return None
    return images_visible_to(user).select_related("owner").filter(pk=image_id).first()


def pending_upload_get(*, user, upload_id) -> PendingUpload | None:
    """The user's own pending upload (an ADMIN completes only their own uploads too)."""
    try:
        upload_id = uuid.UUID(str(upload_id))
    except ValueError:
        return None
    return PendingUpload.objects.select_related("owner").filter(pk=upload_id, owner=user).first()


def links_visible_to(user) -> QuerySet[ShareLink]:
    """Links to the images this user may see (ADMIN: every link)."""
    return ShareLink.objects.filter(image__in=images_visible_to(user))


def link_get_visible(*, user, token: str) -> ShareLink | None:
    if not _could_be_token(token):
        return None
    return _with_views(links_visible_to(user).select_related("image").filter(token=token).first())


def _with_views(link: ShareLink | None) -> ShareLink | None:
    if link is not None:
        viewers.load_views([link])
    return link


def links_of_image(*, user, image: Image) -> list[ShareLink]:
    """The image's links this user may see, newest first, with their view counts."""
    links = list(links_visible_to(user).filter(image=image).order_by("-created", "-id"))
    viewers.load_views(links)
    return links


# The public pages' one statement, written out: on the busiest public path the ORM spent longer
# building it than the database running it (share-link opens: 800 req/s through the ORM, 1,190
# this way, on the bench's server). Only constant SQL is joined here; the token is a parameter.
_PUBLIC_LINK_SQL = (
    f"SELECT {columns(ShareLink, 'link')}, {columns(Image, 'image')} "  # noqa: S608
    f"FROM {ShareLink._meta.db_table} link "
    f"JOIN {Image._meta.db_table} image ON image.id = link.image_id WHERE link.token = %s"
)


def link_get_public(token: str) -> ShareLink | None:
    """A link by its token, for anyone holding it (the public /s/<token> pages). With Redis,
    its `views` is the database's until viewers.load_views or a counted view sets it."""
    if not _could_be_token(token):
        return None
    with connection.cursor() as cursor:
        cursor.execute(_PUBLIC_LINK_SQL, [token])
        row = cursor.fetchone()
    if row is None:
        return None
    split = len(ShareLink._meta.concrete_fields)
    link = from_row(ShareLink, row[:split], connection)
    link.image = from_row(Image, row[split:], connection)
    return link


@dataclass(frozen=True)
class ImagePage:
    images: list[Image]
    newer: str | None
    older: str | None


def images_page(*, user, everyone: bool = False, cursor: str = "", size: int = PAGE_SIZE):
    """A page of images newest first, keyset-paged on (created, id) like the order list."""
    size = max(1, min(size, MAX_PAGE_SIZE))
    images = images_visible_to(user, everyone=everyone).select_related("owner")
    direction = "older"
    if cursor:
        direction, created, pk = decode_cursor(cursor)
        if direction == "older":
            images = images.filter(Q(created__lt=created) | Q(created=created, pk__lt=pk))
        else:
            images = images.filter(Q(created__gt=created) | Q(created=created, pk__gt=pk))
    order = ("-created", "-id") if direction == "older" else ("created", "id")
    rows = list(images.order_by(*order)[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    if direction == "older":
        has_newer, has_older = bool(cursor), more
    else:
        rows.reverse()
        has_newer, has_older = more, True
    return ImagePage(
        images=rows,
        newer=encode_cursor("newer", rows[0].created, rows[0].id) if rows and has_newer else None,
        older=encode_cursor("older", rows[-1].created, rows[-1].id) if rows and has_older else None,
    )
