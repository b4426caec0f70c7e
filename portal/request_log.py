"""One log line per request, and the request's id, for the logs and the audit trail.

django-structlog's RequestMiddleware binds a request id and the user id to every line logged
during the request and logs `request_finished` with the status. Here it also gets:
- the request id from `X-Request-ID` only with TRUST_REQUEST_ID_HEADER on (a proxy we run sets
  it), and only when it is short and plain (REQUEST_ID_PATTERN), so a client can't forge log
  lines; otherwise a fresh uuid4. django-structlog's own DJANGO_STRUCTLOG_TRUST_UPSTREAM_REQUEST_ID
  stays off: it takes the header as it comes. The id is echoed in the `X-Request-ID` answer.
- the client IP from portal.client_ip (which honours TRUSTED_PROXY_COUNT), not ipware's guess;
- method and path (tokens masked, no query string: it may carry a sign-in code) on every line;
- `status` and `duration_ms` on the finished (or failed) line.
"""

from __future__ import annotations

import re
import time
import uuid

import structlog
from django.conf import settings
from django.core.signals import request_finished
from django.dispatch import receiver
from django_structlog import signals
from django_structlog.middlewares import RequestMiddleware

from portal.client_ip import client_ip
from portal.logs import mask_tokens

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_MAX_LENGTH = 128
REQUEST_ID_PATTERN = re.compile(rf"[A-Za-z0-9._:=+/-]{{1,{REQUEST_ID_MAX_LENGTH}}}")
# When the request started, on the request itself (written here only).
_STARTED_ATTRIBUTE = "_portal_log_started"


def request_id_for(request) -> str:
    """The upstream's id when it is trusted and well-formed, else a new uuid4."""
    if settings.TRUST_REQUEST_ID_HEADER:
        offered = request.headers.get(REQUEST_ID_HEADER, "")
        if REQUEST_ID_PATTERN.fullmatch(offered):
            return offered
    return str(uuid.uuid4())


def current_request() -> tuple[str, str]:
    """(client IP, request id) of the request being served; both empty outside one."""
    context = structlog.contextvars.get_contextvars()
    return context.get("ip") or "", context.get("request_id") or ""


class RequestLogMiddleware(RequestMiddleware):
    """django-structlog's middleware with our request id, client IP and timing."""

    async_capable = False  # the portal runs under WSGI; this keeps one code path

    def prepare(self, request) -> None:
        structlog.contextvars.clear_contextvars()  # nothing left from the thread's last request
        setattr(request, _STARTED_ATTRIBUTE, time.perf_counter())
        super().prepare(request)

    def handle_response(self, request, response) -> None:
        self.bind_user_id(request)  # a Bearer caller or a new sign-in is known only by now
        context = structlog.contextvars.get_contextvars()
        if context.get("request_id"):
            response.headers[REQUEST_ID_HEADER] = context["request_id"]
        super().handle_response(request, response)  # logs the line, then clears the context
        # Django logs "Not Found: ..." after every middleware has answered: keep the context
        # for it until the response is closed (request_finished, below).
        structlog.contextvars.bind_contextvars(**context)

    @classmethod
    def bind_ip(cls, request) -> None:
        structlog.contextvars.bind_contextvars(ip=client_ip(request))


def _finished(request, log_kwargs: dict) -> None:
    """The status under its own name, and the time since the request reached us."""
    log_kwargs.pop("request", None)  # method and path are bound; this one has the query string
    log_kwargs["status"] = log_kwargs.pop("code", None)
    started = getattr(request, _STARTED_ATTRIBUTE, None)
    if started is not None:
        log_kwargs["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)


@receiver(request_finished)
def _forget_request(**kwargs):
    structlog.contextvars.clear_contextvars()


@receiver(signals.bind_extra_request_metadata, sender=RequestLogMiddleware)
def _bind_request(request, logger, log_kwargs, **kwargs):
    structlog.contextvars.bind_contextvars(
        request_id=request_id_for(request),
        method=request.method,
        path=mask_tokens(request.path),
    )
    log_kwargs.pop("request", None)


@receiver(signals.bind_extra_request_finished_metadata, sender=RequestLogMiddleware)
def _request_finished(request, logger, response, log_kwargs, **kwargs):
    _finished(request, log_kwargs)


@receiver(signals.bind_extra_request_failed_metadata, sender=RequestLogMiddleware)
def _request_failed(request, logger, exception, log_kwargs, **kwargs):
    _finished(request, log_kwargs)
