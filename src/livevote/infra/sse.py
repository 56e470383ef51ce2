"""SSE responses fed by the broadcaster (Litestar's own `ServerSentEvent`).

    return sse_stream(broadcaster, "event:<id>", settings.sse, stream="events")

The stream sends, in order:
1. `retry: <settings.sse.retry_ms>` (reconnect delay hint);
2. the channel's full `state` snapshot (`event: state`, `id: <n>`, `data: <json>`), so a
   (re)connecting client never misses anything;
3. every newer snapshot (coalesced by the broadcaster; `id:` monotonic per channel);
4. `: keep-alive` comments after `heartbeat_seconds` without a message;
5. after `max_stream_seconds`, a final `retry:` hint and the end of the response (clients
   reconnect and load-balancers rebalance);
6. on shutdown (SIGTERM/SIGINT, see broadcaster.close_streams) the same: a final `retry:`
   hint at once, so the graceful shutdown is not held open by streams.
A client disconnect cancels the generator (Litestar listens for `http.disconnect`); the
subscription is released and the `livevote_sse_streams_open{stream}` gauge is decremented in
`finally` either way. Frames are the broadcaster's pre-encoded bytes: nothing is re-encoded per
connection.

Caps (every domain's stream gets them here, before the response starts; `StreamSlots`):
- concurrent streams per valid credential (user or attendee; `sse.max_per_credential`) and
  per client address (IPv6 /64; `sse.max_per_address`) → 429 type `stream-limit`. Counted in
  Redis (a sorted set of slot ids per credential/address, scored by expiry) so the cap holds
  across workers; a slot is released in `finally`, refreshed while its stream lives, and
  expires `sse.slot_ttl_seconds` after a crashed process stopped refreshing it. Redis
  unreachable: these two caps fail open, like the rate limits.
- concurrent streams per process (`sse.max_per_process`) → 503 type `stream-limit`.
Both answers carry Retry-After. A refused client costs one Redis script and never touches
the broadcaster, so it cannot degrade anybody else's stream.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import AsyncIterator
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.response import ServerSentEvent
from litestar.response.base import ASGIResponse
from litestar.response.sse import ServerSentEventMessage
from redis.asyncio import Redis
from redis.exceptions import RedisError

from livevote.config import SseSettings
from livevote.errors import RateLimited, ServiceUnavailable
from livevote.infra import metrics
from livevote.infra.auth import peek_identity
from livevote.infra.broadcaster import CLOSING, Broadcaster

log = logging.getLogger("livevote.sse")

# KEYS: slot sets. ARGV: member, ttl_ms, then one limit per key.
# Returns 0 when a slot was taken in every set, else the index of the full set.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
for i = 1, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
  if redis.call('ZCARD', KEYS[i]) >= tonumber(ARGV[2 + i]) then return i end
end
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], now + ttl, ARGV[1])
  redis.call('PEXPIRE', KEYS[i], ttl)
end
return 0
"""
# KEYS: slot sets. ARGV: member, ttl_ms. Pushes the slot's expiry forward while it lives.
_REFRESH = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], 'XX', now + tonumber(ARGV[2]), ARGV[1])
  redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[2]))
end
return 1
"""


class Lease:
    """One stream's slots: refreshed while the stream lives, released in `finally`."""

    def __init__(self, slots: StreamSlots | None, keys: list[str], member: str) -> None:
        self.slots = slots
        self.keys = keys
        self.member = member
        self.refreshed = time.monotonic()

    async def refresh_if_due(self) -> None:
        if self.slots is None or not self.keys:
            return
        if time.monotonic() - self.refreshed < self.slots.ttl_s / 3:
            return
        self.refreshed = time.monotonic()
        try:
            await self.slots.refresh_script(keys=self.keys, args=[self.member, self.slots.ttl_ms])
        except RedisError:
            return  # fail open; the next refresh tries again

    async def release(self) -> None:
        if self.slots is None:
            return
        slots, self.slots = self.slots, None
        slots.open -= 1
        if not self.keys:
            return
        try:
            pipe = slots.redis.pipeline(transaction=False)
            for key in self.keys:
                pipe.zrem(key, self.member)
            await pipe.execute()
        except RedisError:
            return  # the slot expires after sse.slot_ttl_seconds


