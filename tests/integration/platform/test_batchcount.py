"""infra/batchcount.py against the real embedded MongoDB-compatible server: a batch is applied
exactly once however many appliers race, retry or crash, and the counter document stays the
same size whatever the number of batches."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from livevote.infra.batchcount import BatchCounter, State


class Crash(Exception):
    """A process dying at a hook point."""


class CrashAt:
    def __init__(self, point: str, times: int) -> None:
        self.point, self.left = point, times

    def reached(self, point: str) -> None:
        if point == self.point and self.left > 0:
            self.left -= 1
            raise Crash(point)


@pytest.fixture
async def db(stack: Any) -> AsyncIterator[Any]:
    client: AsyncMongoClient[Any] = AsyncMongoClient(stack.mongo_uri, tz_aware=True)
    database = client[f"batchcount_{uuid.uuid4().hex[:8]}"]
    try:
        yield database
    finally:
        await client.drop_database(database.name)
        await client.close()


async def _counter(db: Any, **fields: Any) -> str:
    cid = uuid.uuid4().hex
    await db["counters"].insert_one(
        {"_id": cid, "n": 0, "last_batch": "", "batch_seq": 0, **fields}
    )
    return cid


async def test_fifty_racing_appliers_apply_one_batch_once(db: Any) -> None:
    bc = BatchCounter(db["counters"], db["batches"])
    cid = await _counter(db)
    assert await bc.record(cid, "b1", {"n": 7}) is State.PENDING
    outcomes = await asyncio.gather(*(bc.apply(cid, "b1") for _ in range(50)))
    assert {o.state for o in outcomes} == {State.APPLIED}
    assert {o.seq for o in outcomes} == {1}
    doc = await db["counters"].find_one({"_id": cid})
    assert (doc["n"], doc["batch_seq"], doc["last_batch"]) == (7, 1, "b1")


async def test_many_batches_many_appliers_each_counted_once(db: Any, stack: Any) -> None:
    """100 batches, each applied by three racing appliers (a request and two retries): one
    third in this event loop, two thirds in two other threads with their own loops and
    clients, as other processes would (they do not share this loop's turn-taking)."""
    bc = BatchCounter(db["counters"], db["batches"])
    cid = await _counter(db)
    sizes = {f"b{i}": random.randint(1, 9) for i in range(100)}
    for bid, size in sizes.items():
        await bc.record(cid, bid, {"n": size})
    order = [bid for bid in sizes for _ in range(3)]
    random.shuffle(order)
    uri, name = stack.mongo_uri, db.name

    def elsewhere(bids: list[str]) -> list[Any]:
        async def run() -> list[Any]:
            client: AsyncMongoClient[Any] = AsyncMongoClient(uri)
            try:
                mine = BatchCounter(client[name]["counters"], client[name]["batches"])
                return list(await asyncio.gather(*(mine.apply(cid, b) for b in bids)))
            finally:
                await client.close()

        return asyncio.run(run())

    thirds = [order[0::3], order[1::3], order[2::3]]
    here, *there = await asyncio.gather(
        asyncio.gather(*(bc.apply(cid, b) for b in thirds[0])),
        asyncio.to_thread(elsewhere, thirds[1]),
        asyncio.to_thread(elsewhere, thirds[2]),
    )
    order = thirds[0] + thirds[1] + thirds[2]
    outcomes = list(here) + there[0] + there[1]
    assert all(o.state is State.APPLIED for o in outcomes)
    doc = await db["counters"].find_one({"_id": cid})
    assert doc["n"] == sum(sizes.values())
    assert doc["batch_seq"] == 100
    assert await bc.applied_ids(cid) == set(sizes)
    # the counting order: every batch has one place in 1..100, whoever answered
    places: dict[str, set[int]] = {}
    for bid, out in zip(order, outcomes, strict=True):
        places.setdefault(bid, set()).add(out.seq)
    assert all(len(p) == 1 for p in places.values())
    assert sorted(min(p) for p in places.values()) == list(range(1, 101))


@pytest.mark.parametrize("point", ["batch.after_seal", "batch.after_apply"])
async def test_a_crash_at_any_point_then_retries_counts_once(db: Any, point: str) -> None:
    cid = await _counter(db)
    crashing = BatchCounter(db["counters"], db["batches"], hooks=CrashAt(point, 10))
    healthy = BatchCounter(db["counters"], db["batches"])
    await healthy.record(cid, "first", {"n": 1})
    await healthy.apply(cid, "first")  # so that the next apply seals something
    for i in range(10):
        await healthy.record(cid, f"c{i}", {"n": 10})
        with pytest.raises(Crash):
            await crashing.apply(cid, f"c{i}")
        again = await asyncio.gather(*(healthy.apply(cid, f"c{i}") for _ in range(5)))
        assert {o.state for o in again} == {State.APPLIED}
    doc = await db["counters"].find_one({"_id": cid})
    assert doc["n"] == 1 + 10 * 10


async def test_guard_refuses_and_a_voided_batch_never_applies(db: Any) -> None:
    bc = BatchCounter(db["counters"], db["batches"])
    cid = await _counter(db, open=True, gen=1)
    await bc.record(cid, "late", {"n": 5})
    await db["counters"].update_one({"_id": cid}, {"$set": {"open": False, "gen": 2}})
    out = await bc.apply(cid, "late", {"open": True, "gen": 1})
    assert out.refused and out.state is State.PENDING
    assert await bc.void(cid, "late") is State.VOID
    await db["counters"].update_one({"_id": cid}, {"$set": {"open": True}})
    out = await bc.apply(cid, "late", {"open": True})
    assert out.state is State.VOID
    assert (await db["counters"].find_one({"_id": cid}))["n"] == 0


async def test_void_of_a_missing_record_beats_a_late_writer(db: Any) -> None:
    """The writer died between storing its facts and recording the batch: a retry voids the
    batch id, and the late writer's record is refused (its facts get re-batched)."""
    bc = BatchCounter(db["counters"], db["batches"])
    cid = await _counter(db)
    results = await asyncio.gather(
        *(bc.void(cid, "orphan") for _ in range(20)),
        *(bc.record(cid, "orphan", {"n": 3}) for _ in range(20)),
    )
    voids, records = results[:20], results[20:]
    if all(r is State.VOID for r in records):  # the void came first
        assert set(voids) == {State.VOID}
    else:  # the writer came first: nobody may void a pending batch that can still apply
        assert State.PENDING in records
    assert (await db["counters"].find_one({"_id": cid}))["n"] == 0


async def test_void_after_apply_reports_applied(db: Any) -> None:
    bc = BatchCounter(db["counters"], db["batches"])
    cid = await _counter(db)
    await bc.record(cid, "a", {"n": 2})
    await bc.apply(cid, "a")
    assert await bc.void(cid, "a") is State.APPLIED
    await bc.record(cid, "b", {"n": 2})
    await bc.apply(cid, "b")  # seals "a"
    assert await bc.void(cid, "a") is State.APPLIED
    assert await bc.state(cid, "a") is State.APPLIED


async def test_a_counter_without_chain_fields_starts_a_chain(db: Any) -> None:
    """Counters written before batches existed (no last_batch / batch_seq) still count."""
    bc = BatchCounter(db["counters"], db["batches"])
    await db["counters"].insert_one({"_id": "legacy", "n": 4})
    await bc.record("legacy", "x", {"n": 1})
    outs = await asyncio.gather(*(bc.apply("legacy", "x") for _ in range(20)))
    assert {o.state for o in outs} == {State.APPLIED}
    assert (await db["counters"].find_one({"_id": "legacy"}))["n"] == 5


async def test_counter_document_size_is_flat(db: Any) -> None:
    bc = BatchCounter(db["counters"], db["batches"])
    cid = await _counter(db)
    sizes = []
    for i in range(300):
        await bc.record(cid, f"s{i}", {"n": 1})
        await bc.apply(cid, f"s{i}")
        if i in (10, 299):
            doc = await db["counters"].find_one({"_id": cid})
            sizes.append(len(str(doc)))
    assert abs(sizes[1] - sizes[0]) <= 4, sizes


async def test_void_of_a_missing_record_never_voids_a_writer_that_came_first(db: Any) -> None:
    """`missing_only`: a voider that finds the record written meanwhile leaves it pending: a
    writer whose record went in first always applies (a pending batch flipped to void under
    its writer's apply could end up counted and void, and its facts counted again when
    re-batched)."""
    bc = BatchCounter(db["counters"], db["batches"])
    cid = await _counter(db)
    applied = 0
    for i in range(20):
        bid = f"w{i}"

        async def writer(bid: str = bid) -> tuple[State, State]:
            recorded = await bc.record(cid, bid, {"n": 1})
            if recorded is State.VOID:
                return recorded, recorded
            return recorded, (await bc.apply(cid, bid)).state

        (recorded, final), *voids = await asyncio.gather(
            writer(), *(bc.void(cid, bid, missing_only=True) for _ in range(5))
        )
        if recorded is State.PENDING:
            assert final is State.APPLIED and State.VOID not in voids
            applied += 1
        else:
            assert final is State.VOID and State.VOID in voids
        await bc.record(cid, f"next{i}", {})  # seals bid if it was applied
        await bc.apply(cid, f"next{i}")
        assert await bc.state(cid, bid) is final
    assert (await db["counters"].find_one({"_id": cid}))["n"] == applied
