"""Rate limits, enforced atomically in Redis so that every worker process shares them.

Sliding-window logs (one sorted set per key, one Lua script per request): exact for any
window, correct across workers, clock taken from Redis itself.

Rules, per request to /api/*:
- a valid user token        → `user:<id>`      user_per_minute / 60 s
- a valid attendee credential → `attendee:<id>` attendee_per_minute / 60 s
- no credential             → `address:<ip>`   address_per_second / 1 s
- with a credential the address rule still applies, but at VENUE_FACTOR times the limit: a venue
  puts hundreds of phones behind one NAT address, so attendees are limited per attendee.
`X-Forwarded-For` is honoured only when the peer is a configured trusted proxy.

Redis down: API limits fail open (counted in livevote_rate_limit_fail_open_total and logged);
login brute-force protection fails closed (503), because guessing passwords is the attack.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import os
import time
from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection
from redis.asyncio import Redis
from redis.exceptions import RedisError

from livevote.config import LimitSettings
from livevote.errors import RateLimited, ServiceUnavailable
from livevote.infra import metrics
from livevote.infra.auth import peek_identity

log = logging.getLogger("livevote.ratelimit")

VENUE_FACTOR = 10

# KEYS: one per rule. ARGV: member, then (limit, window_ms) per key.
# Returns {allowed, failed_rule_index, now_ms, r1_remaining, r1_reset_ms, r2_remaining, ...}
_SLIDING_WINDOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local member = ARGV[1]
local out = {1, 0, now}
for i = 1, #KEYS do
  local limit = tonumber(ARGV[2 * i])
  local window = tonumber(ARGV[2 * i + 1])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  local count = redis.call('ZCARD', KEYS[i])
  local reset = now + window
  if count > 0 then
    local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
    reset = tonumber(oldest[2]) + window
  end
  if count >= limit then
    out[1] = 0
    out[2] = i
  end
  out[#out + 1] = limit - count
  out[#out + 1] = reset
end
if out[1] == 1 then
  for i = 1, #KEYS do
    redis.call('ZADD', KEYS[i], now, member)
    redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[2 * i + 1]))
  end
end
return out
"""


@dataclass(frozen=True)
class Rule:
    name: str
    key: str
    limit: int
    window_ms: int


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_epoch: int
    retry_after: int
    rule: str


