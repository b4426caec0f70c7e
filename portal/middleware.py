"""Responses to signed-in people are theirs alone: no shared or browser cache keeps them; and
a clear 503 page when the database or Redis is down."""

import sys

import redis
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.signals import got_request_exception
from django.db.utils import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.template.loader import get_template
from django.utils.cache import add_never_cache_headers, patch_cache_control


class PrivateWhenSignedInMiddleware:
    """Cache-Control: private, no-store on every answer to a signed-in session.

    The API's endpoints mark every answer (portal.api.api_endpoint), Bearer calls and 401s
    included. Pages only get the header patched: add_never_cache_headers would also format an
    Expires date on every signed-in page, the busiest one included.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        # Without the session cookie nobody is signed in: don't load a session to find out.
        if settings.SESSION_COOKIE_NAME in request.COOKIES and request.user.is_authenticated:
            patch_cache_control(response, private=True, no_store=True)
        return response


# -- outages of the database and of Redis ------------------------------------------------------

# Set on the request when it failed because a backing service was down: the kind of outage.
OUTAGE_ATTRIBUTE = "_portal_outage"
OUTAGE_RETRY_SECONDS = 30
# The JSON API's paths: their clients get portal.api's error shape, code "unavailable".
API_PREFIX = "/api/"


def _outage_kind(error: BaseException | None) -> str | None:
    """'database' or 'session store' when `error` says that service can't be reached."""
    if isinstance(error, OperationalError | InterfaceError):
        return "database"
    if isinstance(error, redis.ConnectionError | redis.TimeoutError):
        return "session store"
    return None


def _note_outage(sender, request=None, **kwargs):
    # Sent by Django's handler while it handles the exception, at whichever layer it was
    # raised (a middleware, the view, the session save), with DEBUG on or off.
    kind = _outage_kind(sys.exception())
    if kind is not None and request is not None:
        setattr(request, OUTAGE_ATTRIBUTE, kind)


got_request_exception.connect(_note_outage, dispatch_uid="portal.middleware.note_outage")


class OutagePageMiddleware:
    """A clear 503 page instead of a 500 when the database or Redis is not answering.

    It must sit outside SessionMiddleware (whose session save may be what failed), so it can't
    catch the exception itself (Django turns it into a 500 at the layer that raised it); the
    signal above marks the request, and the 500 is replaced here. The page is rendered without
    the request: the session and the user can't be read.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        kind = getattr(request, OUTAGE_ATTRIBUTE, None)
        if kind is None or response.status_code != 500:
            return response
        return outage_response(request, kind)


def outage_response(request, kind: str) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        detail = f"the portal's {kind} is not answering; try again shortly"
        response = JsonResponse({"error": "unavailable", "detail": detail}, status=503)
    else:
        response = HttpResponse(_outage_page(kind), status=503)
    response["Retry-After"] = str(OUTAGE_RETRY_SECONDS)
    add_never_cache_headers(response)
    return response


def _outage_page(kind: str) -> str:
    context = {
        "outage": kind,
        "user": AnonymousUser(),
        "support_contact": settings.SUPPORT_CONTACT,
    }
    return get_template("errors/unavailable.html").render(context)
