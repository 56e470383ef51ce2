"""Rate limits, enforced atomically in Redis so that every worker process shares them.

Sliding-window logs (one sorted set per key, one Lua script per request): exact for any
window, correct across workers, clock taken from Redis itself.

Rules, per request to /api/*:
- a valid user token        → `user:<id>`      user_per_minute / 60 s
- a valid attendee credential → `attendee:<id>` attendee_per_minute / 60 s
- every request             → `address:<ip>`   address_per_second / 1 s, at VENUE_FACTOR times
  the limit for requests with a valid *attendee* credential only: a venue puts hundreds of
  phones behind one NAT address, so attendees are limited per attendee. User tokens are free
  to mint (anyone may register), so they get no factor.
Per request to an HTML page (not /static, /health, /metrics):
- `page:<ip>` pages_per_address_per_minute / 60 s — high enough for a venue's phones all
  opening `/e/{code}` at once, low enough that guessing join codes gets nowhere.
Named rules for the accounts domain (`limit`): register and login attempts per address.
Miss budgets (`misses`): lookups by a guessable key (join codes) cost nothing while they find
something; each miss is one Redis round trip against `<name>:<ip>`, and once an address has
spent its budget every lookup from it — hits too, or a 200 among the 429s would still tell
codes apart — answers 429 until the window frees a miss (remembered in-process, so a refused
address costs neither Redis nor the database).

Refused at the edge: every refusal is remembered in-process until its window frees
(infra/refusals.RefusalMemo, keyed by what the rule counted), and infra/edge.EdgeGuard — in
front of Litestar — answers the same 429 to that key's next requests with no Redis, no routing
and no database (counted in livevote_rate_limit_edge_rejections_total as well).

A client address is the peer, or, when the peer is a trusted proxy
(limits.trusted_proxies), the nearest untrusted `X-Forwarded-For` hop. Every per-address rule
groups IPv6 clients by /64 (one subscriber's whole prefix is one address). The same trusted
proxies alone may say the client spoke https (`X-Forwarded-Proto`), which makes
`request.url.scheme` "https" (and the attendee cookie `Secure`).

Redis down: API and page limits fail open (counted in livevote_rate_limit_fail_open_total and
logged); `limit(..., fail_open=False)` fails closed (503) — login uses it, because guessing
passwords is the attack.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import math
import os
from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection
from redis.asyncio import Redis
from redis.exceptions import NoScriptError, RedisError

from livevote.config import LimitSettings
from livevote.errors import RateLimited, ServiceUnavailable
from livevote.infra import metrics
from livevote.infra.auth import peek_identity
from livevote.infra.prefetch import PREFETCH, PREFETCHED, Prefetch
from livevote.infra.refusals import RefusalMemo

# Paths outside every per-request rule: assets, probes, scrapes.
_UNLIMITED = ("/static/", "/health/", "/metrics")

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
    key: str = ""  # the rule's key at its limit (RateLimiter.memo_key)
    retry_s: float = 0.0  # exact: until the window's oldest entry expires


class RateLimiter:
    def __init__(self, redis: Redis, settings: LimitSettings, prefix: str) -> None:
        self.redis = redis
        self.settings = settings
        self.prefix = prefix
        self._script = redis.register_script(_SLIDING_WINDOW)
        self._trusted = [ipaddress.ip_network(p, strict=False) for p in settings.trusted_proxies]
        # rule key at its limit (and "<name>:<address>" of spent miss budgets) -> refused until
        self.refused = RefusalMemo()

    @staticmethod
    def memo_key(rule: Rule) -> str:
        """What a rule counted: its key at its limit (the venue factor makes another key)."""
        return f"{rule.key}@{rule.limit}"

    def remember(self, decision: Decision) -> None:
        """Refuse the failed rule's key in-process until its window frees a request."""
        self.refused.remember(decision.key, decision.limit, decision.rule, decision.retry_s)

    def client_ip(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str:
        """The client's own address: the peer, or the nearest untrusted forwarded hop."""
        peer = connection.client.host if connection.client else "unknown"
        if not self.trusts(peer):
            return peer
        forwarded = connection.headers.get("x-forwarded-for", "")
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        # Walk from the nearest hop; the first address that is not a trusted proxy is the client.
        for hop in reversed(hops):
            if not _in(hop, self._trusted):
                return hop
        return peer

    def client_address(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str:
        """The key of every per-address rule: the client IP, IPv6 grouped by /64."""
        return address_bucket(self.client_ip(connection))

    def trusts(self, peer: str) -> bool:
        return bool(self._trusted) and _in(peer, self._trusted)

    def rules_for(self, connection: ASGIConnection[Any, Any, Any, Any]) -> list[Rule]:
        s = self.settings
        address = self.client_address(connection)
        identity = peek_identity(connection)
        if identity is None:
            return [self.address_rule(address)]
        kind, subject = identity
        per_minute = s.user_per_minute if kind == "user" else s.attendee_per_minute
        factor = VENUE_FACTOR if kind == "attendee" else 1
        return [
            Rule(kind, f"{kind}:{subject}", per_minute, 60_000),
            self.address_rule(address, factor),
        ]

    def address_rule(self, address: str, factor: int = 1) -> Rule:
        """The per-second rule of one client address (`factor`: the venue factor)."""
        return Rule(
            "address", f"address:{address}", self.settings.address_per_second * factor, 1000
        )

    def page_rule(self, connection: ASGIConnection[Any, Any, Any, Any]) -> Rule:
        address = self.client_address(connection)
        return Rule("page", f"page:{address}", self.settings.pages_per_address_per_minute, 60_000)

    async def limit(
        self, name: str, address: str, limit: int, *, window_s: int = 60, fail_open: bool = True
    ) -> None:
        """Count one attempt of a named per-address rule; 429 (type `<name>-rate`) when over."""
        rule = Rule(name, f"{name}:{address}", limit, window_s * 1000)
        decision = await self.hit([rule])
        if decision is None:
            if fail_open:
                return
            raise ServiceUnavailable(f"{name} is unavailable: limiter unreachable")
        if not decision.allowed:
            metrics.RATE_LIMITED.labels(name).inc()
            raise RateLimited(
                f"too many {name} attempts from this address; retry in {decision.retry_after}s",
                retry_after=decision.retry_after,
                type=f"{name}-rate",
            )

    def misses(self, name: str, address: str, limit: int) -> MissBudget:
        """The per-minute budget of misses `name` for `address` (see the module docstring)."""
        return MissBudget(self, name, address, limit)

    async def hit(self, rules: list[Rule], prefetch: Prefetch | None = None) -> Decision | None:
        """Count one request against every rule; None when Redis is unreachable (fail open).
        `prefetch`: read-only commands sent in the same round trip; their replies are put in
        it (left empty if the round trip failed)."""
        keys = [f"{self.prefix}rl:{r.key}" for r in rules]
        args: list[Any] = [os.urandom(8).hex()]
        for r in rules:
            args += [r.limit, r.window_ms]
        try:
            if prefetch:
                out = await self._hit_with(keys, args, prefetch)
            else:
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
            key=self.memo_key(rule),
            retry_s=max(0, reset_ms - now) / 1000,
        )

    async def _hit_with(self, keys: list[str], args: list[Any], prefetch: Prefetch) -> Any:
        """The rate-limit script and the prefetched reads in one pipeline (one round trip)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.evalsha(self._script.sha, len(keys), *keys, *args)
        for command in prefetch.commands:
            pipe.execute_command(*command)
        out, *replies = await pipe.execute(raise_on_error=False)
        if isinstance(out, NoScriptError):  # Redis restarted: load the script, prefetch nothing
            return await self._script(keys=keys, args=args)
        if isinstance(out, Exception):
            raise out
        prefetch.store(replies)
        return out


class MissBudget:
    """One address's budget of failed lookups: `check()` before looking up (no round trip),
    `await miss()` when nothing was found (one round trip; 429 of type `name` over budget).
    Redis down: misses go uncounted (fail open)."""

    def __init__(self, limiter: RateLimiter, name: str, address: str, limit: int) -> None:
        self.limiter, self.name, self.limit = limiter, name, limit
        self.key = f"{name}:{address}"

    def check(self) -> None:
        refused = self.limiter.refused.check(self.key)
        if refused is not None:
            self._refuse(math.ceil(refused[1]))

    async def miss(self) -> None:
        decision = await self.limiter.hit([Rule(self.name, self.key, self.limit, 60_000)])
        if decision is None or decision.allowed:
            return
        self.limiter.refused.remember(self.key, self.limit, self.name, decision.retry_s)
        self._refuse(decision.retry_after)

    def _refuse(self, retry_after: int) -> None:
        metrics.RATE_LIMITED.labels(self.name).inc()
        raise RateLimited(
            miss_detail(self.name, retry_after), retry_after=retry_after, type=self.name
        )


def miss_detail(name: str, retry_after: int) -> str:
    what = name.removesuffix("-lookups")
    return f"too many unknown {what} lookups from this address; retry in {retry_after}s"


def limit_detail(limit: int, rule: str, retry_after: int) -> str:
    per = "second" if rule == "address" else "minute"
    return f"rate limit of {limit} requests per {per} reached ({rule}); retry in {retry_after}s"


@functools.lru_cache(maxsize=8192)  # parsed once per client address, not once per request
def address_bucket(address: str) -> str:
    """IPv6 clients are grouped by /64 (a home or phone gets a whole /64); IPv4 stays as is."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _in(address: str, networks: list[Any]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


RULES_KEY = "livevote_rate_rules"


def request_rules(
    scope: Any, connection: ASGIConnection[Any, Any, Any, Any], limiter: RateLimiter
) -> list[Rule]:
    """The forwarded scheme from trusted proxies, then the rules this request counts against
    (none for assets, probes and scrapes)."""
    _forwarded_scheme(scope, connection, limiter)
    path: str = scope["path"]
    if path.startswith("/api/"):
        return limiter.rules_for(connection)
    if path.startswith(_UNLIMITED):
        return []
    return [limiter.page_rule(connection)]


class RateLimitMiddleware:
    """ASGI middleware: the forwarded scheme from trusted proxies, then the request limits —
    /api/* (429 with Retry-After, X-RateLimit-* on every answer) and HTML pages per address."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limiter: RateLimiter = scope["app"].state.limiter
        rules = scope["state"].get(RULES_KEY)  # infra/edge.EdgeGuard worked them out
        if rules is None:
            connection: ASGIConnection[Any, Any, Any, Any] = ASGIConnection(scope)
            rules = request_rules(scope, connection, limiter)
        if not rules:
            await self.app(scope, receive, send)
            return
        prefetch = None
        make = scope["route_handler"].opt.get(PREFETCH)
        if make is not None:
            prefetch = scope["state"][PREFETCHED] = make(scope, rules)
        decision = await limiter.hit(rules, prefetch)
        if decision is None:
            await self.app(scope, receive, send)
            return
        if not decision.allowed:
            headers = {
                "X-RateLimit-Limit": str(decision.limit),
                "X-RateLimit-Remaining": str(decision.remaining),
                "X-RateLimit-Reset": str(decision.reset_epoch),
            }
            metrics.RATE_LIMITED.labels(decision.rule).inc()
            limiter.remember(decision)
            raise RateLimited(
                limit_detail(decision.limit, decision.rule, decision.retry_after),
                retry_after=decision.retry_after,
                headers=headers,
            )
        raw = [
            (b"x-ratelimit-limit", str(decision.limit).encode()),
            (b"x-ratelimit-remaining", str(decision.remaining).encode()),
            (b"x-ratelimit-reset", str(decision.reset_epoch).encode()),
        ]

        async def send_wrapper(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *raw]
            await send(message)

        await self.app(scope, receive, send_wrapper)


def _forwarded_scheme(
    scope: Any, connection: ASGIConnection[Any, Any, Any, Any], limiter: RateLimiter
) -> None:
    """Behind a TLS-terminating trusted proxy the request was https: say so in the scope,
    so `request.url.scheme` (and with it the attendee cookie's `Secure` flag) is right."""
    peer = connection.client.host if connection.client else ""
    proto = connection.headers.get("x-forwarded-proto", "")
    if proto and limiter.trusts(peer):
        # the proxy nearest to us appended last
        scheme = proto.split(",")[-1].strip().lower()
        if scheme in ("http", "https"):
            scope["scheme"] = scheme
