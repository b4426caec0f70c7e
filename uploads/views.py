"""Image pages for signed-in people: the gallery, uploading, one image and its share links,
deleting one or all. Rules live in services, selectors and links; these read the request."""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.text import capfirst
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.decorators import role_required
from accounts.roles import ADMIN, USER, has_role
from portal.cursors import BadCursor
from uploads import links, s3, services, signing, viewers
from uploads.forms import LinkCreateForm, LinkEditForm, expiry_choices
from uploads.processing import ALLOWED_NAMES, ImageRefused, megabytes
from uploads.selectors import (
    image_get_visible,
    images_page,
    images_visible_to,
    link_get_visible,
    links_of_image,
)

logger = logging.getLogger(__name__)

LOCAL_TIME_FORMAT = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> shows
# S3 failing is not the person's fault: say so in plain words (the details go to the log).
STORE_DOWN = "The image store is not answering right now, so {what}. Try again in a minute."


# What a client may wait before asking again while the store is down (the check is kept 5 s).
STORE_RETRY_SECONDS = 30


def storage_unavailable(request):
    """503: the image store is not answering; orders are not affected."""
    response = render(request, "uploads/storage_unavailable.html", status=503)
    response["Retry-After"] = str(STORE_RETRY_SECONDS)
    return response


def store_required(view):
    """The page needs S3 (it shows or takes images): a clear 503 page while S3 is down, before
    anything is read or written."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        try:
            s3.require_store()
        except s3.S3Error as error:
            logger.warning("image store down for %s %s: %s", request.method, request.path, error)
            return storage_unavailable(request)
        return view(request, *args, **kwargs)

    return wrapped


def _sentence(text: str) -> str:
    text = capfirst(str(text))
    return text if text.endswith((".", "!", "?")) else text + "."


def _quota(user) -> dict:
    used, limit = services.quota_used(user), settings.UPLOAD_QUOTA_BYTES
    return {
        "used": used,
        "limit": limit,
        "used_text": megabytes(used),
        "limit_text": megabytes(limit),
    }


def _page_link(everyone: bool, cursor: str | None) -> str | None:
    if not cursor:
        return None
    return "?" + urlencode({**({"all": "1"} if everyone else {}), "cursor": cursor})


@require_GET
@role_required(USER, ADMIN)
@store_required
def image_list(request):
    """GET /images/: my images newest first (ADMIN: everyone's with ?all=1), paged."""
    is_admin = has_role(request.user, ADMIN)
    everyone = is_admin and request.GET.get("all") == "1"
    try:
        page = images_page(
            user=request.user, everyone=everyone, cursor=request.GET.get("cursor", "")
        )
    except BadCursor as error:
        messages.error(request, _sentence(error))
        page = images_page(user=request.user, everyone=everyone)
    return render(
        request,
        "uploads/gallery.html",
        {
            "page": page,
            "thumbnails": signing.image_urls(page.images, thumbnails=True),
            "is_admin": is_admin,
            "everyone": everyone,
            "quota": _quota(request.user),
            "newer_url": _page_link(everyone, page.newer),
            "older_url": _page_link(everyone, page.older),
        },
    )


def _upload_page(request, *, errors=(), stored=(), title="", keep_metadata=False, status=200):
    return render(
        request,
        "uploads/upload.html",
        {
            "errors": errors,
            "stored": stored,
            "title": title,
            "keep_metadata": keep_metadata,
            "max_size": megabytes(settings.UPLOAD_MAX_BYTES),
            "allowed": ALLOWED_NAMES,
            "quota": _quota(request.user),
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
@role_required(USER, ADMIN)
@store_required
def image_upload(request):
    """GET shows the upload form; POST stores each file (the page's form without JavaScript;
    with it, upload.js sends the files straight to S3 through the API)."""
    if request.method == "GET":
        return _upload_page(request)
    title = request.POST.get("title", "")
    keep_metadata = request.POST.get("keep_metadata") == "on"
    # (file name, why it was refused), in the order the files came
    limit = megabytes(settings.UPLOAD_MAX_BYTES)
    errors = [
        (name, f"The file is over the limit; the largest allowed is {limit}.")
        for name in getattr(request, "uploads_too_large", [])
    ]
    stored, store_down = [], False
    for file in request.FILES.getlist("file"):
        try:
            image = services.image_store(
                owner=request.user,
                file=file,
                filename=file.name,
                title=title,
                keep_metadata=keep_metadata,
            )
        except ImageRefused as refused:
            errors.append((file.name, _sentence(refused)))
        except s3.S3Error:
            logger.exception("storing an upload failed")
            store_down = True
            errors.append((file.name, STORE_DOWN.format(what="it was not stored")))
        else:
            stored.append(image)
    if not stored and not errors:
        errors.append(("", "Choose at least one image file to upload."))
    if errors:
        return _upload_page(
            request,
            errors=errors,
            stored=stored,
            title=title,
            keep_metadata=keep_metadata,
            status=200 if stored else 503 if store_down else 422,
        )
    if len(stored) == 1:
        messages.success(request, f"Uploaded “{stored[0].title}”.")
        return redirect("image_detail", image_id=stored[0].pk)
    messages.success(request, f"Uploaded {len(stored)} images.")
    return redirect("image_list")


def _visible_image_or_404(request, image_id):
    """Someone else's image is "not found", never "forbidden" (ADMIN sees every image)."""
    image = image_get_visible(user=request.user, image_id=image_id)
    if image is None:
        raise Http404("No such image")
    return image


def _visible_link_or_404(request, token):
    link = link_get_visible(user=request.user, token=token)
    if link is None:
        raise Http404("No such link")
    return link


def _link_rows(request, image) -> list[dict]:
    now = timezone.now()
    image_links = links_of_image(user=request.user, image=image)
    distinct = viewers.counts(image_links)
    return [
        {
            "link": link,
            "url": request.build_absolute_uri(reverse("share_open", args=[link.token])),
            "state": link.state(now),
            "distinct_viewers": distinct[link.pk],
        }
        for link in image_links
    ]


def _moment_range() -> tuple[str, str]:
    """min and max of the datetime-local fields: now and the longest expiry, in TIME_ZONE."""
    now = timezone.localtime(timezone.now(), timezone.get_default_timezone())
    longest = now + timedelta(seconds=settings.SHARE_MAX_SECONDS)
    return now.strftime(LOCAL_TIME_FORMAT), longest.strftime(LOCAL_TIME_FORMAT)


def _detail_page(request, image, *, create_errors=(), create_values=None, status=200):
    return render(
        request,
        "uploads/image_detail.html",
        {
            "image": image,
            "image_url": signing.image_url(image),
            "is_admin": has_role(request.user, ADMIN),
            "is_owner": image.owner_id == request.user.pk,
            "link_rows": _link_rows(request, image),
            "create_choices": expiry_choices(keep=False),
            "edit_choices": expiry_choices(keep=True),
            "moment_range": _moment_range(),
            "default_expiry": str(links.DEFAULT_EXPIRY_SECONDS),
            "create_errors": create_errors,
            "create_values": create_values or {},
            "time_zone": settings.TIME_ZONE,
            "size": megabytes(image.bytes),
        },
        status=status,
    )


@require_GET
@role_required(USER, ADMIN)
@store_required
def image_detail(request, image_id):
    """GET /images/<id>/: the image, its details and its share links."""
    return _detail_page(request, _visible_image_or_404(request, image_id))


@require_http_methods(["GET", "POST"])
@role_required(USER, ADMIN)
def image_delete(request, image_id):
    """GET asks "delete this image?"; POST deletes it, its objects and its links."""
    image = _visible_image_or_404(request, image_id)
    if request.method == "GET":
        return render(
            request,
            "uploads/image_delete.html",
            {
                "image": image,
                "thumbnail_url": signing.image_url(image, thumbnail=True),
                "links": image.links.count(),
            },
        )
    title = image.title
    try:
        services.image_delete(image, actor=request.user)
    except s3.S3Error:
        logger.exception("deleting image %s failed", image.pk)
        messages.error(request, STORE_DOWN.format(what="the image was not deleted"))
        return redirect("image_detail", image_id=image.pk)
    messages.success(request, f"Deleted “{title}”.")
    return redirect("image_list")


@require_http_methods(["GET", "POST"])
@role_required(USER, ADMIN)
def images_delete_all(request):
    """GET says how many images and how much storage will go; POST deletes all of MY images
    (an ADMIN's too: only their own)."""
    if request.method == "POST":
        try:
            deleted = services.images_delete_all(request.user)
        except s3.S3Error:
            logger.exception("deleting all images of user %s failed", request.user.pk)
            messages.error(request, STORE_DOWN.format(what="your images were not deleted"))
            return redirect("images_delete_all")
        messages.success(request, f"Deleted {deleted} image{'s' if deleted != 1 else ''}.")
        return redirect("image_list")
    mine = images_visible_to(request.user, everyone=False)
    return render(
        request,
        "uploads/delete_all.html",
        {"count": mine.count(), "size": megabytes(services.quota_used(request.user))},
    )


@require_POST
@role_required(USER, ADMIN)
def link_create(request, image_id):
    """POST: a new share link to the image; back to the image page with it, or the problem."""
    image = _visible_image_or_404(request, image_id)
    form = LinkCreateForm(request.POST)
    problems = []
    if form.is_valid():
        try:
            link = links.link_create(
                image=image,
                created_by=request.user,
                expiry=form.expiry_value(),
                max_views=form.cleaned_data["max_views"],
                password=form.cleaned_data["password"] or None,
                download=form.cleaned_data["download"],
            )
        except links.LinkRejected as rejected:
            problems = [_sentence(rejected)]
        else:
            messages.success(request, "Link created. Copy it from the list below and send it.")
            return redirect(reverse("image_detail", args=[image.pk]) + f"#link-{link.pk}")
    else:
        problems = form.problems()
    values = {key: request.POST.get(key, "") for key in ("expiry", "expires_at", "max_views")}
    values["download"] = request.POST.get("download") == "on"
    return _detail_page(request, image, create_errors=problems, create_values=values, status=422)


@require_POST
@role_required(USER, ADMIN)
def link_edit(request, token):
    """POST: change a link's expiry (either way) and max views; an expired link opens again
    when extended, a revoked one can't be changed."""
    link = _visible_link_or_404(request, token)
    form = LinkEditForm(request.POST)
    if form.is_valid():
        try:
            links.link_update(
                link=link,
                expiry=form.expiry_value(),
                max_views=form.cleaned_data["max_views"],
                actor=request.user,
            )
        except (links.LinkRejected, links.LinkGone) as refused:
            messages.error(request, _sentence(refused))
        else:
            messages.success(request, f"Link saved: it is {link.state()}.")
    else:
        for problem in form.problems():
            messages.error(request, problem)
    return redirect(reverse("image_detail", args=[link.image_id]) + f"#link-{link.pk}")


@require_POST
@role_required(USER, ADMIN)
def link_revoke(request, token):
    """POST: revoke the link at once; it answers "gone" from then on."""
    link = _visible_link_or_404(request, token)
    link, changed = links.link_revoke(link, actor=request.user)
    if changed:
        messages.success(request, "Link revoked: it no longer opens.")
    else:
        messages.info(request, "This link was already revoked.")
    return redirect(reverse("image_detail", args=[link.image_id]) + f"#link-{link.pk}")