class StreamSlots:
    """Concurrent-stream caps per credential, per address and per process (one per process,
    `app.state.stream_slots`, created by the Redis lifespan)."""

    def __init__(self, redis: Redis, settings: SseSettings, prefix: str) -> None:
        self.redis = redis
        self.settings = settings
        self.prefix = prefix
        self.ttl_s = settings.slot_ttl_seconds
        self.ttl_ms = int(settings.slot_ttl_seconds * 1000)
        self.open = 0
        self._acquire = redis.register_script(_ACQUIRE)
        self.refresh_script = redis.register_script(_REFRESH)

    async def acquire(self, connection: ASGIConnection[Any, Any, Any, Any]) -> Lease:
        s = self.settings
        if self.open >= s.max_per_process:
            metrics.RATE_LIMITED.labels("stream-process").inc()
            raise ServiceUnavailable(
                "this server holds as many live streams as it may; retry shortly",
                retry_after=5,
                type="stream-limit",
            )
        self.open += 1
        lease = Lease(self, [], os.urandom(8).hex())
        try:
            rules: list[tuple[str, str, int]] = []
            identity = peek_identity(connection)
            if identity is not None:
                kind, subject = identity
                rules.append(
                    ("credential", f"{self.prefix}sse:{kind}:{subject}", s.max_per_credential)
                )
            limiter = connection.app.state.limiter
            address = limiter.client_address(connection)
            rules.append(("address", f"{self.prefix}sse:address:{address}", s.max_per_address))
            keys = [key for _, key, _ in rules]
            try:
                full = int(
                    await self._acquire(
                        keys=keys,
                        args=[lease.member, self.ttl_ms, *(limit for _, _, limit in rules)],
                    )
                )
            except RedisError as exc:
                log.warning("stream caps skipped: redis unavailable", extra={"error": repr(exc)})
                metrics.RATE_LIMIT_FAIL_OPEN.inc()
                return lease
            if full:
                scope, _, limit = rules[full - 1]
                metrics.RATE_LIMITED.labels(f"stream-{scope}").inc()
                raise RateLimited(
                    f"at most {limit} concurrent live streams per {scope}; close one first",
                    retry_after=10,
                    type="stream-limit",
                )
            lease.keys = keys
            return lease
        except BaseException:
            await lease.release()
            raise


class _CappedResponse(ASGIResponse):
    """Takes the stream's slots before the response starts (a refusal is then an ordinary
    problem answer from the one error handler) and gives them back when it ends."""

    def __init__(self, inner: ASGIResponse, holder: list[Lease], slots: StreamSlots) -> None:
        self.inner = inner
        self.holder = holder
        self.slots = slots

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        lease = await self.slots.acquire(ASGIConnection(scope))
        self.holder.append(lease)
        try:
            await self.inner(scope, receive, send)
        finally:
            await lease.release()


class _CappedStream(ServerSentEvent):
    def __init__(self, content: AsyncIterator[ServerSentEventMessage], holder: list[Lease]):
        super().__init__(content, headers={"Cache-Control": "no-cache, no-transform"})
        self.holder = holder

    def to_asgi_response(
        self, app: Any, request: Request[Any, Any, Any], **kw: Any
    ) -> ASGIResponse:
        inner = super().to_asgi_response(app, request, **kw)
        slots: StreamSlots = request.app.state.stream_slots
        return _CappedResponse(inner, self.holder, slots)


class _Encoded(ServerSentEventMessage):
    """A frame encoded once by the broadcaster; Litestar writes it as is."""

    def __init__(self, frame: bytes) -> None:
        super().__init__()
        self.frame = frame

    def encode(self) -> bytes:
        return self.frame


_HEARTBEAT = _Encoded(b": keep-alive\n\n")


async def stream_messages(
    broadcaster: Broadcaster,
    key: str,
    settings: SseSettings,
    *,
    stream: str,
    holder: list[Lease] | None = None,
) -> AsyncIterator[ServerSentEventMessage]:
    lease = holder[0] if holder else Lease(None, [], "")
    gauge = metrics.SSE_OPEN.labels(stream)
    gauge.inc()
    try:
        async with broadcaster.subscribe(key) as sub:
            yield _Encoded(b"retry: %d\n\n" % settings.retry_ms)
            if broadcaster.closing:
                sub.offer(CLOSING)
            deadline = time.monotonic() + settings.max_stream_seconds
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    yield _Encoded(
                        b": stream lifetime reached, reconnect\nretry: %d\n\n" % settings.retry_ms
                    )
                    return
                message = await sub.next(timeout=min(settings.heartbeat_seconds, remaining))
                await lease.refresh_if_due()
                if message is CLOSING:
                    yield _Encoded(
                        b": server shutting down, reconnect\nretry: %d\n\n" % settings.retry_ms
                    )
                    return
                yield _HEARTBEAT if message is None else _Encoded(message.frame)
    finally:
        gauge.dec()


def sse_stream(
    broadcaster: Broadcaster, key: str, settings: SseSettings, *, stream: str
) -> ServerSentEvent:
    """The Litestar response for one subscriber of channel `key`, under the stream caps."""
    holder: list[Lease] = []  # filled by _CappedResponse before the first message
    return _CappedStream(
        stream_messages(broadcaster, key, settings, stream=stream, holder=holder), holder
    )
