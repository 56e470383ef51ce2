"""One broadcaster channel: its subscribers, its newest encoded frame and its pump.

A channel is registered by key prefix with a snapshot builder and the SSE event name its
frames carry (`state`, `activities`, ...). A channel may also be registered *beside* another
prefix: every subscriber of `event:<rest>` then joins `activities:<rest>` too, on the same
subscription (one slot, one connection; see slots.Subscription), so one SSE stream
multiplexes the frames of several channels, each with its own ids.

The pump (one task per open channel) waits until the channel is dirty, coalesces bursts (at
most one build per `min_interval`), builds the full state, skips unchanged states, encodes
the frame ONCE and offers the same bytes to every subscriber.

The fan-out is one synchronous loop over the subscribers (each `offer` writes the frame to
the connection itself, slots.py "Direct writes"), in chunks of `FANOUT_CHUNK` with a yield
to the event loop between them: a vote's HTTP answer is not held behind a 10k-stream
fan-out. Coalescing: the pump builds the next state only after the fan-out finished, so the
updates arriving meanwhile become ONE newer state (latest wins), never a queue of fan-outs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from livevote.infra import metrics
from livevote.infra.slots import Message, Subscription, encode_frame

log = logging.getLogger("livevote.broadcaster")

Builder = Callable[[str], Awaitable[Any]]
_BACKOFF_START, _BACKOFF_MAX = 0.1, 5.0
FANOUT_CHUNK = 500  # subscribers offered a frame between two yields to the event loop


@dataclass(frozen=True, slots=True)
class ChannelKind:
    """What is registered for a key prefix: the builder, the SSE event name and, for a
    companion channel, the prefix whose subscribers join it too."""

    prefix: str
    builder: Builder
    event: str = "state"
    beside: str | None = None

    def companion_of(self, key: str) -> str | None:
        """This kind's channel key joined beside `key`, or None."""
        if self.beside is None or not key.startswith(self.beside):
            return None
        return self.prefix + key[len(self.beside) :]


class Channel:
    __slots__ = (
        "builder",
        "dirty",
        "event",
        "group",
        "key",
        "last_data",
        "latest",
        "subscribers",
        "task",
    )

    def __init__(self, key: str, kind: ChannelKind) -> None:
        self.key = key
        self.builder = kind.builder
        self.event = kind.event
        self.subscribers: set[Subscription] = set()
        self.dirty = asyncio.Event()
        self.latest: Message | None = None
        self.last_data: bytes | None = None
        self.task: asyncio.Task[None] | None = None
        # The keys its subscribers join (it and its companions), shared by every subscription.
        self.group: tuple[str, ...] | None = None

    async def pump(
        self, min_interval: float, next_id: Callable[[str], int], closing: Callable[[], bool]
    ) -> None:
        last_build = 0.0
        failures = 0
        while True:
            await self.dirty.wait()
            wait = last_build + min_interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)  # coalesce the burst
            self.dirty.clear()
            last_build = time.monotonic()
            try:
                state = await self.builder(self.key)
            except asyncio.CancelledError:
                raise
            except Exception:
                failures += 1
                log.warning("snapshot build failed", exc_info=True, extra={"channel": self.key})
                self.dirty.set()
                await asyncio.sleep(min(_BACKOFF_MAX, _BACKOFF_START * 2**failures))
                continue
            failures = 0
            if state is None:
                continue
            data = msgspec.json.encode(state)
            if data == self.last_data:
                continue
            self.last_data = data
            mid = next_id(self.key)
            message = Message(self.key, mid, encode_frame(self.event, mid, data))
            self.latest = message
            metrics.SSE_SNAPSHOTS.labels(self.key.split(":", 1)[0]).inc()
            if closing():
                continue  # every subscriber holds CLOSING: their responses are ending
            await self.fan_out(message, closing)

    async def fan_out(self, message: Message, closing: Callable[[], bool]) -> None:
        """`message` to every subscriber, `FANOUT_CHUNK` at a time with a yield between.
        The subscribers are copied first: joins and leaves during the yields change the
        set; a joiner already got `latest` (this message) from `join`, a leaver's slot is
        detached from its connection and drops what it is offered."""
        subscribers = list(self.subscribers)
        for start in range(0, len(subscribers), FANOUT_CHUNK):
            if start:
                await asyncio.sleep(0)  # let other requests (a vote's answer) run
                if closing():
                    return
            now = time.monotonic()
            for sub in subscribers[start : start + FANOUT_CHUNK]:
                sub.offer(message, now)
