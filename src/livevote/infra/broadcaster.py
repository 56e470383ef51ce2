"""Change streams → per-channel state snapshots → SSE fan-out (one broadcaster per process).

Interface (shared by the events and elections domains)::

    # in an installer called by the app lifespan (see `broadcaster_lifespan` and app.py):
    def install(b: Broadcaster) -> None:
        b.watch("events", key_for_change)       # async (change: dict) -> Iterable[str] | None
        b.channel("event:", build_snapshot)     # async (key: str) -> JSON-able dict | None
        # a companion: every `event:<rest>` subscriber also gets `event: activities` frames
        b.channel("activities:", build_other, event="activities", beside="event:")

    # app.py: lifespan=[..., mongo_lifespan, broadcaster_lifespan(install, other_install), ...]
    # handlers get it with Provide(provide_broadcaster) (app.state.broadcaster)

    # in a request handler (usually through livevote.infra.sse.sse_stream):
    sub = b.join("event:<id>", lifetime=3600)   # then, in `finally`: b.leave(sub)
    message = await sub.next()    # a frame of any joined channel, or HEARTBEAT/EXPIRED/...

Guarantees and shape:
- ONE change stream per watched collection per process, never one per subscriber. The resume
  token is kept; on any error the stream is reopened with exponential backoff (0.1 s → 5 s),
  resuming after the token (a lost token falls back to a fresh stream). Every (re)open and every
  failed attempt marks ALL open channels dirty: snapshots are rebuilt from the database, so a
  gap in the change stream can delay an update but never lose one (with change streams
  unavailable this degrades into polling at the backoff rate).
- The stream is read with `try_next()` plus a short idle sleep (`_IDLE_POLL`): NX-27017
  answers an empty getMore at once, so `async for` would spin a core; real MongoDB waits
  server-side (maxAwaitTimeMS) and the sleep only adds ≤ 20 ms of latency. While no channel
  is open in the process the sleep is up to 1 s (`_UNHEARD_POLL`), ended by the first join,
  and changes are not mapped: 8 idle streams cost ~18 % of a core (two workers + NX-27017).
- A change is mapped to channel keys by the function registered for its collection (it gets
  the raw change document; use `document_id(change)` for the `_id`, which normalises the
  NX-27017 forms). Keys without subscribers are ignored.
- Each open channel has one pump task (channels.py): it waits until the channel is dirty,
  coalesces bursts (at most `max_updates_per_second` rebuilds per channel), builds the full
  state with the builder registered for the longest matching key prefix, skips unchanged
  states, encodes the SSE frame ONCE (`event: <its event name>`, `id:` monotonic per channel)
  and hands the same bytes to every subscriber: one synchronous loop that writes them to
  each connection directly (no task woken per subscriber; slots.py "Direct writes"), with a
  yield to the event loop every `channels.FANOUT_CHUNK` subscribers. Updates arriving during
  a fan-out are coalesced into the next build (latest state wins).
- A subscription joins a channel and its companions (registered `beside` its prefix): one
  slot, one SSE stream, several frame kinds, each channel with its own ids.
- Every message is a full snapshot, so a subscriber slot keeps only the newest one per
  channel: a slow reader skips intermediate states, never blocks others, and memory stays
  bounded. A new subscriber immediately receives each joined channel's current snapshot
  (built on first use), so a reconnect (whatever its Last-Event-ID) misses nothing.
- A channel and its pump stop when its last subscriber leaves.
- ONE timer task per process (`_tick`, every heartbeat/4 ≤ 1 s) offers slots their heartbeat
  and lifetime end (slots.Subscription.tick): no subscriber owns a task, Event or timer.
- `CHANGE_STREAM_LAG` observes write → delivery delay from `wallTime` (MongoDB ≥ 6, NX-27017),
  else a datetime `clusterTime`, else an `updated_at` field found in the change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from litestar import Litestar
from litestar.datastructures import State
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure, PyMongoError

from livevote.config import SseSettings
from livevote.infra import metrics, slots
from livevote.infra.channels import Builder, Channel, ChannelKind
from livevote.infra.slots import CLOSING, Message, Subscription, document_id, encode_frame

log = logging.getLogger("livevote.broadcaster")

Doc = dict[str, Any]
KeyFunction = Callable[[Doc], Awaitable[Iterable[str] | None]]
Installer = Callable[["Broadcaster"], None]

__all__ = [
    "CLOSING",
    "Broadcaster",
    "Doc",
    "Message",
    "Subscription",
    "broadcaster_lifespan",
    "document_id",
    "encode_frame",
    "provide_broadcaster",
]

_BACKOFF_START, _BACKOFF_MAX = 0.1, 5.0  # change-stream reopening
_IDLE_POLL = 0.02  # seconds between empty change-stream polls while anyone listens here
_UNHEARD_POLL = 1.0  # … and while no channel is open in this process (a join wakes it at once)
# Resume token no longer in the oplog / not resumable: start a fresh stream.
_TOKEN_LOST_CODES = {136, 260, 280, 286}


class Broadcaster:
    def __init__(self, db: AsyncDatabase[Doc], settings: SseSettings) -> None:
        self.db = db
        self.min_interval = 1.0 / max(0.1, settings.max_updates_per_second)
        self.heartbeat = settings.heartbeat_seconds
        self._watches: dict[str, KeyFunction] = {}
        self._kinds: dict[str, ChannelKind] = {}
        self._channels: dict[str, Channel] = {}
        self._last_ids: dict[str, int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._pumps: set[asyncio.Task[None]] = set()
        self._opened: dict[str, asyncio.Event] = {}
        self.resume_tokens: dict[str, Any] = {}
        self.streams: dict[str, Any] = {}  # the open change stream of each collection
        self.loop: asyncio.AbstractEventLoop | None = None
        self.restarts: dict[str, int] = {}
        self.closing = False
        self.polls = 0  # change-stream reads (getMore), for the idle-cost test
        self._heard = asyncio.Event()  # set while at least one channel is open

    # -- registration -------------------------------------------------------------------
    def watch(self, collection: str, key_for: KeyFunction) -> None:
        """Watch `collection` (one change stream per process); `key_for` maps a change to keys."""
        if collection in self._watches:
            raise ValueError(f"collection {collection!r} is already watched")
        self._watches[collection] = key_for

    def channel(
        self, prefix: str, builder: Builder, *, event: str = "state", beside: str | None = None
    ) -> None:
        """Register the snapshot builder for channel keys starting with `prefix`; its frames
        are `event: <event>`. With `beside`, every subscriber of a `<beside><rest>` channel
        also joins `<prefix><rest>` on the same subscription (channels.py)."""
        self._kinds[prefix] = ChannelKind(prefix, builder, event, beside)

    def _kind_for(self, key: str) -> ChannelKind:
        matches = [p for p in self._kinds if key.startswith(p)]
        if not matches:
            raise KeyError(f"no snapshot builder registered for channel {key!r}")
        return self._kinds[max(matches, key=len)]

    def keys_for(self, key: str) -> list[str]:
        """`key` and the companion channels joined beside it."""
        found = (kind.companion_of(key) for kind in self._kinds.values())
        return [key, *(k for k in found if k is not None and k != key)]

    # -- lifecycle ----------------------------------------------------------------------
    async def start(self, wait_seconds: float = 5.0) -> None:
        self.loop = asyncio.get_running_loop()
        self._pumps.add(asyncio.create_task(self._tick(), name="tick"))  # cancelled by stop()
        for collection in self._watches:
            self._opened[collection] = asyncio.Event()
            task = asyncio.create_task(self._run_stream(collection), name=f"watch:{collection}")
            self._tasks.append(task)
        # Best effort: let the streams open before serving, so early writes are seen as changes.
        if self._opened:
            waits = [asyncio.create_task(e.wait()) for e in self._opened.values()]
            _done, pending = await asyncio.wait(waits, timeout=wait_seconds)
            for t in pending:
                t.cancel()

    async def stop(self) -> None:
        tasks = self._tasks + list(self._pumps)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        metrics.SSE_CHANNELS.dec(len(self._channels))
        self._channels.clear()

    # -- subscribers --------------------------------------------------------------------
    def join(self, key: str, lifetime: float = float("inf")) -> Subscription:
        """One subscription to channel `key` and its companions (`channel(beside=...)`)."""
        primary = self._channels.get(key) or self._open(key)
        group = primary.group
        if group is None:  # the channels' own key strings in one shared tuple: none per stream
            group = primary.group = tuple(
                (self._channels.get(k) or self._open(k)).key for k in self.keys_for(key)
            )
        sub = Subscription(group, lifetime)
        for k in group:
            channel = self._channels.get(k) or self._open(k)
            channel.subscribers.add(sub)
            if channel.latest is not None:
                sub.offer(channel.latest)
        return sub

    def _open(self, key: str) -> Channel:
        channel = self._channels[key] = Channel(key, self._kind_for(key))
        self._heard.set()
        metrics.SSE_CHANNELS.inc()
        channel.dirty.set()  # first snapshot, built by the pump right away
        pump = channel.pump(self.min_interval, self._next_id, lambda: self.closing)
        channel.task = asyncio.create_task(pump, name=f"pump:{key}")
        self._pumps.add(channel.task)  # strong reference until done (even when cancelled)
        channel.task.add_done_callback(self._pumps.discard)
        return channel

    def leave(self, sub: Subscription) -> None:
        for key in sub.keys:
            channel = self._channels.get(key)
            if channel is None:
                continue
            channel.subscribers.discard(sub)
            if not channel.subscribers:
                del self._channels[key]
                metrics.SSE_CHANNELS.dec()
                if not self._channels:
                    self._heard.clear()
                if channel.task:
                    channel.task.cancel()

    def close_streams(self) -> None:
        """Shutdown began: end every SSE response (and refuse new ones) with a reconnect hint;
        clients reconnect to another process (or to this one once restarted)."""
        self.closing = True
        for channel in self._channels.values():
            for sub in channel.subscribers:
                sub.offer(CLOSING)

    def mark_dirty(self, keys: Iterable[str]) -> None:
        for key in keys:
            channel = self._channels.get(key)
            if channel is not None:
                channel.dirty.set()

    def mark_all_dirty(self) -> None:
        for channel in self._channels.values():
            channel.dirty.set()

    @property
    def open_channels(self) -> int:
        return len(self._channels)

    @property
    def watched_collections(self) -> list[str]:
        """Collections with a running change-stream task (exactly one task each)."""
        return [t.get_name().removeprefix("watch:") for t in self._tasks if not t.done()]

    # -- internals ----------------------------------------------------------------------
    async def _tick(self) -> None:
        period = min(1.0, max(0.01, self.heartbeat / 4))
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            for channel in list(self._channels.values()):
                for sub in channel.subscribers:
                    if sub.key == channel.key:  # once per slot, from its primary channel
                        sub.tick(now, self.heartbeat)

    async def _idle(self) -> None:
        """20 ms while a channel is open here; else up to 1 s, cut short by the first join
        (whose channel builds its snapshot from the database anyway)."""
        if self._channels:
            await asyncio.sleep(_IDLE_POLL)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._heard.wait(), _UNHEARD_POLL)

    def _next_id(self, key: str) -> int:
        # Monotonic per channel, and (being ~epoch milliseconds) across channel restarts.
        value = max(self._last_ids.get(key, 0) + 1, int(time.time() * 1000))
        self._last_ids[key] = value
        if len(self._last_ids) > 100_000:
            self._last_ids = {k: v for k, v in self._last_ids.items() if k in self._channels}
        return value

    async def _run_stream(self, collection: str) -> None:
        key_for = self._watches[collection]
        backoff = _BACKOFF_START
        coll = self.db[collection]
        while True:
            try:
                token = self.resume_tokens.get(collection)
                stream = await coll.watch(resume_after=token) if token else await coll.watch()
                async with stream:
                    self.streams[collection] = stream
                    self._opened[collection].set()
                    self.mark_all_dirty()  # anything missed while (re)connecting
                    backoff = _BACKOFF_START
                    while stream.alive:
                        # try_next, not `async for`: on a server that answers getMore at once
                        # when nothing changed (NX-27017 ignores maxAwaitTimeMS) `async for`
                        # spins and starves the event loop; real MongoDB waits server-side.
                        change = await stream.try_next()
                        self.polls += 1
                        self.resume_tokens[collection] = stream.resume_token
                        if change is None:
                            await self._idle()
                            continue
                        if not self._channels:
                            continue  # nobody listens here: keep the position, map nothing
                        _observe_lag(collection, change)
                        try:
                            keys = await key_for(change)
                        except Exception:
                            log.warning("change mapping failed", exc_info=True)
                            self.mark_all_dirty()
                            continue
                        if keys:
                            self.mark_dirty(keys)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if isinstance(exc, OperationFailure) and exc.code in _TOKEN_LOST_CODES:
                    self.resume_tokens.pop(collection, None)
                level = logging.WARNING if isinstance(exc, PyMongoError) else logging.ERROR
                log.log(
                    level,
                    "change stream on %s failed: %r; retrying in %.1fs",
                    collection,
                    exc,
                    backoff,
                )
            self.restarts[collection] = self.restarts.get(collection, 0) + 1
            metrics.CHANGE_STREAM_RESTARTS.labels(collection).inc()
            self.mark_all_dirty()
            await asyncio.sleep(backoff)
            backoff = min(_BACKOFF_MAX, backoff * 2)


def _change_time(change: Doc) -> datetime | None:
    for name in ("wallTime", "clusterTime"):
        value = change.get(name)
        if isinstance(value, datetime):
            return value
    updated = (change.get("updateDescription") or {}).get("updatedFields") or {}
    value = updated.get("updated_at") or (change.get("fullDocument") or {}).get("updated_at")
    return value if isinstance(value, datetime) else None


def _observe_lag(collection: str, change: Doc) -> None:
    at = _change_time(change)
    if at is None:
        return
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    lag = (datetime.now(UTC) - at).total_seconds()
    metrics.CHANGE_STREAM_LAG.labels(collection).observe(max(0.0, lag))


def broadcaster_lifespan(
    *installers: Installer,
) -> Callable[[Litestar], contextlib.AbstractAsyncContextManager[None]]:
    """App lifespan (after mongo_lifespan): build the broadcaster, run installers, start it."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        b = Broadcaster(app.state.db, app.state.settings.sse)
        for install in installers:
            install(b)
        app.state.broadcaster = b
        app.asgi_handler = slots.detaching(app.asgi_handler)  # SSE streams leave the middleware
        await b.start()
        restore = _on_shutdown_signal(b.close_streams)
        try:
            yield
        finally:
            restore()
            b.close_streams()
            await b.stop()

    return lifespan


def _on_shutdown_signal(callback: Callable[[], None]) -> Callable[[], None]:
    """Run `callback` in the event loop when SIGTERM/SIGINT arrives, then the previous
    handler (uvicorn's, which starts the graceful shutdown). uvicorn waits for open responses
    before the lifespan shutdown runs, so SSE streams must learn about the signal here.
    Returns a function restoring the previous handlers. No-op outside the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    previous: dict[int, Any] = {}

    def handler(signum: int, frame: Any) -> None:
        loop.call_soon_threadsafe(callback)
        prev = previous.get(signum)
        if callable(prev):
            prev(signum, frame)

    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.getsignal(sig)
        signal.signal(sig, handler)

    def restore() -> None:
        for sig, prev in previous.items():
            if signal.getsignal(sig) is handler:
                signal.signal(sig, prev)

    return restore


def provide_broadcaster(state: State) -> Broadcaster:
    b: Broadcaster = state.broadcaster
    return b
