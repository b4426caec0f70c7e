"""The JSON API's shared machinery: one error shape and one closed list of codes, one endpoint
decorator, and reading a JSON body. Each app keeps its own parsing and views.

Every error is {"error": <code>, "detail": <sentence>}, with a code from ERROR_CODES; a bad token
is a 401 with WWW-Authenticate, never a redirect to the sign-in page (an API client can't follow
one).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from functools import wraps

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse, RawPostDataException
from django.middleware.csrf import CsrfViewMiddleware
from django.utils.cache import add_never_cache_headers, patch_vary_headers

from accounts import signin
from accounts.api_auth import user_for_access_token
from accounts.provider import ProviderError, TokenError
from accounts.roles import has_role
from portal import ratelimits
from portal.cursors import BadCursor
from portal.text import is_storable

logger = logging.getLogger(__name__)

# The closed list of error codes: (code, HTTP status, when). The API docs page shows this table.
ERROR_CODES = (
    ("bad_request", 400, "malformed JSON, a value of the wrong type or a bad query parameter"),
    ("unauthenticated", 401, "no token or session, or an expired or invalid token"),
    ("forbidden", 403, "no portal role, not your change to make, or a failed CSRF check"),
    ("not_found", 404, "no such thing, or not one you may see (the same answer, on purpose)"),
    ("method_not_allowed", 405, "this path doesn't take that method (see the Allow header)"),
    ("conflict", 409, "the change can't be made now, e.g. an order's status can't go that way"),
    ("gone", 410, "the share link was revoked: it can't be opened or changed any more"),
    ("too_large", 413, "the file is over UPLOAD_MAX_BYTES"),
    ("quota_exceeded", 413, "the file would take your images over UPLOAD_QUOTA_BYTES"),
    ("unsupported_type", 415, "not a picture we take (JPEG, PNG, GIF, WebP, AVIF, HEIC)"),
    ("invalid", 422, "well-formed but unacceptable: unknown SKU or field, quantity below 1, ..."),
    ("rate_limited", 429, "too many requests from your account; wait as Retry-After says"),
    ("unavailable", 503, "the sign-in provider or the image store is not answering; retry later"),
)
STATUS_OF_CODE = {code: status for code, status, _when in ERROR_CODES}

# Deeper JSON is refused: no body an endpoint takes comes near it.
MAX_JSON_DEPTH = 32


def api_error(code: str, detail: str, *, headers: dict | None = None) -> JsonResponse:
    """Every API error has this shape; the status comes with the code."""
    return JsonResponse(
        {"error": code, "detail": detail}, status=STATUS_OF_CODE[code], headers=headers
    )


class ApiError(Exception):
    """Input or a caller the API refuses; the endpoint answers it as api_error(code, detail)."""

    def __init__(self, code: str, detail: str, *, headers: dict | None = None):
        if code not in STATUS_OF_CODE:
            raise ValueError(f"{code!r} is not one of the API's error codes")
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.headers = headers

    def response(self) -> JsonResponse:
        return api_error(self.code, self.detail, headers=self.headers)


def bad_request(detail: str) -> ApiError:
    return ApiError("bad_request", detail)


def invalid(detail: str) -> ApiError:
    return ApiError("invalid", detail)


def unauthenticated(detail: str, *, invalid_token: bool = False) -> ApiError:
    challenge = 'Bearer realm="api"'
    if invalid_token:
        escaped = detail.replace('"', "'")
        challenge += f', error="invalid_token", error_description="{escaped}"'
    return ApiError("unauthenticated", detail, headers={"WWW-Authenticate": challenge})


# -- the endpoint decorator --------------------------------------------------------------------


class _CsrfCheck(CsrfViewMiddleware):
    """Django's own CSRF check, answering the failure reason instead of a 403 page."""

    def _reject(self, request, reason):
        return reason


_csrf_check = _CsrfCheck(lambda request: None)


