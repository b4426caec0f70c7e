"""Images JSON API: upload (a form post, or straight to S3 and then "complete"), list, show and
delete images, and make, change and revoke their share links.

Plain Django views like the orders API: parse the input, call one selector or service, serialize.
The error shape, the endpoint decorator and the JSON reader are the portal's (`portal.api`).
Another person's image, upload or link is a 404, the same answer as one that doesn't exist.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from functools import wraps

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.urls import reverse

from accounts.roles import ADMIN, USER
from portal.api import (
    ApiError,
    api_endpoint,
    bad_request,
    check_text,
    invalid,
    parse_limit,
    read_json_object,
)
from uploads import s3, services, viewers
from uploads.links import Expiry, LinkGone, LinkRejected, link_create, link_revoke, link_update
from uploads.models import Image, PendingUpload, ShareLink
from uploads.processing import BadImage, ImageRefused, TooLarge, megabytes
from uploads.s3 import S3Error
from uploads.selectors import (
    MAX_PAGE_SIZE,
    PAGE_SIZE,
    image_get_visible,
    images_page,
    link_get_visible,
    links_of_image,
    pending_upload_get,
)
from uploads.serializers import (
    image_to_dict,
    images_page_to_dict,
    link_to_dict,
    upload_to_dict,
)
from uploads.services import (
    TITLE_MAX_LENGTH,
    QuotaExceeded,
    image_delete,
    image_store,
    images_delete_all,
    upload_start,
)

# Service exceptions -> error codes; their messages are written for people. Subclasses come
# before ImageRefused: the first class that matches gives the code.
UPLOAD_ERRORS = {
    TooLarge: TooLarge.code,
    QuotaExceeded: QuotaExceeded.code,
    BadImage: BadImage.code,
    ImageRefused: ImageRefused.code,
    LinkRejected: "invalid",
    LinkGone: "gone",
    # A form Django can't parse (read by the view, or by a session's CSRF check).
    MultiPartParserError: "bad_request",
    RequestDataTooBig: "bad_request",
    TooManyFieldsSent: "bad_request",
    TooManyFilesSent: "bad_request",
}
ENDPOINT = {"roles": (USER, ADMIN), "errors": UPLOAD_ERRORS}

logger = logging.getLogger(__name__)
# When S3 is not answering, a client may try again after this many seconds.
STORAGE_RETRY_SECONDS = 10

# Room for the multipart boundaries and the small fields around the file; a body larger than
# the file limit plus this is refused from its Content-Length, before a byte of it is read.
FORM_OVERHEAD_BYTES = 64 * 1024
# A script may post its FormData with the CSRF token in it, as a form would.
UPLOAD_FORM_FIELDS = ("title", "keep_metadata", "csrfmiddlewaretoken")
UPLOAD_START_FIELDS = ("filename", "content_type", "size")
UPLOAD_COMPLETE_FIELDS = ("title", "keep_metadata")
LINK_CREATE_FIELDS = ("expires_in", "expires_at", "max_views", "password", "download")
LINK_UPDATE_FIELDS = ("expires_in", "expires_at", "max_views")
# A longer file name is shortened to 255 characters when stored (safe_filename keeps its ending).
FILENAME_INPUT_MAX = 1000
DECLARED_TYPE_MAX_LENGTH = PendingUpload._meta.get_field("declared_type").max_length
TRUE_WORDS, FALSE_WORDS = ("1", "true", "on", "yes"), ("", "0", "false", "off", "no")


# -- input -------------------------------------------------------------------------------------


def check_known_fields(data, allowed: tuple[str, ...], where: str) -> None:
    """A 422 naming every unknown field; every allowed one is optional."""
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        names = ", ".join(f'"{name}"' for name in unknown)
        raise invalid(f"unknown field {names} in {where}; allowed: {', '.join(allowed)}")


def parse_title(value, where: str = '"title"') -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise bad_request(f"wrong type: {where} must be a string")
    if len(value) > TITLE_MAX_LENGTH:
        raise invalid(f"{where} can be at most {TITLE_MAX_LENGTH} characters")
    return value


def parse_flag_word(value: str, name: str) -> bool:
    """A form field's yes/no: "1"/"true"/"on" or "0"/"false"/"off" (or empty)."""
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise bad_request(f'"{name}" must be 1 or 0 (true or false)')


