"""SSE responses fed by the broadcaster (Litestar routes; a lean ASGI response writes).

    return sse_stream(broadcaster, "event:<id>", settings.sse, stream="events")

The stream sends, in order:
1. `retry: <settings.sse.retry_ms>` (reconnect delay hint);
2. the channel's full snapshot (`event: state`, `id: <n>`, `data: <json>`), and that of
   every companion channel joined beside it (the event stream's `event: activities`), so a
   (re)connecting client never misses anything;
3. every newer snapshot (coalesced by the broadcaster; `id:` monotonic per channel);
4. `: keep-alive` comments after `heartbeat_seconds` without a message;
5. after `max_stream_seconds`, a final `retry:` hint and the end of the response (clients
   reconnect and load-balancers rebalance);
6. on shutdown (SIGTERM/SIGINT, see broadcaster.close_streams) the same: a final `retry:`
   hint at once, so the graceful shutdown is not held open by streams.
A client disconnect (`http.disconnect`) ends the stream; the subscription and the slots are
released and the `livevote_sse_streams_open{stream}` gauge is decremented in `finally` either
way. Frames are the broadcaster's pre-encoded bytes: nothing is re-encoded per connection.
Under uvicorn + httptools, once the initial snapshots are out the stream's task attaches
its `DisconnectSignal` as the slot's sink: the broadcaster's fan-out then writes each frame
(as a ready HTTP chunk) to the transport itself and the task sleeps until the stream ends
or its client falls behind (slots.py, "Direct writes"). A client behind (the transport
paused writing) gets the newest frame once the buffer drained; if that takes longer than
`sse.stall_seconds` the connection is dropped (`livevote_sse_stalled_total`): its memory
stays bounded and its stream slots are released; a client that resumes reconnects with
Last-Event-ID and gets the current state.

Memory per stream (issue 13; tests/integration/platform/test_sse_memory.py): the handler
returns a `ServerSentEvent` (routing, OpenAPI and headers stay Litestar's), but the ASGI side
is `_StreamResponse`, which writes frames with `send` itself: no anyio task group, no
iterator wrappers, no thread hop. Once the start and the retry hint went out through the
middleware, the stream leaves the middleware stack (`slots.detaching`, installed by the
broadcaster lifespan): the middleware, router and handler frames and Litestar's per-request
state are freed, so the request metrics count a stream's connect only. Per stream there is
the connection, one `Subscription` slot, a `_Stream`, a `Lease` and a `slots.DisconnectSignal`
(uvicorn's connection tells the slot it was lost; no task per stream; under another server,
one small task awaiting `http.disconnect`). Heartbeats and lifetimes come from
the broadcaster's one timer; slot refreshes from ONE per-process timer here, refreshing
every live slot in a pipelined batch.

Caps (every domain's stream gets them here, before the response starts; `StreamSlots`):
- concurrent streams per valid credential (user or attendee; `sse.max_per_credential`) and
  per client address (IPv6 /64; `sse.max_per_address`) → 429 type `stream-limit`. Counted in
  Redis (a sorted set of slot ids per credential/address, scored by expiry) so the cap holds
  across workers; a slot is released in `finally`, refreshed while its stream lives, and
  expires `sse.slot_ttl_seconds` after a crashed process stopped refreshing it (every
  `slot_ttl_seconds / 3`, all slots of the process at once). Redis
  unreachable: these two caps fail open, like the rate limits.
- concurrent streams per process (`sse.max_per_process`) → 503 type `stream-limit`.
Both answers carry Retry-After. A refused client costs one Redis script and never touches
the broadcaster, so it cannot degrade anybody else's stream.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.response import ServerSentEvent
from litestar.response.base import ASGIResponse
from redis.asyncio import Redis
from redis.exceptions import RedisError

from livevote.config import SseSettings
from livevote.errors import RateLimited, ServiceUnavailable
from livevote.infra import metrics
from livevote.infra.auth import peek_identity
from livevote.infra.broadcaster import Broadcaster
from livevote.infra.slots import CLOSING, DETACH, EXPIRED, GONE, DisconnectSignal, Subscription

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
    """One stream's slots: refreshed by the process's timer while the stream lives, released
    in `finally`."""

    __slots__ = ("keys", "member", "slots")

    def __init__(self, slots: StreamSlots | None, keys: list[str], member: str) -> None:
        self.slots = slots
        self.keys = keys
        self.member = member

    async def release(self) -> None:
        if self.slots is None:
            return
        slots, self.slots = self.slots, None
        slots.open -= 1
        slots.leases.discard(self)
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
        self.leases: set[Lease] = set()  # live leases holding Redis slots
        self._timer: asyncio.TimerHandle | None = None
        self._refreshing: asyncio.Task[None] | None = None
        self._acquire = redis.register_script(_ACQUIRE)
        self.refresh_script = redis.register_script(_REFRESH)

    def _hold(self, lease: Lease) -> None:
        self.leases.add(lease)
        if self._timer is None and self._refreshing is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.ttl_s / 3, self._refresh_due)

    def _refresh_due(self) -> None:
        self._timer = None
        if self.leases:
            self._refreshing = asyncio.create_task(self._refresh(), name="sse-slot-refresh")

    async def _refresh(self) -> None:
        """One pipelined round trip per 500 slots, for every live stream of the process."""
        leases = list(self.leases)
        try:
            for i in range(0, len(leases), 500):
                pipe = self.redis.pipeline(transaction=False)
                for lease in leases[i : i + 500]:
                    args: list[str | int] = [lease.member, self.ttl_ms]
                    await self.refresh_script(keys=lease.keys, args=args, client=pipe)
                await pipe.execute()
        except RedisError:
            pass  # fail open; the next round tries again
        finally:
            self._refreshing = None
            if self.leases:
                loop = asyncio.get_running_loop()
                self._timer = loop.call_later(self.ttl_s / 3, self._refresh_due)

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
            self._hold(lease)
            return lease
        except BaseException:
            await lease.release()
            raise


class _StreamResponse:
    """The ASGI side of one stream (see the module docstring): takes the stream's slots
    before the response starts (a refusal is then an ordinary problem answer from the one
    error handler), sends the start and the retry hint through the middleware, then either
    hands the stream to `slots.detaching` (outside the middleware stack) or runs it here."""

    __slots__ = ("broadcaster", "head", "headers", "key", "settings", "status", "stream")

    def __init__(self, spec: _CappedStream, inner: ASGIResponse) -> None:
        self.broadcaster, self.key = spec.broadcaster, spec.key
        self.settings, self.stream = spec.settings, spec.stream
        self.status = inner.status_code
        self.headers: list[tuple[bytes, bytes]] = inner.encode_headers()
        self.head = inner.is_head_response

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        slots: StreamSlots = scope["app"].state.stream_slots
        lease = await slots.acquire(ASGIConnection(scope))
        stream = _Stream(self.broadcaster, self.settings, lease, self.stream)
        try:
            stream.sub = self.broadcaster.join(self.key, self.settings.max_stream_seconds)
            start = {"type": "http.response.start", "status": self.status, "headers": self.headers}
            await send(start)
            if self.head:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                await stream.close()
                return
            await send(_body(b"retry: %d\n\n" % self.settings.retry_ms))
        except BaseException:
            await stream.close()
            raise
        if DETACH in scope:
            scope[DETACH] = stream
        else:
            await stream.run(receive, send)


class _Stream:
    """One live stream after its start: the slot, the lease and the gauge; `run` writes the
    frames until the stream ends and `close` gives everything back."""

    __slots__ = ("broadcaster", "gauge", "lease", "retry", "stall", "sub")

    def __init__(self, broadcaster: Broadcaster, settings: SseSettings, lease: Lease, name: str):
        self.broadcaster = broadcaster
        self.lease: Lease | None = lease
        self.retry = settings.retry_ms
        self.stall = settings.stall_seconds
        self.sub: Subscription | None = None
        self.gauge = metrics.SSE_OPEN.labels(name)
        self.gauge.inc()

    async def run(self, receive: Any, send: Any) -> None:
        sub = self.sub
        assert sub is not None
        signal = DisconnectSignal.install(receive, sub)
        watcher = None if signal else asyncio.create_task(_until_disconnect(receive, sub))
        try:
            if self.broadcaster.closing:
                sub.offer(CLOSING)
            while True:
                message = sub.take()
                if message is None:
                    if signal is not None and signal.writable():
                        sub.sink = signal  # frames now go straight to the connection
                    await sub.ready()  # a bare future: nothing per stream while it waits
                    continue
                if message is GONE:
                    return
                if message is CLOSING:
                    end = b": server shutting down, reconnect\nretry: %d\n\n" % self.retry
                    break
                if message is EXPIRED:
                    end = b": stream lifetime reached, reconnect\nretry: %d\n\n" % self.retry
                    break
                if not await self._send(send, signal, _body(message.frame)):
                    return
            if await self._send(send, signal, _body(end)):
                last = {"type": "http.response.body", "body": b"", "more_body": False}
                await self._send(send, signal, last)
        except OSError:
            return  # the client is gone
        finally:
            if watcher is not None:
                watcher.cancel()
            if signal is not None:
                signal.uninstall()
            await self.close()

    async def _send(self, send: Any, signal: DisconnectSignal | None, message: Any) -> bool:
        """`send(message)`; when the client is behind (the transport paused writing) it
        waits for the drain, but at most `sse.stall_seconds`: then the connection is
        dropped and the answer is False."""
        if signal is None or not signal.behind():
            await send(message)
            return True
        try:
            async with asyncio.timeout(self.stall):
                await send(message)
        except TimeoutError:
            log.info("sse client stalled: disconnected")
            metrics.SSE_STALLED.inc()
            signal.drop()
            return False
        return True

    async def close(self) -> None:
        if self.lease is None:
            return
        lease, self.lease = self.lease, None
        if self.sub is not None:
            self.broadcaster.leave(self.sub)
        self.gauge.dec()
        await lease.release()


def _body(frame: bytes) -> dict[str, Any]:
    return {"type": "http.response.body", "body": frame, "more_body": True}


async def _until_disconnect(receive: Any, sub: Subscription) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass  # the (empty) request body of the GET
    sub.offer(GONE)


class _CappedStream(ServerSentEvent):
    """What a handler returns: Litestar encodes the headers, `_StreamResponse` streams."""

    def __init__(
        self, broadcaster: Broadcaster, key: str, settings: SseSettings, stream: str
    ) -> None:
        super().__init__((), headers={"Cache-Control": "no-cache, no-transform"})
        self.broadcaster = broadcaster
        self.key = key
        self.settings = settings
        self.stream = stream

    def to_asgi_response(self, app: Any, request: Request[Any, Any, Any], **kw: Any) -> Any:
        return _StreamResponse(self, super().to_asgi_response(app, request, **kw))


def sse_stream(
    broadcaster: Broadcaster, key: str, settings: SseSettings, *, stream: str
) -> ServerSentEvent:
    """The Litestar response for one subscriber of channel `key`, under the stream caps."""
    return _CappedStream(broadcaster, key, settings, stream)
