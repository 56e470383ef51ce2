"""The per-connection side of the broadcaster: an encoded SSE frame (`Message`, built once
per update and shared by every subscriber) and a subscriber's slot (`Subscription`), which
holds only the newest frame of each channel it joined — so a slow reader skips states, never
blocks the others, and a stream costs one slot plus its connection, nothing per update. A
stream multiplexing several channels (the event's `state` and `activities` frames) still
has one slot: it keeps at most one pending frame per channel, in arrival order.

A slot has no Event, no task and no timer of its own: `next()` awaits a bare future that
`offer()` resolves, and ONE per-process timer (the broadcaster's `tick`) offers `HEARTBEAT`
to slots that stayed quiet for a heartbeat period and `EXPIRED` to slots past their
lifetime. Final messages (`CLOSING`, `EXPIRED`, `GONE`; id < 0) stick: a later snapshot
never hides them.

Direct writes (issue 13, 10k streams per process): a stream served by uvicorn attaches a
`sink` to its slot (`DisconnectSignal`, which already holds the connection's request cycle)
while nothing is pending. `offer` then writes the frame's pre-encoded HTTP chunk
(`Message.chunk`, built once per update) straight to the connection's transport, in the
broadcaster's fan-out loop: no future resolved, no task woken, no `send` coroutine per
subscriber per update. The stream's own task wakes only for the ending (a final message
detaches the sink) and for a slow reader: when the transport has paused writing (its
buffer passed the high-water mark: the client is not reading), the sink refuses, the slot
keeps the newest frame of each channel as before and the stream's task writes it through
uvicorn's `send`, which waits for the buffer to drain — a stalled client holds at most the
transport's high-water mark plus one frame per channel, and is disconnected when the drain
takes longer than `sse.stall_seconds` (sse.py). The task re-attaches the sink once its slot
is empty and the transport writable again.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

Doc = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Message:
    """One encoded SSE frame (`frame`), shared by every subscriber of a channel."""

    key: str
    id: int
    frame: bytes
    # The frame as one HTTP/1.1 chunk (what a direct write puts on a chunked response).
    chunk: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        chunk = b"%x\r\n%s\r\n" % (len(self.frame), self.frame) if self.frame else b""
        object.__setattr__(self, "chunk", chunk)  # frozen: set once, here


# Offered to every subscriber when the process starts shutting down (SIGTERM/SIGINT): the SSE
# response ends at once with a reconnect hint instead of holding the graceful shutdown open.
CLOSING = Message("", -1, b"")
# The stream reached its lifetime (sse.max_stream_seconds): it ends with a reconnect hint.
EXPIRED = Message("", -2, b"")
# The client went away (http.disconnect): the stream ends without writing anything.
GONE = Message("", -3, b"")
# Offered by the per-process timer to a slot that stayed quiet for a heartbeat period.
HEARTBEAT = Message("", 0, b": keep-alive\n\n")


def encode_frame(event: str, event_id: int, data: bytes) -> bytes:
    """An SSE frame; `data` is single-line JSON (msgspec never emits raw newlines)."""
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event_id, event.encode(), data)


def document_id(change: Doc) -> str | None:
    """The changed document's `_id` as a string (ObjectId, NX-27017 dict form, or plain)."""
    key = change.get("documentKey") or {}
    value = key.get("_id")
    if value is None:
        full = change.get("fullDocument") or {}
        value = full.get("_id")
    if isinstance(value, dict) and "id" in value:  # NX-27017: {"__neosqlite_objectid__": ..}
        value = value["id"]
    if value is None:
        return None
    return str(value)


class Sink(Protocol):
    """Where a slot writes frames directly (see the module docstring)."""

    def write(self, message: Message) -> bool:
        """Write `message` to the connection now; False (nothing written) when it cannot."""
        ...


