"""The group-commit primitive on its own (no database): batching, per-item answers, failure
fan-out, cancellation, caps, shutdown and one flush in flight per key."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import pytest
from litestar import Litestar
from prometheus_client import REGISTRY

from livevote.errors import Conflict
from livevote.infra.groupcommit import (
    GroupCommit,
    GroupCommitClosed,
    GroupCommitFull,
    group_commit_lifespan,
    provide_group_commits,
)


class Recorder:
    """A flush that records its batches, optionally waits for a gate, and answers item * 10;
    negative items get their own Conflict."""

    def __init__(self, delay: float = 0.0) -> None:
        self.batches: list[tuple[Any, list[int]]] = []
        self.delay = delay
        self.gate: asyncio.Event | None = None
        self.gated_keys: set[Any] | None = None  # None: the gate holds every key
        self.in_flight: dict[Any, int] = defaultdict(int)
        self.max_in_flight: dict[Any, int] = defaultdict(int)
        self.max_total = 0

    async def __call__(self, key: Any, items: list[int]) -> Sequence[int | BaseException]:
        self.in_flight[key] += 1
        self.max_in_flight[key] = max(self.max_in_flight[key], self.in_flight[key])
        self.max_total = max(self.max_total, sum(self.in_flight.values()))
        try:
            self.batches.append((key, list(items)))
            if self.gate is not None and (self.gated_keys is None or key in self.gated_keys):
                await self.gate.wait()
            await asyncio.sleep(self.delay)
            return [Conflict(f"item {i}", type="duplicate") if i < 0 else i * 10 for i in items]
        finally:
            self.in_flight[key] -= 1

    def items(self) -> list[int]:
        return [i for _, batch in self.batches for i in batch]


async def test_concurrent_submits_share_few_flushes_and_each_gets_its_own_result() -> None:
    flush = Recorder(delay=0.002)
    gc: GroupCommit[str, int, int] = GroupCommit("t_many", flush, max_batch=64)
    results = await asyncio.gather(*(gc.submit("k", i) for i in range(200)))
    assert results == [i * 10 for i in range(200)]
    assert sorted(flush.items()) == list(range(200))  # every item written exactly once
    assert len(flush.batches) == 4  # 200 items submitted in one loop iteration, 64 per batch
    assert all(len(b) <= 64 for _, b in flush.batches)
    assert gc.pending == 0


async def test_items_arriving_during_a_flush_form_the_next_batch() -> None:
    flush = Recorder()
    flush.gate = asyncio.Event()
    gc: GroupCommit[str, int, int] = GroupCommit("t_natural", flush)
    first = asyncio.ensure_future(gc.submit("k", 0))
    await asyncio.sleep(0.01)
    assert flush.batches == [("k", [0])]  # a lone request is written at once
    rest = [asyncio.ensure_future(gc.submit("k", i)) for i in range(1, 50)]
    await asyncio.sleep(0.01)
    assert len(flush.batches) == 1  # queued behind the flush in flight
    flush.gate.set()
    assert await asyncio.gather(first, *rest) == [i * 10 for i in range(50)]
    assert flush.batches == [("k", [0]), ("k", list(range(1, 50)))]


async def test_max_wait_gathers_items_spread_over_time() -> None:
    flush = Recorder()
    gc: GroupCommit[str, int, int] = GroupCommit("t_wait", flush, max_wait=1.0, max_batch=5)
    tasks = []
    for i in range(3):
        tasks.append(asyncio.ensure_future(gc.submit("k", i)))
        await asyncio.sleep(0.005)
    assert flush.batches == []  # still gathering
    tasks += [asyncio.ensure_future(gc.submit("k", i)) for i in range(3, 5)]
    # The fifth item fills the batch: it is written without waiting out max_wait.
    assert await asyncio.wait_for(asyncio.gather(*tasks), 0.5) == [0, 10, 20, 30, 40]
    assert flush.batches == [("k", [0, 1, 2, 3, 4])]


async def test_max_wait_counts_from_the_oldest_item_so_queued_items_never_linger_twice() -> None:
    loop = asyncio.get_running_loop()
    flush = Recorder()
    flush.gate = asyncio.Event()
    started: list[float] = []
    inner = flush.__call__

    async def timed(key: str, items: list[int]) -> Sequence[int | BaseException]:
        started.append(loop.time())
        return await inner(key, items)

    gc: GroupCommit[str, int, int] = GroupCommit("t_oldest", timed, max_wait=0.5)
    t0 = loop.time()
    first = asyncio.ensure_future(gc.submit("k", 0))
    await asyncio.sleep(0.6)
    assert started and started[0] - t0 >= 0.45  # with max_wait > 0 a lone item lingers
    rest = [asyncio.ensure_future(gc.submit("k", i)) for i in (1, 2)]
    await asyncio.sleep(0.6)  # these have waited longer than max_wait behind the flush
    released = loop.time()
    flush.gate.set()
    assert await asyncio.gather(first, *rest) == [0, 10, 20]
    assert started[1] - released < 0.4  # flushed at once, not after another max_wait


async def test_per_item_errors_reach_only_their_submitter() -> None:
    flush = Recorder()
    gc: GroupCommit[str, int, int] = GroupCommit("t_items", flush)
    items = [1, -2, 3, -4, 5]
    outcomes = await asyncio.gather(*(gc.submit("k", i) for i in items), return_exceptions=True)
    assert outcomes[0::2] == [10, 30, 50]
    assert [type(o) for o in outcomes[1::2]] == [Conflict, Conflict]
    assert [str(o) for o in outcomes[1::2]] == ["item -2", "item -4"]
    assert len(flush.batches) == 1


async def test_a_failing_flush_fails_its_whole_batch_and_only_that_batch() -> None:
    calls: list[list[int]] = []

    async def flush(key: str, items: list[int]) -> list[int]:
        calls.append(items)
        if len(calls) == 1:
            raise ConnectionError("database went away")
        return items

    gc: GroupCommit[str, int, int] = GroupCommit("t_fail", flush)
    failed = await asyncio.gather(*(gc.submit("k", i) for i in range(10)), return_exceptions=True)
    assert all(isinstance(o, ConnectionError) for o in failed)
    assert len({id(o) for o in failed}) == 1  # the flush's own exception, fanned out
    assert await asyncio.gather(*(gc.submit("k", i) for i in range(3))) == [0, 1, 2]
    assert gc.pending == 0


async def test_a_flush_answering_the_wrong_number_of_results_fails_the_batch() -> None:
    async def flush(key: str, items: list[int]) -> list[int]:
        return items[:-1]

    gc: GroupCommit[str, int, int] = GroupCommit("t_count", flush)
    outcomes = await asyncio.gather(*(gc.submit("k", i) for i in range(4)), return_exceptions=True)
    assert all(isinstance(o, RuntimeError) for o in outcomes)


async def test_one_flush_in_flight_per_key_while_keys_flush_concurrently() -> None:
    flush = Recorder(delay=0.005)
    gc: GroupCommit[str, int, int] = GroupCommit("t_keys", flush, max_batch=8)
    jobs = []
    for wave in range(5):
        jobs += [gc.submit(key, wave * 100 + i) for key in ("a", "b", "c") for i in range(20)]
        await asyncio.sleep(0.002)
    results = await asyncio.gather(*jobs)
    assert len(results) == 300
    assert dict(flush.max_in_flight) == {"a": 1, "b": 1, "c": 1}
    assert flush.max_total == 3  # the keys do not wait for one another
    for key in ("a", "b", "c"):
        written = [i for k, batch in flush.batches if k == key for i in batch]
        assert len(written) == len(set(written)) == 100


async def test_a_cancelled_submitter_waiting_for_its_batch_is_dropped() -> None:
    flush = Recorder()
    flush.gate = asyncio.Event()
    gc: GroupCommit[str, int, int] = GroupCommit("t_cancel_q", flush)
    busy = asyncio.ensure_future(gc.submit("k", 0))
    await asyncio.sleep(0.01)
    queued = [asyncio.ensure_future(gc.submit("k", i)) for i in (1, 2, 3)]
    await asyncio.sleep(0)
    queued[1].cancel()
    flush.gate.set()
    assert await busy == 0
    assert await queued[0] == 10 and await queued[2] == 30
    with pytest.raises(asyncio.CancelledError):
        await queued[1]
    assert flush.batches == [("k", [0]), ("k", [1, 3])]  # item 2 was never written
    assert gc.pending == 0


async def test_a_submitter_cancelled_during_its_flush_leaves_the_batch_intact() -> None:
    flush = Recorder()
    flush.gate = asyncio.Event()
    gc: GroupCommit[str, int, int] = GroupCommit("t_cancel_f", flush)
    tasks = [asyncio.ensure_future(gc.submit("k", i)) for i in range(5)]
    await asyncio.sleep(0.01)
    assert flush.batches == [("k", [0, 1, 2, 3, 4])]
    tasks[2].cancel()
    await asyncio.sleep(0)
    flush.gate.set()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(outcomes[2], asyncio.CancelledError)
    assert [outcomes[i] for i in (0, 1, 3, 4)] == [0, 10, 30, 40]
    assert flush.items() == [0, 1, 2, 3, 4]  # the cancelled item is still written
    assert await gc.submit("k", 7) == 70  # and the lane goes on
    assert gc.pending == 0


async def test_per_key_cap_refuses_fast_with_503_and_retry_after() -> None:
    flush = Recorder()
    flush.gate = asyncio.Event()
    flush.gated_keys = {"k"}
    gc: GroupCommit[str, int, int] = GroupCommit(
        "t_keycap", flush, max_queued_per_key=3, retry_after=4
    )
    busy = asyncio.ensure_future(gc.submit("k", 0))
    await asyncio.sleep(0.01)  # item 0 is being written; the queue holds up to 3 more
    queued = [asyncio.ensure_future(gc.submit("k", i)) for i in (1, 2, 3)]
    await asyncio.sleep(0)
    with pytest.raises(GroupCommitFull) as refused:
        await gc.submit("k", 4)
    assert refused.value.status == 503
    assert refused.value.headers == {"Retry-After": "4"}
    assert await asyncio.wait_for(gc.submit("other", 5), 1) == 50  # other keys still flow
    flush.gate.set()
    assert await asyncio.gather(busy, *queued) == [0, 10, 20, 30]
    assert await gc.submit("k", 6) == 60


async def test_global_cap_refuses_fast_across_keys() -> None:
    flush = Recorder()
    flush.gate = asyncio.Event()
    gc: GroupCommit[str, int, int] = GroupCommit("t_cap", flush, max_pending=5)
    before = REGISTRY.get_sample_value(
        "livevote_group_commit_rejected_total", {"kind": "t_cap", "reason": "full"}
    )
    accepted = [asyncio.ensure_future(gc.submit(f"k{i % 3}", i)) for i in range(5)]
    await asyncio.sleep(0.01)
    assert gc.pending == 5
    with pytest.raises(GroupCommitFull):
        await gc.submit("k9", 9)
    after = REGISTRY.get_sample_value(
        "livevote_group_commit_rejected_total", {"kind": "t_cap", "reason": "full"}
    )
    assert (after or 0) - (before or 0) == 1
    flush.gate.set()
    assert sorted(await asyncio.gather(*accepted)) == [0, 10, 20, 30, 40]
    assert gc.pending == 0


async def test_close_writes_queued_items_and_refuses_new_ones() -> None:
    flush = Recorder(delay=0.01)
    gc: GroupCommit[str, int, int] = GroupCommit("t_drain", flush, max_wait=5.0, max_batch=100)
    tasks = [asyncio.ensure_future(gc.submit(k, i)) for k in ("a", "b") for i in range(10)]
    await asyncio.sleep(0.01)
    assert flush.batches == []  # lingering for up to 5 s
    await asyncio.wait_for(gc.close(), 2)  # close stops the lingering and writes them now
    assert sorted(await asyncio.gather(*tasks)) == sorted([i * 10 for i in range(10)] * 2)
    assert sorted(flush.items()) == sorted(list(range(10)) * 2)
    with pytest.raises(GroupCommitClosed) as refused:
        await gc.submit("a", 1)
    assert refused.value.status == 503


async def test_close_fails_a_hung_flush_after_the_drain_timeout() -> None:
    flush = Recorder()
    flush.gate = asyncio.Event()  # never set: the database hangs
    gc: GroupCommit[str, int, int] = GroupCommit("t_hang", flush, drain_timeout=0.05)
    busy = [asyncio.ensure_future(gc.submit("k", i)) for i in range(3)]
    await asyncio.sleep(0.01)
    queued = [asyncio.ensure_future(gc.submit("k", i)) for i in range(3, 6)]
    await asyncio.wait_for(gc.close(), 2)
    outcomes = await asyncio.gather(*busy, *queued, return_exceptions=True)
    assert all(isinstance(o, GroupCommitClosed) for o in outcomes)
    assert flush.items() == [0, 1, 2]  # the queued items were never written
    assert gc.pending == 0


async def test_batch_sizes_and_flush_latency_are_measured() -> None:
    def samples(name: str, labels: dict[str, str]) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    batch = {"kind": "t_metrics"}
    before = samples("livevote_group_commit_batch_size_count", batch)
    before_sum = samples("livevote_group_commit_batch_size_sum", batch)
    gc: GroupCommit[str, int, int] = GroupCommit("t_metrics", Recorder())
    await asyncio.gather(*(gc.submit("k", i) for i in range(30)))
    assert samples("livevote_group_commit_batch_size_count", batch) - before == 1
    assert samples("livevote_group_commit_batch_size_sum", batch) - before_sum == 30
    flushed = {"kind": "t_metrics", "outcome": "ok"}
    assert samples("livevote_group_commit_flush_seconds_count", flushed) >= 1


async def test_the_app_lifespan_holds_the_group_commits_and_drains_them() -> None:
    flush = Recorder()
    made: list[GroupCommit[str, int, int]] = []

    def make() -> GroupCommit[str, int, int]:
        made.append(GroupCommit("t_app", flush, max_wait=5.0))
        return made[-1]

    app = Litestar(route_handlers=[])
    async with group_commit_lifespan(app):
        commits = provide_group_commits(app.state)
        gc = commits.get("t_app", make)
        assert commits.get("t_app", make) is gc  # one instance per app, made on first use
        tasks = [asyncio.ensure_future(gc.submit("k", n)) for n in range(3)]
        await asyncio.sleep(0.02)
        assert flush.batches == []  # lingering (max_wait=5 s) until shutdown drains it
    assert await asyncio.wait_for(asyncio.gather(*tasks), 1) == [0, 10, 20]
    assert len(made) == 1
    with pytest.raises(GroupCommitClosed):
        await gc.submit("k", 1)