def _authenticate(request, roles: tuple[str, ...]) -> None:
    """Set request.user from a Bearer token, or keep a fresh session's; then require `roles`
    and count the call against the user's RATELIMIT_API."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthenticated("use 'Authorization: Bearer <access token>'")
        try:
            request.user = user_for_access_token(token.strip())
        except TokenError as error:
            logger.info("API token refused: %s", error.reason)
            raise unauthenticated(error.reason, invalid_token=True) from None
        except ProviderError as error:
            logger.warning("API token check failed: %s", error)
            raise ApiError(
                "unavailable",
                "the sign-in provider is not answering; try again shortly",
                headers={"Retry-After": str(error.retry_after_seconds)},
            ) from None
    elif request.user.is_authenticated:
        if signin.session_needs_refresh(request):
            raise unauthenticated("your session has expired; sign in again")
        # Cookies ride along on cross-site requests: unsafe methods need the CSRF token.
        reason = _csrf_check.process_view(request, None, (), {})
        if reason is not None:
            raise ApiError("forbidden", f"CSRF check failed: {reason}")
    else:
        raise unauthenticated("sign in, or send 'Authorization: Bearer <access token>'")
    if roles and not has_role(request.user, *roles):
        raise ApiError("forbidden", "your account has no role that allows this")
    refusal = ratelimits.hit(ratelimits.limit("RATELIMIT_API"), str(request.user.pk))
    if refusal is not None:
        raise ApiError(
            "rate_limited",
            f"too many requests from your account; try again in {refusal.wait}",
            headers={"Retry-After": str(refusal.retry_after)},
        )


def api_endpoint(
    *methods: str,
    roles: tuple[str, ...],
    errors: Mapping[type[Exception], str] | None = None,
    check_first: Callable[[HttpRequest], None] | None = None,
):
    """An API view: answers only `methods` (JSON 405 otherwise), authenticates the caller (Bearer
    token, or a fresh session with CSRF checks) and requires one of `roles` (`()`: any signed-in
    caller). ApiError and the `errors` exceptions (exception class -> error code) become JSON
    errors; every answer depends on who asks, so none is kept by any cache.

    `check_first(request)` may raise ApiError before the caller is authenticated: a session's
    CSRF check reads a form body, so a refusal by the headers alone (a body far too large) must
    come before it."""
    allowed = [*methods, *(["HEAD"] if "GET" in methods else []), "OPTIONS"]
    allow_header = ", ".join(allowed)
    codes = {BadCursor: "bad_request", **(errors or {})}
    unknown = set(codes.values()) - set(STATUS_OF_CODE)
    if unknown:
        raise ValueError(f"not error codes of the API: {', '.join(sorted(unknown))}")
    caught = tuple(codes)

    def decorator(view):
        @wraps(view)
        def endpoint(request, *args, **kwargs):
            try:
                if request.method == "OPTIONS":
                    response = HttpResponse(status=204, headers={"Allow": allow_header})
                elif request.method not in allowed:
                    raise ApiError(
                        "method_not_allowed",
                        f"{request.method} is not allowed here; use {allow_header}",
                        headers={"Allow": allow_header},
                    )
                else:
                    if check_first is not None:
                        check_first(request)
                    _authenticate(request, roles)
                    response = view(request, *args, **kwargs)
            except ApiError as error:
                response = error.response()
            except caught as error:
                code = next(code for kind, code in codes.items() if isinstance(error, kind))
                response = api_error(code, str(error))
            add_never_cache_headers(response)
            patch_vary_headers(response, ["Authorization", "Cookie"])
            return response

        # The session's CSRF check is done in _authenticate, only for cookie-authenticated calls.
        endpoint.csrf_exempt = True
        return endpoint

    return decorator


# -- input -------------------------------------------------------------------------------------


def read_json_object(request) -> dict:
    """The request body as a JSON object, or a 400 saying what is wrong with it."""
    try:
        body = json.loads(request.body)
    except RequestDataTooBig:
        raise bad_request("the request body is too large") from None
    except RawPostDataException:
        raise bad_request("send the body as JSON (Content-Type: application/json)") from None
    except RecursionError:
        raise bad_request(_TOO_DEEP) from None
    except ValueError as error:  # includes JSONDecodeError and UnicodeDecodeError
        raise bad_request(f"the body is not valid JSON ({error})") from None
    if not isinstance(body, dict):
        raise bad_request("wrong type: the body must be a JSON object")
    _check_values(body)
    return body


_TOO_DEEP = f"the body is nested too deeply (at most {MAX_JSON_DEPTH} levels)"


def _check_values(body: dict) -> None:
    """Refuse what no endpoint takes and no column could hold: deep nesting, text with NUL
    characters or lone surrogates, in values and in keys alike."""
    pending = [(body, 1)]
    while pending:
        value, depth = pending.pop()
        if depth > MAX_JSON_DEPTH:
            raise bad_request(_TOO_DEEP)
        if isinstance(value, dict):
            pending.extend((key, depth) for key in value)
            pending.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value)
        elif isinstance(value, str) and not is_storable(value):
            raise bad_request(
                "the body has text with a NUL character or a lone surrogate (\\u0000, \\ud800)"
            )


def check_fields(data: dict, allowed: tuple[str, ...], where: str) -> None:
    """A 422 naming the first missing field or every unknown one of a JSON object."""
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        names = ", ".join(f'"{name}"' for name in unknown)
        raise invalid(f"unknown field {names} in {where}; allowed: {', '.join(allowed)}")
    missing = [name for name in allowed if name not in data]
    if missing:
        raise invalid(f'{where} needs "{missing[0]}"')


def check_text(value: str, where: str, *, max_length: int) -> str:
    """A query parameter's or header's text, or a 400 when no column could hold it."""
    if len(value) > max_length:
        raise bad_request(f"{where} can be at most {max_length} characters")
    if not is_storable(value):
        raise bad_request(f"{where} can't contain a NUL character")
    return value


def parse_limit(params, *, default: int, maximum: int) -> int:
    """?limit= of a list endpoint: a whole number from 1 to `maximum` (`default` when absent)."""
    raw = params.get("limit", "")
    if not raw:
        return default
    limit = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 4 else None
    if limit is None or not 1 <= limit <= maximum:
        raise bad_request(f"limit must be a whole number from 1 to {maximum}")
    return limit