class RateLimiter:
    def __init__(self, redis: Redis, settings: LimitSettings, prefix: str) -> None:
        self.redis = redis
        self.settings = settings
        self.prefix = prefix
        self._script = redis.register_script(_SLIDING_WINDOW)
        self._trusted = [ipaddress.ip_network(p, strict=False) for p in settings.trusted_proxies]

    def client_address(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str:
        peer = connection.client.host if connection.client else "unknown"
        if not self._trusted or not _in(peer, self._trusted):
            return peer
        forwarded = connection.headers.get("x-forwarded-for", "")
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        # Walk from the nearest hop; the first address that is not a trusted proxy is the client.
        for hop in reversed(hops):
            if not _in(hop, self._trusted):
                return hop
        return peer

    def rules_for(self, connection: ASGIConnection[Any, Any, Any, Any]) -> list[Rule]:
        s = self.settings
        address = self.client_address(connection)
        identity = peek_identity(connection)
        if identity is None:
            return [Rule("address", f"address:{address}", s.address_per_second, 1000)]
        kind, subject = identity
        per_minute = s.user_per_minute if kind == "user" else s.attendee_per_minute
        return [
            Rule(kind, f"{kind}:{subject}", per_minute, 60_000),
            Rule("address", f"address:{address}", s.address_per_second * VENUE_FACTOR, 1000),
        ]

    async def hit(self, rules: list[Rule]) -> Decision | None:
        """Count one request against every rule; None when Redis is unreachable (fail open)."""
        keys = [f"{self.prefix}rl:{r.key}" for r in rules]
        args: list[Any] = [os.urandom(8).hex()]
        for r in rules:
            args += [r.limit, r.window_ms]
        try:
            out = await self._script(keys=keys, args=args)
        except RedisError as exc:
            metrics.RATE_LIMIT_FAIL_OPEN.inc()
            log.warning("rate limit skipped: redis unavailable", extra={"error": repr(exc)})
            return None
        allowed, failed, now = int(out[0]), int(out[1]), int(out[2])
        # Report the rule that failed, else the one with the fewest requests left.
        per_rule = [(int(out[3 + 2 * i]), int(out[4 + 2 * i])) for i in range(len(rules))]
        index = failed - 1 if failed else min(range(len(rules)), key=lambda i: per_rule[i][0])
        remaining, reset_ms = per_rule[index]
        rule = rules[index]
        if allowed:
            remaining -= 1
        return Decision(
            allowed=bool(allowed),
            limit=rule.limit,
            remaining=max(0, remaining),
            reset_epoch=math.ceil(reset_ms / 1000),
            retry_after=max(1, math.ceil((reset_ms - now) / 1000)),
            rule=rule.name,
        )

    async def _failures(self, key: str, window_s: int) -> int:
        return int(await self.redis.zcount(key, f"({_now_ms() - window_s * 1000}", "+inf"))

    async def check_login(self, email: str, address: str) -> None:
        """Refuse a login attempt while an account or an address has too many recent failures."""
        window = 15 * 60
        try:
            by_account = await self._failures(f"{self.prefix}login:acct:{email}", window)
            by_address = await self._failures(f"{self.prefix}login:addr:{address}", window)
        except RedisError as exc:
            raise ServiceUnavailable("login is unavailable: limiter unreachable") from exc
        if by_account >= self.settings.login_failures_per_account:
            metrics.RATE_LIMITED.labels("login-account").inc()
            raise RateLimited(
                "too many failed logins for this account; try again later",
                retry_after=window,
                type="login-locked",
            )
        if by_address >= self.settings.login_failures_per_address:
            metrics.RATE_LIMITED.labels("login-address").inc()
            raise RateLimited(
                "too many failed logins from this address; try again later",
                retry_after=window,
                type="login-locked",
            )

    async def record_login_failure(self, email: str, address: str) -> None:
        now = _now_ms()
        member = f"{now}:{os.urandom(4).hex()}"
        pipe = self.redis.pipeline(transaction=True)
        for key in (f"{self.prefix}login:acct:{email}", f"{self.prefix}login:addr:{address}"):
            pipe.zadd(key, {member: now})
            pipe.zremrangebyscore(key, "-inf", now - 15 * 60 * 1000)
            pipe.expire(key, 15 * 60)
        try:
            await pipe.execute()
        except RedisError as exc:
            raise ServiceUnavailable("login is unavailable: limiter unreachable") from exc


def _now_ms() -> int:
    return int(time.time() * 1000)


def _in(address: str, networks: list[Any]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


class RateLimitMiddleware:
    """ASGI middleware for /api/*: 429 with Retry-After, X-RateLimit-* on every answer."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        connection: ASGIConnection[Any, Any, Any, Any] = ASGIConnection(scope)
        limiter: RateLimiter = connection.app.state.limiter
        decision = await limiter.hit(limiter.rules_for(connection))
        if decision is None:
            await self.app(scope, receive, send)
            return
        headers = {
            "X-RateLimit-Limit": str(decision.limit),
            "X-RateLimit-Remaining": str(decision.remaining),
            "X-RateLimit-Reset": str(decision.reset_epoch),
        }
        if not decision.allowed:
            metrics.RATE_LIMITED.labels(decision.rule).inc()
            raise RateLimited(
                f"rate limit of {decision.limit} requests per "
                f"{'minute' if decision.rule != 'address' else 'second'} reached "
                f"({decision.rule}); retry in {decision.retry_after}s",
                retry_after=decision.retry_after,
                headers=headers,
            )
        raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]

        async def send_wrapper(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *raw]
            await send(message)

        await self.app(scope, receive, send_wrapper)
