"""The error tree and the one handler that turns errors into RFC 9457 problem+json.

    AppError                       500 internal
    ├── BadRequest                 400 bad-request
    ├── ValidationFailed           422 validation-error
    ├── Unauthorized               401 unauthorized
    ├── Forbidden                  403 forbidden
    ├── NotFound                   404 not-found
    ├── Conflict                   409 conflict
    │   └── (type is set per case: "already-voted", "voting-closed", "email-taken", ...)
    ├── PayloadTooLarge            413 payload-too-large
    ├── RateLimited                429 rate-limited / daily-vote-limit (with Retry-After)
    └── ServiceUnavailable         503 service-unavailable (with Retry-After)

Services raise these; controllers never build error responses themselves. Litestar's own
exceptions (validation, 404 routes, 405, body too large) and driver outages (MongoDB or Redis
unreachable) are mapped here too, so every error a client sees has the same shape.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from pymongo.errors import (
    AutoReconnect,
    ConnectionFailure,
    ExecutionTimeout,
    ServerSelectionTimeoutError,
    WTimeoutError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError as RedisReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger("livevote.errors")

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://livevote.dev/problems/"


class AppError(Exception):
    status = 500
    type = "internal"
    title = "Internal server error"

    def __init__(
        self,
        detail: str,
        *,
        type: str | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if type:
            self.type = type
        if title:
            self.title = title
        self.headers = headers or {}
        self.extra = extra or {}


class BadRequest(AppError):
    status, type, title = 400, "bad-request", "Bad request"


class ValidationFailed(AppError):
    status, type, title = 422, "validation-error", "Invalid input"


class Unauthorized(AppError):
    status, type, title = 401, "unauthorized", "Authentication required"

    def __init__(self, detail: str = "missing or invalid credentials", **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kw)


class Forbidden(AppError):
    status, type, title = 403, "forbidden", "Not allowed"


class NotFound(AppError):
    status, type, title = 404, "not-found", "Not found"


class Conflict(AppError):
    status, type, title = 409, "conflict", "Conflict"


class PayloadTooLarge(AppError):
    status, type, title = 413, "payload-too-large", "Request body too large"


class RateLimited(AppError):
    status, type, title = 429, "rate-limited", "Too many requests"

    def __init__(self, detail: str, *, retry_after: int, **kw: Any) -> None:
        headers = {"Retry-After": str(max(1, int(retry_after)))}
        headers.update(kw.pop("headers", {}) or {})
        super().__init__(detail, headers=headers, **kw)
        self.retry_after = retry_after


class ServiceUnavailable(AppError):
    status, type, title = 503, "service-unavailable", "Service temporarily unavailable"

    def __init__(self, detail: str, *, retry_after: int = 2, **kw: Any) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)}, **kw)


def problem(
    status: int,
    type_: str,
    title: str,
    detail: str,
    instance: str,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {
        "type": TYPE_BASE + type_,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    if extra:
        body.update(extra)
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


# Transient: retrying later can succeed. ConnectionFailure covers AutoReconnect, NotPrimaryError,
# NetworkTimeout, WaitQueueTimeoutError and ServerSelectionTimeoutError; ExecutionTimeout is a
# server-side time limit, WTimeoutError a write concern not met in time (outcome unknown);
# redis ConnectionError covers BusyLoadingError/MaxConnectionsError, ReadOnlyError a replica
# during a failover.
_OUTAGES = (
    ConnectionFailure,
    AutoReconnect,
    ServerSelectionTimeoutError,
    ExecutionTimeout,
    WTimeoutError,
    RedisConnectionError,
    RedisTimeoutError,
    RedisReadOnlyError,
)

_HTTP_TYPES = {
    400: ("bad-request", "Bad request"),
    401: ("unauthorized", "Authentication required"),
    403: ("forbidden", "Not allowed"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    413: ("payload-too-large", "Request body too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    429: ("rate-limited", "Too many requests"),
    503: ("service-unavailable", "Service temporarily unavailable"),
}


def handle_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The one mapping from any exception to a problem+json response."""
    path = request.url.path
    if isinstance(exc, AppError):
        if exc.status >= 500:
            log.warning("request failed: %s", exc.detail, extra={"path": path})
        return problem(exc.status, exc.type, exc.title, exc.detail, path, exc.headers, exc.extra)
    if isinstance(exc, ValidationException):
        extra = {"errors": exc.extra} if exc.extra else None
        detail = str(exc.detail)
        if isinstance(exc.extra, list) and exc.extra:
            first = exc.extra[0]
            if isinstance(first, dict) and first.get("message"):
                detail = f"{first.get('key') or 'body'}: {first['message']}"
        return problem(400, "bad-request", "Invalid request", detail, path, extra=extra)
    if isinstance(exc, HTTPException):
        type_, title = _HTTP_TYPES.get(exc.status_code, ("http-error", "HTTP error"))
        headers = dict(exc.headers or {})
        return problem(exc.status_code, type_, title, str(exc.detail), path, headers)
    if isinstance(exc, _OUTAGES):
        log.warning("backing service unavailable: %r", exc, extra={"path": path})
        return problem(
            503,
            "service-unavailable",
            "Service temporarily unavailable",
            "a backing service is unreachable; retry shortly",
            path,
            {"Retry-After": "2"},
        )
    log.exception("unhandled error", extra={"path": path})
    return problem(500, "internal", "Internal server error", "unexpected error", path)