def parse_bool(value, name: str) -> bool:
    if not isinstance(value, bool):
        raise bad_request(f'wrong type: "{name}" must be true or false')
    return value


def parse_whole_number(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(f'wrong type: "{name}" must be a whole number')
    return value


@dataclass(frozen=True)
class ListQuery:
    everyone: bool
    cursor: str
    limit: int


def parse_list_query(params) -> ListQuery:
    """?all=&cursor=&limit= of GET /api/images, checked (`all` only widens an ADMIN's list)."""
    everyone = params.get("all", "")
    if everyone not in ("", "0", "1"):
        raise bad_request("all must be 1 (everyone's images, for an ADMIN) or 0")
    limit = parse_limit(params, default=PAGE_SIZE, maximum=MAX_PAGE_SIZE)
    return ListQuery(everyone=everyone == "1", cursor=params.get("cursor", ""), limit=limit)


def parse_upload_start(body: dict) -> tuple[str, str, int]:
    """{"filename", "content_type", "size"} of a direct upload, each required."""
    check_known_fields(body, UPLOAD_START_FIELDS, "the upload")
    missing = [name for name in UPLOAD_START_FIELDS if name not in body]
    if missing:
        raise invalid(f'the upload needs "{missing[0]}"')
    filename, content_type = body["filename"], body["content_type"]
    if not isinstance(filename, str):
        raise bad_request('wrong type: "filename" must be a string')
    if not isinstance(content_type, str):
        raise bad_request('wrong type: "content_type" must be a string')
    if len(filename) > FILENAME_INPUT_MAX:
        raise invalid(f'"filename" can be at most {FILENAME_INPUT_MAX} characters')
    if len(content_type) > DECLARED_TYPE_MAX_LENGTH:
        raise invalid(f'"content_type" can be at most {DECLARED_TYPE_MAX_LENGTH} characters')
    size = parse_whole_number(body["size"], "size")
    return filename, content_type.strip().lower(), size


def parse_upload_complete(body: dict) -> tuple[str, bool]:
    """{} or {"title", "keep_metadata"}."""
    check_known_fields(body, UPLOAD_COMPLETE_FIELDS, "the completion")
    keep_metadata = body.get("keep_metadata", False)
    return parse_title(body.get("title")), parse_bool(keep_metadata, "keep_metadata")


def parse_expiry(body: dict) -> Expiry | None:
    """ "expires_in" (seconds from now) or "expires_at" (an ISO 8601 time with its zone), or
    neither (None: the default, or unchanged)."""
    if "expires_in" in body and "expires_at" in body:
        raise invalid('give "expires_in" or "expires_at", not both')
    if body.get("expires_in") is not None:
        seconds = parse_whole_number(body["expires_in"], "expires_in")
        # Checked here as well as by the service: a huge number would overflow a timedelta.
        if not 1 <= seconds <= settings.SHARE_MAX_SECONDS:
            raise invalid(f'"expires_in" must be from 1 to {settings.SHARE_MAX_SECONDS} seconds')
        return Expiry(seconds=seconds)
    if body.get("expires_at") is not None:
        value = body["expires_at"]
        if not isinstance(value, str):
            raise bad_request('wrong type: "expires_at" must be an ISO 8601 time string')
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise bad_request(
                '"expires_at" is not an ISO 8601 time, e.g. "2026-12-24T18:00:00Z"'
            ) from None
        return Expiry(moment=moment)
    return None


def parse_max_views(value) -> int | None:
    if value is None:
        return None
    return parse_whole_number(value, "max_views")


@dataclass(frozen=True)
class LinkSettings:
    expiry: Expiry | None
    max_views: int | None
    password: str | None
    download: bool


def parse_link_create(body: dict) -> LinkSettings:
    check_known_fields(body, LINK_CREATE_FIELDS, "the link")
    password = body.get("password")
    if password is not None and not isinstance(password, str):
        raise bad_request('wrong type: "password" must be a string or null')
    return LinkSettings(
        expiry=parse_expiry(body),
        max_views=parse_max_views(body.get("max_views")),
        password=password or None,
        download=parse_bool(body.get("download", False), "download"),
    )


def read_json_or_empty(request) -> dict:
    """The JSON object body; an empty body counts as {}."""
    if not request.body:
        return {}
    return read_json_object(request)


# -- lookups -----------------------------------------------------------------------------------


def visible_image(request, image_id: str) -> Image:
    """The image if this caller may see it; otherwise a 404, whether or not it exists."""
    image = image_get_visible(user=request.user, image_id=image_id)
    if image is None:
        raise ApiError("not_found", f"there is no image {image_id} that you can see")
    return image


def visible_link(request, token: str) -> ShareLink:
    link = link_get_visible(user=request.user, token=token)
    if link is None:
        raise ApiError("not_found", "there is no share link with that token that you can see")
    return link


def image_created(request, image: Image) -> JsonResponse:
    """201 with the new image and its Location."""
    response = JsonResponse(image_to_dict(image), status=201)
    response["Location"] = request.build_absolute_uri(reverse("api_image", args=[image.pk]))
    return response


def refuse_huge_form(request) -> None:
    """413 from the Content-Length alone when a form post is far past the file limit, before
    any of it is read (the upload handler stops keeping a file just past the limit)."""
    if request.method != "POST":
        return
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise bad_request("Content-Length is not a number") from None
    if length > settings.UPLOAD_MAX_BYTES + FORM_OVERHEAD_BYTES:
        raise ApiError(
            "too_large",
            f"the upload is {megabytes(length)}; the largest file allowed is "
            f"{megabytes(settings.UPLOAD_MAX_BYTES)}",
        )


def storage_failures_unavailable(view=None, *, store_first: bool = True):
    """S3 not answering is a 503 with Retry-After, like the sign-in provider not answering.
    `store_first`: ask whether S3 answers before anything is done (images and uploads need it;
    a link's changes don't, so a link can still be revoked while S3 is down)."""
    if view is None:
        return lambda view: storage_failures_unavailable(view, store_first=store_first)

    @wraps(view)
    def answer(request, *args, **kwargs):
        try:
            if store_first:
                s3.require_store()
            return view(request, *args, **kwargs)
        except S3Error as error:
            logger.warning(
                "image store failed during %s %s: %s", request.method, request.path, error
            )
            raise ApiError(
                "unavailable", str(error), headers={"Retry-After": str(STORAGE_RETRY_SECONDS)}
            ) from None

    return answer


# -- views -------------------------------------------------------------------------------------


@api_endpoint("GET", "POST", "DELETE", check_first=refuse_huge_form, **ENDPOINT)
@storage_failures_unavailable
def images_collection(request):
    """GET /api/images lists images, newest first; POST stores a form upload; DELETE removes
    all of the caller's own images (an ADMIN's too: only their own)."""
    if request.method == "POST":
        return _image_upload(request)
    if request.method == "DELETE":
        return JsonResponse({"deleted": images_delete_all(request.user)})
    params = parse_list_query(request.GET)
    page = images_page(
        user=request.user, everyone=params.everyone, cursor=params.cursor, size=params.limit
    )
    return JsonResponse(images_page_to_dict(page))


def _image_upload(request):
    """POST /api/images, multipart: "file", optional "title" and "keep_metadata"."""
    if not request.content_type.startswith("multipart/form-data"):
        raise bad_request('send the picture as multipart/form-data, in the field "file"')
    files = request.FILES.getlist("file")  # parses the form, noting the files past the limit
    refused = getattr(request, "uploads_too_large", [])
    if refused:
        raise ApiError(
            "too_large",
            f"{refused[0] or 'the file'} is over the limit; the largest file allowed is "
            f"{megabytes(settings.UPLOAD_MAX_BYTES)}",
        )
    check_known_fields(request.POST, UPLOAD_FORM_FIELDS, "the upload form")
    check_known_fields(request.FILES, ("file",), "the upload form's files")
    if not files:
        raise invalid('the upload needs the picture in the multipart field "file"')
    if len(files) > 1:
        raise invalid('send one picture per request in "file"')
    title = parse_title(request.POST.get("title", ""))
    check_text(title, "title", max_length=TITLE_MAX_LENGTH)
    keep_metadata = parse_flag_word(request.POST.get("keep_metadata", ""), "keep_metadata")
    upload = files[0]
    image = image_store(
        owner=request.user,
        file=upload,
        filename=upload.name or "",
        title=title,
        keep_metadata=keep_metadata,
    )
    return image_created(request, image)


@api_endpoint("POST", **ENDPOINT)
@storage_failures_unavailable
def uploads_collection(request):
    """POST /api/images/uploads: a presigned POST straight to S3 for one file, if its declared
    size and type pass (S3 enforces both again; "complete" checks the bytes)."""
    filename, content_type, size = parse_upload_start(read_json_object(request))
    upload, post = upload_start(
        owner=request.user, filename=filename, content_type=content_type, size=size
    )
    return JsonResponse(upload_to_dict(upload, post), status=201)


@api_endpoint("POST", **ENDPOINT)
@storage_failures_unavailable
def upload_complete(request, upload_id: str):
    """POST /api/images/uploads/<id>/complete: check what arrived in S3 and store it; the
    incoming object is removed whatever the outcome."""
    title, keep_metadata = parse_upload_complete(read_json_or_empty(request))
    upload = pending_upload_get(user=request.user, upload_id=upload_id)
    if upload is None:
        raise ApiError(
            "not_found", "there is no upload with that id waiting for you; start a new one"
        )
    image = services.upload_complete(upload=upload, title=title, keep_metadata=keep_metadata)
    return image_created(request, image)


@api_endpoint("GET", "DELETE", **ENDPOINT)
@storage_failures_unavailable
def image_item(request, image_id: str):
    """GET /api/images/<id> shows an image; DELETE removes it, its objects and its links."""
    image = visible_image(request, image_id)
    if request.method == "DELETE":
        image_delete(image, actor=request.user)
        return HttpResponse(status=204)
    return JsonResponse(image_to_dict(image))


@api_endpoint("GET", "POST", **ENDPOINT)
@storage_failures_unavailable(store_first=False)
def image_links(request, image_id: str):
    """GET /api/images/<id>/links lists the image's links, newest first; POST makes one."""
    image = visible_image(request, image_id)
    if request.method == "POST":
        wanted = parse_link_create(read_json_or_empty(request))
        link = link_create(
            image=image,
            created_by=request.user,
            expiry=wanted.expiry,
            max_views=wanted.max_views,
            password=wanted.password,
            download=wanted.download,
        )
        response = JsonResponse(link_to_dict(link, request=request), status=201)
        response["Location"] = request.build_absolute_uri(reverse("api_link", args=[link.token]))
        return response
    links = links_of_image(user=request.user, image=image)
    distinct = viewers.counts(links)  # one round trip for the page, not one per link
    results = [
        link_to_dict(link, request=request, distinct_viewers=distinct[link.pk]) for link in links
    ]
    return JsonResponse({"results": results})


@api_endpoint("GET", "PATCH", "DELETE", **ENDPOINT)
@storage_failures_unavailable(store_first=False)
def link_item(request, token: str):
    """GET /api/links/<token> shows a link; PATCH changes its expiry or max views (an expired
    link opens again when extended; a revoked one is gone); DELETE revokes it, again a no-op."""
    link = visible_link(request, token)
    if request.method == "PATCH":
        body = read_json_or_empty(request)
        check_known_fields(body, LINK_UPDATE_FIELDS, "the change")
        changes = {}
        if "max_views" in body:
            changes["max_views"] = parse_max_views(body["max_views"])
        link = link_update(link=link, expiry=parse_expiry(body), actor=request.user, **changes)
    elif request.method == "DELETE":
        link, _changed = link_revoke(link, actor=request.user)
    return JsonResponse(link_to_dict(link, request=request))
