"""Who is calling an activities route: an attendee, or anyone (the event's host: the events
domain's HOST_EVENT dependency; is_host for a route everyone may call)."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.di import Provide

from livevote.errors import Unauthorized
from livevote.infra.auth import (
    Principal,
    bearer_token,
    current_attendee,
    optional_user,
    verified,
)
from livevote.infra.mongo import Doc


async def user_or_attendee(request: Request[Any, Any, Any]) -> Principal | None:
    """The user behind a Bearer token; None without one or with an attendee token."""
    try:
        return await optional_user(request)
    except Unauthorized:
        token = bearer_token(request)
        principal = verified(request, token) if token else None
        if principal is None or principal.kind != "attendee":
            raise
        return None


MAYBE_USER = {"user": Provide(user_or_attendee)}
ATTENDEE = {"attendee": Provide(current_attendee)}


def is_host(event: Doc, user: Principal | None) -> bool:
    return user is not None and user.subject == event["host_id"]
