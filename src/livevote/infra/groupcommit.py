"""Group commit: concurrent requests of one kind, written to the database together.

    votes = GroupCommit("event_votes", repo.write_votes, max_batch=256)
    result = await votes.submit(event_id, vote)    # answered once its batch is written

MongoDB pays per operation, so the requests of the same `key` (an event, a poll, an
election) are gathered and passed to ONE `flush(key, items)` coroutine supplied by the domain,
which writes them with one `insert_many(ordered=False)` and one `$inc` per counter, and
returns one result per item, in order: a value, or an exception raised to that submitter
alone (a duplicate → its own 409). Rules (docs/GROUP_COMMIT.md has the reasoning):

- Batching: a batch closes at `max_batch` items, or `max_wait` seconds after its oldest item
  arrived. `max_wait=0` flushes as soon as the event loop yields: items submitted in the same
  loop iteration share a batch, and a lone request is written at once.
- At most one flush per key in flight per process; items arriving meanwhile queue for the
  next batch, so batches grow with load by themselves. Different keys flush concurrently.
- A flush that raises fails every item of its batch with that exception: the outcome is
  unknown, and the domain's idempotency makes a client retry safe.
- A cancelled submitter (client disconnect) is dropped if its batch has not started; once its
  batch is being written the item may still be stored, only its answer is lost. Other items
  never notice either way (the flush runs in the key's own task, not the submitter's).
- Bounded: more than `max_queued_per_key` items waiting for one key, or `max_pending` items
  in the whole instance → `GroupCommitFull` (503 + Retry-After) at once, never a growing queue.
- One event loop: futures and the flush's database client belong to the loop of the first
  submit. `close()` (on shutdown) refuses new items, flushes what is queued, and after
  `drain_timeout` fails whatever is left with `GroupCommitClosed`: nothing hangs.

`GroupCommits` holds the instances of one app by name; `group_commit_lifespan` creates it on
`app.state.group_commits` and drains it on exit. List it after `mongo_lifespan` (lifespans
exit in reverse order, so the batches are drained while the database client is still open).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

from litestar import Litestar
from litestar.datastructures import State

from livevote.errors import ServiceUnavailable
from livevote.infra import metrics

log = logging.getLogger("livevote.groupcommit")

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")
R = TypeVar("R")

Flush = Callable[[K, list[T]], Awaitable[Sequence[R | BaseException]]]


class GroupCommitFull(ServiceUnavailable):
    """Too many items waiting: refuse at once instead of queueing without bound."""


class GroupCommitClosed(ServiceUnavailable):
    """The process is shutting down: the item was not accepted, or not written in time."""


@dataclass(slots=True)
class _Waiter(Generic[T, R]):
    item: T
    future: asyncio.Future[R]
    arrived: float


@dataclass(slots=True)
class _Lane(Generic[T, R]):
    """The items of one key: those waiting for the next batch, the batch being written, and
    the one task that writes them (alive while either is non-empty)."""

    queue: deque[_Waiter[T, R]] = field(default_factory=deque)
    inflight: list[_Waiter[T, R]] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class GroupCommit(Generic[K, T, R]):
    def __init__(
        self,
        kind: str,
        flush: Flush[K, T, R],
        *,
        max_batch: int = 256,
        max_wait: float = 0.0,
        max_queued_per_key: int = 2048,
        max_pending: int = 10_000,
        drain_timeout: float = 10.0,
        retry_after: int = 1,
    ) -> None:
        if max_batch < 1 or max_wait < 0 or max_queued_per_key < 1 or max_pending < 1:
            raise ValueError("group commit limits must be positive")
        self.kind = kind
        self._flush = flush
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.max_queued_per_key = max_queued_per_key
        self.max_pending = max_pending
        self.drain_timeout = drain_timeout
        self.retry_after = retry_after
        self._lanes: dict[K, _Lane[T, R]] = {}
        self._pending = 0  # items accepted and not yet answered (queued or being written)
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._batch_size = metrics.GROUP_COMMIT_BATCH.labels(kind)
        self._flush_ok = metrics.GROUP_COMMIT_FLUSH.labels(kind, "ok")
        self._flush_error = metrics.GROUP_COMMIT_FLUSH.labels(kind, "error")

    @property
    def pending(self) -> int:
        """Items accepted and not yet answered."""
        return self._pending

    async def submit(self, key: K, item: T) -> R:
        """Write `item` with the next batch of `key`; return its result or raise its error."""
        if self._closing:
            raise self._refuse("closing", GroupCommitClosed, "shutting down; retry shortly")
        lane = self._lanes.get(key)
        if self._pending >= self.max_pending:
            raise self._refuse("full", GroupCommitFull, "too many writes in progress; retry")
        if lane is not None and len(lane.queue) >= self.max_queued_per_key:
            raise self._refuse("key_full", GroupCommitFull, "too many writes for this item")
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif loop is not self._loop:
            raise RuntimeError(f"group commit {self.kind!r} is bound to another event loop")
        future: asyncio.Future[R] = loop.create_future()
        waiter = _Waiter(item, future, loop.time())
        if lane is None:
            lane = _Lane()
            self._lanes[key] = lane
            lane.queue.append(waiter)
            lane.task = loop.create_task(self._run(key, lane), name=f"groupcommit:{self.kind}")
        else:
            lane.queue.append(waiter)
            if len(lane.queue) >= self.max_batch:
                lane.wake.set()
        self._pending += 1
        try:
            return await future
        except asyncio.CancelledError:
            if not future.done():
                future.cancel()  # not written yet: the lane drops it
            elif not future.cancelled():
                future.exception()  # answered as we were cancelled: mark the error as seen
            raise

    async def close(self) -> None:
        """Refuse new items, write the queued ones, and after `drain_timeout` fail the rest."""
        self._closing = True
        for lane in self._lanes.values():
            lane.wake.set()  # no lingering for more items
        tasks = [lane.task for lane in self._lanes.values() if lane.task is not None]
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=self.drain_timeout)
        if not late:
            return
        log.warning("group commit %s: %d keys not drained in time", self.kind, len(late))
        for task in late:
            task.cancel()
        _, stuck = await asyncio.wait(late, timeout=1.0)
        # A flush that ignores cancellation must not hold its submitters forever either.
        closed = GroupCommitClosed("shut down before the write finished; outcome unknown")
        for lane in list(self._lanes.values()):
            if lane.task in stuck:
                self._fail([*lane.inflight, *lane.queue], closed)

    # -- the lane task: one per key with work, at most one flush in flight -------------------
    async def _run(self, key: K, lane: _Lane[T, R]) -> None:
        try:
            while lane.queue:
                await self._linger(lane)
                lane.inflight = self._take(lane)
                if lane.inflight:
                    await self._write(key, lane.inflight)
                    lane.inflight = []
        except asyncio.CancelledError:
            self._abandon(lane, GroupCommitClosed("shut down before the write; outcome unknown"))
            raise
        except Exception as exc:  # a bug here must not strand the submitters
            log.exception("group commit %s: lane failed", self.kind)
            self._abandon(lane, exc)
        finally:
            if self._lanes.get(key) is lane:
                del self._lanes[key]

    async def _linger(self, lane: _Lane[T, R]) -> None:
        """Wait until the batch is full or its oldest item has waited `max_wait`."""
        if self.max_wait <= 0 or self._closing or len(lane.queue) >= self.max_batch:
            return
        delay = lane.queue[0].arrived + self.max_wait - asyncio.get_running_loop().time()
        if delay <= 0:
            return
        lane.wake.clear()
        try:
            async with asyncio.timeout(delay):
                await lane.wake.wait()
        except TimeoutError:
            pass

    def _take(self, lane: _Lane[T, R]) -> list[_Waiter[T, R]]:
        batch: list[_Waiter[T, R]] = []
        while lane.queue and len(batch) < self.max_batch:
            waiter = lane.queue.popleft()
            if waiter.future.done():  # its submitter was cancelled: never written
                self._pending -= 1
            else:
                batch.append(waiter)
        return batch

    async def _write(self, key: K, batch: list[_Waiter[T, R]]) -> None:
        start = time.perf_counter()
        try:
            results = await self._flush(key, [w.item for w in batch])
        except Exception as exc:
            self._flush_error.observe(time.perf_counter() - start)
            self._fail(batch, exc)
            return
        finally:
            self._pending -= len(batch)
            self._batch_size.observe(len(batch))
        self._flush_ok.observe(time.perf_counter() - start)
        if len(results) != len(batch):
            error = RuntimeError(
                f"group commit {self.kind!r}: flush returned {len(results)} results "
                f"for {len(batch)} items"
            )
            self._fail(batch, error)
            return
        for waiter, result in zip(batch, results, strict=True):
            if waiter.future.done():
                continue
            if isinstance(result, BaseException):
                waiter.future.set_exception(result)
            else:
                waiter.future.set_result(result)

    def _abandon(self, lane: _Lane[T, R], exc: BaseException) -> None:
        """The lane stops: fail its batch in flight (already uncounted) and its queue."""
        self._pending -= len(lane.queue)
        self._fail([*lane.inflight, *lane.queue], exc)
        lane.inflight = []
        lane.queue.clear()

    @staticmethod
    def _fail(waiters: Sequence[_Waiter[T, R]], exc: BaseException) -> None:
        for waiter in waiters:
            if not waiter.future.done():
                waiter.future.set_exception(exc)

    def _refuse(
        self, reason: str, error: type[ServiceUnavailable], detail: str
    ) -> ServiceUnavailable:
        metrics.GROUP_COMMIT_REJECTED.labels(self.kind, reason).inc()
        return error(detail, retry_after=self.retry_after)


class GroupCommits:
    """The group commits of one app (one event loop), made on first use by name."""

    def __init__(self) -> None:
        self._by_kind: dict[str, GroupCommit[Any, Any, Any]] = {}

    def get(self, kind: str, make: Callable[[], GroupCommit[K, T, R]]) -> GroupCommit[K, T, R]:
        found = self._by_kind.get(kind)
        if found is None:
            found = self._by_kind[kind] = make()
        return cast(GroupCommit[K, T, R], found)

    async def close(self) -> None:
        await asyncio.gather(*(gc.close() for gc in self._by_kind.values()))


@asynccontextmanager
async def group_commit_lifespan(app: Litestar) -> AsyncIterator[None]:
    commits = GroupCommits()
    app.state.group_commits = commits
    try:
        yield
    finally:
        await commits.close()


def provide_group_commits(state: State) -> GroupCommits:
    commits: GroupCommits = state.group_commits
    return commits