class Subscription:
    """A per-connection slot holding only the newest message of each channel it joined (see
    the module docstring): one slot per stream however many channels it multiplexes."""

    __slots__ = ("_pending", "_waiter", "ends", "key", "keys", "quiet_since", "sink")

    def __init__(self, keys: str | Sequence[str], lifetime: float = float("inf")) -> None:
        self.keys: tuple[str, ...] = (keys,) if isinstance(keys, str) else tuple(keys)
        self.key = self.keys[0]  # the primary channel (the timer visits the slot from it)
        self._pending: list[Message] = []  # at most one message per channel, oldest first
        self._waiter: asyncio.Future[None] | None = None
        self.quiet_since = time.monotonic()
        self.ends = self.quiet_since + lifetime
        self.sink: Sink | None = None  # set (by the stream) only while nothing is pending

    def offer(self, message: Message, now: float | None = None) -> None:
        """Hand `message` to the stream: written at once through the sink when there is
        one and it accepts (`now`: the caller's monotonic clock, saving a call per slot in
        a fan-out), else kept as the channel's newest pending message and the stream's task
        woken. A final message always goes the second way (it detaches the sink)."""
        sink = self.sink
        if sink is not None:
            if message.id >= 0 and sink.write(message):
                self.quiet_since = time.monotonic() if now is None else now
                return
            self.sink = None  # a final message, or a slow/lost connection: the task's turn
        pending = self._pending
        if pending and pending[0].id < 0:
            return  # a final message sticks
        if message.id < 0 or (pending and pending[0] is HEARTBEAT):
            pending.clear()  # a final message ends the stream; a snapshot beats a keep-alive
        for i, queued in enumerate(pending):
            if queued.key == message.key:
                pending[i] = message  # the channel's newer state replaces its older one
                break
        else:
            pending.append(message)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def tick(self, now: float, heartbeat: float) -> None:
        """The per-process timer's visit: heartbeat when quiet, EXPIRED past the lifetime."""
        if now >= self.ends:
            self.offer(EXPIRED)
        elif not self._pending and now - self.quiet_since >= heartbeat:
            self.offer(HEARTBEAT)

    def take(self) -> Message | None:
        """The oldest pending message (each channel's newest), or None: then await `ready()`."""
        if not self._pending:
            return None
        self.quiet_since = time.monotonic()
        return self._pending.pop(0)

    def ready(self) -> asyncio.Future[None]:
        """A future the next `offer` resolves. A stream awaits it directly (`take` first):
        no coroutine frame per wait, unlike `next`."""
        waiter = self._waiter
        if waiter is None or waiter.done():
            waiter = self._waiter = asyncio.get_running_loop().create_future()
        return waiter

    async def next(self, timeout: float | None = None) -> Message | None:  # noqa: ASYNC109
        """The oldest pending message (each channel's newest), or None after `timeout`
        seconds (None: wait)."""
        if not self._pending:
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                if timeout is None:
                    await waiter
                else:  # asyncio.timeout, not wait_for: no extra task per wait
                    async with asyncio.timeout(timeout):
                        await waiter
            except TimeoutError:
                return None
            finally:
                self._waiter = None
        message = self._pending.pop(0)
        self.quiet_since = time.monotonic()
        return message


