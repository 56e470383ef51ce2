"""Request-level helpers of the events controllers: who is calling, the host's event, and the
attendee cookies.

Attendee cookies. `lv_attendee` is scoped to one event's API (`/api/events/<id>`: votes,
`me`, the stream), so joining another event never replaces it — and so it never reaches
`POST /api/events/join`. A join therefore also sets `lv_attendee_<event id>`, scoped to
`/api/events/join` and named per event: the join endpoint receives the caller's credential
of every event they joined, picks the one of the event being joined (admission.py: the same
attendee comes back), and one event's cookie never replaces another's.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import Cookie
from litestar.di import Provide
from litestar.params import FromPath

from livevote.config import Settings
from livevote.errors import Unauthorized
from livevote.events.admission import Caller
from livevote.events.service import EventService
from livevote.infra.auth import (
    ATTENDEE_COOKIE,
    Principal,
    bearer_token,
    current_attendee,
    current_user,
    optional_user,
    verified,
)
from livevote.infra.mongo import Doc
from livevote.infra.ratelimit import MissBudget, RateLimiter, Rule

JOIN_PATH = "/api/events/join"
CODE_LOOKUPS = "code-lookups"  # the miss budget's name and its 429 problem type


async def user_or_attendee(request: Request[Any, Any, Any]) -> Principal | None:
    """The user behind a Bearer token; None for no token or a valid attendee token
    (attendees may read what everyone may read); 401 for a bad token."""
    try:
        return await optional_user(request)
    except Unauthorized:
        token = bearer_token(request)
        if token is None:
            raise
        try:
            principal = verified(request, token)  # verified once per request, then cached
        except Unauthorized:
            principal = None
        if principal is None or principal.kind != "attendee":
            raise Unauthorized("invalid token", type="invalid-token") from None
        return None


async def host_event(event_id: FromPath[str], events: EventService, user: Principal) -> Doc:
    """The path's event, for its host only (EventService.load_as_host: 404, else 403)."""
    return await events.load_as_host(event_id, user)


HOST = {"user": Provide(current_user)}
# A host's route on one event (`{event_id}` in its path, `events` provided by its controller):
# the handler takes `event: Doc`, already loaded and checked as the caller's.
HOST_EVENT = {**HOST, "event": Provide(host_event)}
MAYBE_USER = {"user": Provide(user_or_attendee)}
ATTENDEE = {"attendee": Provide(current_attendee)}


def join_cookie_name(event_id: str) -> str:
    return f"{ATTENDEE_COOKIE}_{event_id}"


def attendee_cookies(
    request: Request[Any, Any, Any], settings: Settings, event_id: str, token: str
) -> list[Cookie]:
    common: dict[str, Any] = {
        "value": token,
        "httponly": True,
        "samesite": "lax",
        "secure": request.url.scheme == "https",
        "max_age": settings.jwt.attendee_ttl_seconds,
    }
    return [
        Cookie(key=ATTENDEE_COOKIE, path=f"/api/events/{event_id}", **common),
        Cookie(key=join_cookie_name(event_id), path=JOIN_PATH, **common),
    ]


def join_caller(
    request: Request[Any, Any, Any], settings: Settings, limiter: RateLimiter
) -> Caller:
    """The joining caller: its address (as the rate limiter computes it), its credential
    for an event (Bearer or that event's join cookie) and the join-rate gate."""
    address = limiter.client_address(request)

    def credential(event_id: str) -> Principal | None:
        try:
            bearer = bearer_token(request)
        except Unauthorized:
            bearer = None
        for token in (bearer, request.cookies.get(join_cookie_name(event_id))):
            if not token:
                continue
            try:
                principal = verified(request, token)
            except Unauthorized:
                continue
            if principal.kind == "attendee" and principal.event_id == event_id:
                return principal
        return None

    async def allow_new(event_id: str) -> int | None:
        limit = settings.limits.joins_per_address_per_minute
        rule = Rule("join", f"join:{event_id}:{address}", limit, 60_000)
        decision = await limiter.hit([rule])  # None: Redis unreachable, fail open
        return None if decision is None or decision.allowed else decision.retry_after

    return Caller(address, settings.jwt.secret, credential, allow_new)


def code_lookups(
    request: Request[Any, Any, Any], settings: Settings, limiter: RateLimiter
) -> MissBudget:
    """The caller's budget of unknown join codes (`/api/events/by-code/{code}`, the join,
    `/e/{code}`, `/screen/{code}` share it): a script guessing codes gets
    `code_misses_per_address_per_minute` 404s, then 429 `code-lookups`; codes that exist cost
    nothing, so a venue behind one NAT address is not limited by its own phones."""
    limit = settings.limits.code_misses_per_address_per_minute
    return limiter.misses(CODE_LOOKUPS, limiter.client_address(request), limit)


LOOKUPS = {"lookups": Provide(code_lookups, sync_to_thread=False)}

# The routes that check the budget first thing: refused at the edge (infra/edge) once it is spent.
CODE_LOOKUP_ROUTES = {
    ("GET", "/api/events/by-code/"): CODE_LOOKUPS,
    ("POST", "/api/events/join"): CODE_LOOKUPS,
    ("GET", "/e/"): CODE_LOOKUPS,
    ("GET", "/screen/"): CODE_LOOKUPS,
}
