"""Shared input types. Every request body is a msgspec Struct that rejects unknown fields;
strings that reach MongoDB may not start with `$` (no operator can be smuggled in)."""

from __future__ import annotations

from typing import Annotated, Any, get_args

import msgspec
from bson import ObjectId
from bson.errors import InvalidId
from litestar import Request

from livevote.errors import BadRequest, NotFound, ValidationFailed

# msgspec applies `pattern` with re.search: anchor both ends, and end with \Z, never `$`
# (`$` also matches before a final newline, so "alice\n" would pass `^[a-z]+$`).
NO_OPERATOR = r"^(?!\$)"
NAME_PATTERN = r"^(?!\$)[^\x00-\x1f]*\Z"
EMAIL_PATTERN = r"^[^@\s$][^@\s]*@[^@\s]+\.[^@\s]+\Z"
USERNAME_PATTERN = r"^[A-Za-z0-9_.-]+\Z"
ID_PATTERN = r"^[A-Za-z0-9_-]+\Z"

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=NAME_PATTERN)]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=300, pattern=NAME_PATTERN)]
Email = Annotated[str, msgspec.Meta(max_length=254, pattern=EMAIL_PATTERN)]
Username = Annotated[str, msgspec.Meta(min_length=3, max_length=32, pattern=USERNAME_PATTERN)]
Password = Annotated[str, msgspec.Meta(min_length=8, max_length=256)]
IdStr = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=ID_PATTERN)]


class Input(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of every request body."""


def object_id(value: str, what: str = "resource") -> ObjectId:
    """Parse a path id; an id that cannot exist is a 404, not a 500."""
    try:
        return ObjectId(value)
    except (InvalidId, TypeError) as exc:
        raise NotFound(f"{what} {value!r} not found") from exc


def require(condition: bool, detail: str) -> None:
    if not condition:
        raise ValidationFailed(detail)


def _body_type(request: Request[Any, Any, Any]) -> type[msgspec.Struct] | None:
    """The msgspec Struct a handler's `data` parameter expects (unwrapping `X | None`)."""
    field = request.route_handler.parsed_data_field
    if field is None:
        return None
    candidates = [field.annotation, *get_args(field.annotation)]
    for kind in candidates:
        if isinstance(kind, type) and issubclass(kind, msgspec.Struct):
            return kind
    return None


async def strict_body(request: Request[Any, Any, Any]) -> None:
    """App-wide `before_request` hook: every JSON body is decoded in msgspec's strict mode
    before Litestar's own (lenient) conversion runs, so no handler can forget it.

    Litestar converts bodies leniently (the string "3" becomes the integer 3, `true` a count);
    here a wrong type is a 400 for every route with a `data: <Struct>` parameter. An empty
    body is left to Litestar (a required body is then its 400; an optional one stays None).
    """
    kind = _body_type(request)
    if kind is None:
        return
    raw = await request.body()
    if not raw.strip():
        return
    try:
        msgspec.json.decode(raw, type=kind, strict=True)
    except msgspec.ValidationError as exc:
        raise BadRequest(str(exc), title="Invalid request") from exc
    except msgspec.DecodeError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}", title="Invalid request") from exc
