"""EdgeGuard: remembered refusals answered in front of Litestar (raw ASGI, first in the stack).

A refused request used to cost ~1.6 ms of server CPU (routing, dependency injection, the Redis
Lua round trip, raising and rendering the problem+json) — under abuse, refusals competed with
legitimate requests for the cores. Once Redis has refused a rule's key, the window cannot free
before its oldest entry expires (infra/refusals), so the guard answers that key's next requests
itself, until then: the same 429 problem+json (type, title, detail, instance) with the same
Retry-After and X-RateLimit-* headers, computed from the remembered time — no Redis, no routing,
no database. It also works out the request's rules once for RateLimitMiddleware. With no
refusal remembered it has nothing to answer and passes every request straight on: the rules are
then left to RateLimitMiddleware, which Litestar runs for routed requests only, so an unknown
path costs no rule work (no token verified, no address worked out).

Miss budgets (join-code lookups): an address whose budget is spent is refused here too, on the
routes that spend it (`miss_routes`: method, path → budget name; a path ending in "/" stands for
that prefix plus one path segment).

Password hashing at capacity (`hashing_routes`, e.g. login and registration): when the
requests already waiting for a hashing slot would hold every slot past the wait limit
(infra/auth.PasswordPool.saturated), a request on those routes gets the pool's 503 `busy`
(Retry-After: 1) here, before its body is read, its limits are counted in Redis or its account
is read: the 503 it would have got after all that and up to `hashing_wait_ms` of waiting.

Installed by wrapping `Litestar.asgi_handler` (app.py), which Litestar calls with the app and
state already in the scope. Redis down: nothing new is refused (fail open, as before); refusals
remembered before stay exact until they expire.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

import jwt
import msgspec
from litestar.connection import ASGIConnection

from livevote.errors import PROBLEM_JSON, TYPE_BASE
from livevote.infra import metrics
from livevote.infra.auth import ATTENDEE_COOKIE, BUSY_DETAIL, PasswordPool, TokenService
from livevote.infra.ratelimit import (
    RULES_KEY,
    RateLimiter,
    limit_detail,
    miss_detail,
    request_rules,
)
from livevote.infra.refusals import Refusal

_TITLE = "Too many requests"
_BUSY_TITLE = "Service temporarily unavailable"
_CONTENT_TYPE = (b"content-type", PROBLEM_JSON.encode())


class EdgeGuard:
    def __init__(
        self,
        app: Any,
        miss_routes: dict[tuple[str, str], str] | None = None,
        hashing_routes: frozenset[tuple[str, str]] = frozenset(),
    ) -> None:
        self.app = app
        self.miss_routes = miss_routes or {}
        self.hashing_routes = hashing_routes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        limiter: RateLimiter | None = None
        if scope["type"] == "http":
            limiter = getattr(scope["app"].state, "limiter", None)
        if limiter is None or not limiter.refused:  # nothing remembered, nothing to refuse
            if not await self._hashing_busy(scope, send):
                await self.app(scope, receive, send)
            return
        connection: ASGIConnection[Any, Any, Any, Any] = ASGIConnection(scope)
        memo = limiter.refused
        refused = self._refused_address(scope, connection, limiter)
        if refused is None:
            rules = request_rules(scope, connection, limiter)
            scope["state"][RULES_KEY] = rules
            for rule in rules:
                refused = memo.check(limiter.memo_key(rule))
                if refused is not None:
                    break
        if refused is not None:
            refusal, left = refused
            retry_after = max(1, math.ceil(left))
            headers = [
                (b"x-ratelimit-limit", str(refusal.limit).encode()),
                (b"x-ratelimit-remaining", b"0"),
                (b"x-ratelimit-reset", str(math.ceil(time.time() + left)).encode()),
            ]
            detail = limit_detail(refusal.limit, refusal.rule, retry_after)
            await _refuse(scope, send, refusal.rule, "rate-limited", detail, retry_after, headers)
            return
        name = self._miss_budget(scope)
        if name is not None:
            refused = memo.check(f"{name}:{limiter.client_address(connection)}")
            if refused is not None:
                retry_after = max(1, math.ceil(refused[1]))
                detail = miss_detail(name, retry_after)
                await _refuse(scope, send, name, name, detail, retry_after, [])
                return
        if not await self._hashing_busy(scope, send):
            await self.app(scope, receive, send)

    async def _hashing_busy(self, scope: Any, send: Any) -> bool:
        """A login or registration while password hashing is at capacity: answered 503 here."""
        if scope["type"] != "http" or (scope["method"], scope["path"]) not in self.hashing_routes:
            return False
        pool: PasswordPool | None = getattr(scope["app"].state, "passwords", None)
        if pool is None or not pool.saturated():
            return False
        metrics.HASHING_BUSY.labels("edge").inc()
        await _send_problem(scope, send, 503, "busy", _BUSY_TITLE, BUSY_DETAIL, 1, [])
        return True

    @staticmethod
    def _refused_address(
        scope: Any, connection: ASGIConnection[Any, Any, Any, Any], limiter: RateLimiter
    ) -> tuple[Refusal, float] | None:
        """An API request from an address refused at factor 1 is refused before its token is
        verified, unless it claims to be an attendee (whose requests count at the venue
        factor): a user token, a bad token or none all count at factor 1."""
        if not scope["path"].startswith("/api/"):
            return None
        rule = limiter.address_rule(limiter.client_address(connection))
        refused = limiter.refused.check(limiter.memo_key(rule))
        if refused is None or _claims_attendee(connection):
            return None
        return refused

    def _miss_budget(self, scope: Any) -> str | None:
        if not self.miss_routes:
            return None
        path: str = scope["path"]
        method: str = scope["method"]
        name = self.miss_routes.get((method, path))
        if name is not None:
            return name
        head, sep, segment = path.rstrip("/").rpartition("/")
        if not sep or not segment:
            return None
        return self.miss_routes.get((method, head + "/"))


def _claims_attendee(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    """Whether the request may carry an attendee credential (not verified: a cheap look)."""
    if connection.cookies.get(ATTENDEE_COOKIE):
        return True
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    try:
        claims = jwt.decode(token.strip(), options={"verify_signature": False})
    except jwt.PyJWTError:
        return False
    tokens: TokenService = connection.app.state.tokens
    aud = claims.get("aud")
    return aud == tokens.attendee_audience or (
        isinstance(aud, list) and tokens.attendee_audience in aud
    )


async def _refuse(
    scope: Any,
    send: Any,
    rule: str,
    type_: str,
    detail: str,
    retry_after: int,
    headers: list[tuple[bytes, bytes]],
) -> None:
    """The 429 problem+json handle_exception would render, sent straight to the server."""
    metrics.RATE_LIMITED.labels(rule).inc()
    metrics.EDGE_REFUSED.labels(rule).inc()
    await _send_problem(scope, send, 429, type_, _TITLE, detail, retry_after, headers)


async def _send_problem(
    scope: Any,
    send: Any,
    status: int,
    type_: str,
    title: str,
    detail: str,
    retry_after: int,
    headers: list[tuple[bytes, bytes]],
) -> None:
    body = msgspec.json.encode(
        {
            "type": TYPE_BASE + type_,
            "title": title,
            "status": status,
            "detail": detail,
            "instance": scope["path"],
        }
    )
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                _CONTENT_TYPE,
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(retry_after).encode()),
                *headers,
                (b"x-request-id", os.urandom(8).hex().encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
