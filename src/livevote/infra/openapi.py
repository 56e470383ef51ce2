"""Make the served OpenAPI schema say what the API really answers.

Litestar documents its own error body (application/json, `{status_code, detail, extra}`) for
400 and nothing for the other error statuses, while every error of this API is RFC 9457
`application/problem+json` (errors.py). `document_problem_responses(app)` post-processes the
generated schema once, at the app level, so no route has to repeat it:
- every /api operation documents 400/401/403/404/409/413/422/429/503 and `default` as
  problem+json with the `ProblemDetails` schema (replacing Litestar's 400 body);
- non-JSON successes are documented with their real media types: SSE streams
  (text/event-stream), CSV exports (text/csv next to JSON), /metrics (Prometheus text).
Schemathesis' content-type and response-schema checks run against this (loadtest/fuzz.py).
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar._openapi.plugin import OpenAPIPlugin
from litestar.openapi.spec import (
    OpenAPI,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Reference,
    Schema,
)

PROBLEM_JSON = "application/problem+json"
ERROR_STATUSES = {
    "400": "Bad request (malformed body, unknown field, wrong type)",
    "401": "Missing or invalid credentials",
    "403": "Not allowed",
    "404": "Not found",
    "409": "Conflict (already voted, voting closed, key reused with another body, ...)",
    "413": "Request body too large",
    "422": "Invalid value",
    "429": "Rate limit reached (see Retry-After)",
    "503": "A backing service is unreachable; retry after Retry-After seconds",
}

PROBLEM_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    title="ProblemDetails",
    description="RFC 9457 problem details",
    required=["type", "title", "status", "detail"],
    properties={
        "type": Schema(type=OpenAPIType.STRING),
        "title": Schema(type=OpenAPIType.STRING),
        "status": Schema(type=OpenAPIType.INTEGER),
        "detail": Schema(type=OpenAPIType.STRING),
        "instance": Schema(type=OpenAPIType.STRING),
    },
)
# One server-sent event (each `state` event's data is a JSON snapshot; comments carry nothing)
SSE_EVENT = Schema(
    type=OpenAPIType.OBJECT,
    title="ServerSentEvent",
    properties={
        "event": Schema(type=OpenAPIType.STRING),
        "data": Schema(type=OpenAPIType.STRING),
        "id": Schema(type=OpenAPIType.STRING),
        "retry": Schema(type=OpenAPIType.INTEGER),
    },
)
_REF = Reference(ref="#/components/schemas/ProblemDetails")
_RETRY_AFTER: dict[str, OpenAPIHeader | Reference] = {
    "Retry-After": OpenAPIHeader(schema=Schema(type=OpenAPIType.STRING))
}


def _problem(description: str, status: str) -> OpenAPIResponse:
    headers = _RETRY_AFTER if status in ("429", "503") else None
    return OpenAPIResponse(
        description=description,
        headers=headers,
        content={PROBLEM_JSON: OpenAPIMediaType(schema=_REF)},
    )


def _operations(openapi: OpenAPI) -> list[tuple[str, Operation]]:
    out = []
    for path, item in (openapi.paths or {}).items():
        for method in ("get", "put", "post", "delete", "patch"):
            op = getattr(item, method, None)
            if isinstance(op, Operation):
                out.append((path, op))
    return out


def _set_success_media(op: Operation, media: dict[str, OpenAPIMediaType]) -> None:
    for status, response in (op.responses or {}).items():
        if status.startswith("2") and isinstance(response, OpenAPIResponse):
            response.content = media


def patch_openapi(openapi: OpenAPI) -> OpenAPI:
    if openapi.components.schemas is None:
        openapi.components.schemas = {}
    openapi.components.schemas["ProblemDetails"] = PROBLEM_SCHEMA
    for path, op in _operations(openapi):
        responses: dict[str, Any] = dict(op.responses or {})
        if path.startswith("/api/"):
            for status, description in ERROR_STATUSES.items():
                responses[status] = _problem(description, status)
            responses["default"] = _problem("Any other error", "default")
        op.responses = responses
        if path.endswith("/stream"):
            _set_success_media(op, {"text/event-stream": OpenAPIMediaType(schema=SSE_EVENT)})
        elif path.endswith("/export"):
            for status, response in responses.items():
                if status.startswith("2") and isinstance(response, OpenAPIResponse):
                    content = dict(response.content or {})
                    content["text/csv"] = OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING))
                    response.content = content
        elif path == "/metrics":
            _set_success_media(
                op, {"text/plain": OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING))}
            )
    return openapi


def document_problem_responses(app: Litestar) -> None:
    """Build the app's OpenAPI object now (every route is registered once Litestar() has
    returned) and patch it in place: Litestar caches it and serves its JSON form from it."""
    patch_openapi(app.plugins.get(OpenAPIPlugin).provide_openapi())