class DisconnectSignal:
    """Learns a disconnect without a task (issue 13: ≈ 2 KiB per stream less). uvicorn's
    request cycle (httptools and h11 alike; `receive` is its bound method) has a
    `message_event` that the connection sets when it is lost, after setting `disconnected`;
    nobody waits on it once the GET's body was read, so this stand-in takes its place (and the
    `asyncio.Event`'s deque goes) and turns that `set()` into `GONE` for the slot. Another
    server (no such cycle): `install` returns None and a task awaits `http.disconnect`."""

    __slots__ = ("cycle", "sub")

    def __init__(self, cycle: Any, sub: Subscription) -> None:
        self.cycle: Any = cycle
        self.sub: Subscription | None = sub

    def writable(self) -> bool:
        """Whether frames may go straight to the connection (`write`): a started, chunked,
        unfinished httptools response on an open transport whose buffer is below its
        high-water mark. Anything else (h11, a paused or closing transport): no."""
        cycle = self.cycle
        if cycle is None or cycle.disconnected or cycle.response_complete:
            return False
        transport: Any = getattr(cycle, "transport", None)
        return (
            cycle.chunked_encoding is True
            and callable(getattr(transport, "write", None))
            and callable(getattr(transport, "is_closing", None))  # uvloop's: not an ABC's
            and not transport.is_closing()
            and not cycle.flow.write_paused
        )

    def behind(self) -> bool:
        """The transport paused writing: the client has not read what is buffered."""
        return self.cycle is not None and bool(self.cycle.flow.write_paused)

    def drop(self) -> None:
        """Close a stalled client's connection at once (its buffer discarded)."""
        if self.cycle is not None:
            self.cycle.transport.abort()

    def write(self, message: Message) -> bool:
        """The slot's sink: one frame as an HTTP chunk on the transport, as uvicorn's `send`
        would write it, without a coroutine. Refused (False) when the transport paused
        writing (the client is behind: the stream's task waits for the drain instead) or the
        connection is going."""
        cycle = self.cycle
        if cycle is None or cycle.disconnected or cycle.flow.write_paused:
            return False
        transport = cycle.transport
        if transport.is_closing():
            return False
        transport.write(message.chunk)
        return True

    @classmethod
    def install(cls, receive: Any, sub: Subscription) -> DisconnectSignal | None:
        cycle: Any = getattr(receive, "__self__", None)
        flow: Any = getattr(cycle, "flow", None)
        if not isinstance(getattr(cycle, "message_event", None), asyncio.Event) or not (
            isinstance(getattr(cycle, "disconnected", None), bool)
            and callable(getattr(flow, "resume_reading", None))
        ):
            return None
        signal = cls(cycle, sub)
        cycle.message_event = signal
        _drop_idle_deques(cycle)
        flow.resume_reading()  # as `receive` would: a lost connection must be seen
        if cycle.disconnected:
            sub.offer(GONE)
        return signal

    def set(self) -> None:
        if self.sub is not None and self.cycle.disconnected:
            self.sub.offer(GONE)

    def clear(self) -> None:
        pass

    def is_set(self) -> bool:
        return True

    async def wait(self) -> bool:
        return True  # nobody calls `receive` during the stream; if so, it answers at once

    def uninstall(self) -> None:
        """The stream ended: an Event again, set (a late `receive` answers at once), and the
        cycle <-> signal reference loop broken."""
        event = asyncio.Event()
        event.set()
        self.cycle.message_event = event
        if self.sub is not None and self.sub.sink is self:
            self.sub.sink = None
        self.cycle = self.sub = None


class _Pipeline(list[Any]):
    """uvicorn's queue of pipelined requests as a list (56 bytes; an idle deque is ≈ 700)."""

    __slots__ = ()

    def appendleft(self, item: Any) -> None:
        self.insert(0, item)


def _drop_idle_deques(cycle: Any) -> None:
    """An idle `collections.deque` costs ≈ 700 bytes; a long-lived stream's connection holds
    two that stay empty: the write-flow Event's waiters and httptools' pipelined-request
    queue. Each becomes a list (same operations: append/remove/iterate; appendleft/pop) when
    found empty with exactly that type; anything else is left alone."""
    event = getattr(getattr(cycle, "flow", None), "_is_writable_event", None)
    waiters = getattr(event, "_waiters", None)
    if isinstance(event, asyncio.Event) and type(waiters) is deque and not waiters:
        setattr(event, "_waiters", [])  # noqa: B010 -- a private attribute, on purpose
    protocol = getattr(getattr(cycle, "on_response", None), "__self__", None)
    pipeline = getattr(protocol, "pipeline", None)
    if type(pipeline) is deque and not pipeline:
        setattr(protocol, "pipeline", _Pipeline())  # noqa: B010


# Scope key: a response that wants to stream outside the middleware stack puts an object with
# `async run(receive, send)` and `async close()` here (see `detaching`).
DETACH = "livevote.detach"


def detaching(handler: Any) -> Any:
    """Wraps the app's ASGI handler (outside every middleware): a response that registered
    `scope[DETACH]` has sent its start and returned, so the middleware, router and handler
    frames are gone; its `run` then streams with the same receive/send. Installed by the
    broadcaster lifespan; without it a response streams in place."""

    async def call(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await handler(scope, receive, send)
            return
        scope[DETACH] = None
        try:
            await handler(scope, receive, send)
        except BaseException:
            rest = scope.pop(DETACH, None)
            if rest is not None:
                await rest.close()
            raise
        rest = scope.pop(DETACH, None)
        if rest is not None:
            # Litestar's per-request state (parsed headers, URL, dependency cache) is done
            # with: a long-lived stream must not keep it.
            scope.pop("state", None)
            await rest.run(receive, send)

    return call
