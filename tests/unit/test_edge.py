"""EdgeGuard (infra/edge) in front of an app that records what reaches it: with no refusal
remembered it does no rule work (Litestar runs RateLimitMiddleware, which works the rules out,
for routed requests only, so an unknown path costs none); once one is remembered it answers
that address's requests itself."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from redis.asyncio import Redis

from livevote.config import JwtSettings, LimitSettings
from livevote.infra.auth import TokenService
from livevote.infra.edge import EdgeGuard
from livevote.infra.ratelimit import RULES_KEY, RateLimiter, Rule


def _scope(app: Any, path: str, token: str) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"authorization", f"Bearer {token}".encode())],
        "client": ("10.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
        "scheme": "http",
        "app": app,
        "litestar_app": app,
        "state": {},
    }


async def test_nothing_remembered_no_rule_work_then_a_remembered_refusal_is_answered() -> None:
    settings = LimitSettings()
    # A client object only: nothing here talks to Redis (the edge never does).
    limiter = RateLimiter(Redis.from_url("redis://127.0.0.1:9"), settings, "t:")
    tokens = TokenService(JwtSettings())
    app = SimpleNamespace(state=SimpleNamespace(limiter=limiter, tokens=tokens))
    token = tokens.issue_user("u1")
    reached: list[dict[str, Any]] = []
    sent: list[dict[str, Any]] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    edge = EdgeGuard(inner)
    await edge(_scope(app, "/api/no/such/route", token), receive, send)
    assert len(reached) == 1 and not sent
    assert RULES_KEY not in reached[0]["state"]  # no token verified, no rules worked out

    address = Rule("address", "address:10.0.0.1", settings.address_per_second, 1000)
    limiter.refused.remember(limiter.memo_key(address), address.limit, "address", 30)
    await edge(_scope(app, "/api/events/mine", token), receive, send)
    assert len(reached) == 1  # answered at the edge
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 429
