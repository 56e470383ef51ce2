"""Shared input types. Every request body is a msgspec Struct that rejects unknown fields;
strings that reach MongoDB may not start with `$` (no operator can be smuggled in)."""

from __future__ import annotations

from typing import Annotated, TypeVar

import msgspec
from bson import ObjectId
from bson.errors import InvalidId

from livevote.errors import BadRequest, NotFound, ValidationFailed

T = TypeVar("T")

NO_OPERATOR = r"^(?!\$)"
NAME_PATTERN = r"^(?!\$)[^\x00-\x1f]*$"

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=NAME_PATTERN)]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=300, pattern=NAME_PATTERN)]
Email = Annotated[str, msgspec.Meta(max_length=254, pattern=r"^[^@\s$][^@\s]*@[^@\s]+\.[^@\s]+$")]
Username = Annotated[str, msgspec.Meta(min_length=3, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")]
Password = Annotated[str, msgspec.Meta(min_length=8, max_length=256)]
IdStr = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


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


def decode_strict(raw: bytes, kind: type[T]) -> T | None:
    """Decode a request body in msgspec's strict mode; None for an empty body.

    Litestar converts bodies leniently (the string "3" becomes the integer 3, `true` a count);
    handlers keep `data: <Struct>` for the OpenAPI schema and re-decode the raw body with this,
    so a wrong type is a 400 everywhere.
    """
    if not raw.strip():
        return None
    try:
        return msgspec.json.decode(raw, type=kind, strict=True)
    except msgspec.ValidationError as exc:
        raise BadRequest(str(exc), title="Invalid request") from exc
