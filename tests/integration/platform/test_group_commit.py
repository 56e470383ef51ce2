"""Group commit against the real database (NX-27017 by default, MongoDB with MONGODB_URI):
a flush writes its batch with one `insert_many(ordered=False)` into a collection with a unique
index and one `$inc` of a counter; duplicates fail alone and map to their own 409."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from bson import ObjectId
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from livevote.errors import Conflict
from livevote.infra.groupcommit import GroupCommit
from tests.support.servers import Backing

DUPLICATE_KEY = 11000


@pytest.fixture
async def db(stack: Backing) -> AsyncIterator[AsyncDatabase[Any]]:
    client: AsyncMongoClient[Any] = AsyncMongoClient(stack.mongo_uri)
    database = client[f"gc_{uuid.uuid4().hex[:10]}"]
    await database["ballots"].create_index([("event", 1), ("voter", 1)], unique=True)
    try:
        yield database
    finally:
        await client.drop_database(database.name)
        await client.close()


@dataclass
class BallotWriter:
    """A domain's flush: one insert_many(ordered=False) and one $inc per batch."""

    db: AsyncDatabase[Any]
    batches: list[int] = field(default_factory=list)

    async def flush(self, event: str, voters: list[str]) -> list[str | BaseException]:
        docs = [{"_id": ObjectId(), "event": event, "voter": v} for v in voters]
        duplicates: set[int] = set()
        try:
            await self.db["ballots"].insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details["writeErrors"]
            if any(e["code"] != DUPLICATE_KEY for e in errors):
                raise
            duplicates = {int(e["index"]) for e in errors}  # positions in `docs`
        inserted = len(docs) - len(duplicates)
        if inserted:
            await self.db["counters"].update_one(
                {"_id": event}, {"$inc": {"ballots": inserted, "batches": 1}}
            )
        self.batches.append(len(docs))
        return [
            Conflict(f"{v} already voted", type="already-voted")
            if i in duplicates
            else str(d["_id"])
            for i, (v, d) in enumerate(zip(voters, docs, strict=True))
        ]


async def counter(db: AsyncDatabase[Any], event: str) -> dict[str, Any]:
    doc: dict[str, Any] | None = await db["counters"].find_one({"_id": event})
    assert doc is not None
    return doc


async def test_200_concurrent_submits_with_20_duplicates(db: AsyncDatabase[Any]) -> None:
    await db["counters"].insert_one({"_id": "e1", "ballots": 0, "batches": 0})
    voters = [f"v{i}" for i in range(180)]
    rng = random.Random(27017)
    voters += rng.sample(voters, 20)  # 20 deliberate duplicates
    rng.shuffle(voters)
    writer = BallotWriter(db)
    gc: GroupCommit[str, str, str] = GroupCommit("it_ballots", writer.flush, max_batch=64)

    outcomes = await asyncio.gather(*(gc.submit("e1", v) for v in voters), return_exceptions=True)

    stored = {d["_id"]: d["voter"] async for d in db["ballots"].find({"event": "e1"})}
    assert len(stored) == 180
    won = [(v, o) for v, o in zip(voters, outcomes, strict=True) if isinstance(o, str)]
    lost = [(v, o) for v, o in zip(voters, outcomes, strict=True) if not isinstance(o, str)]
    assert len(won) == 180 and len(lost) == 20
    assert all(isinstance(o, Conflict) and o.status == 409 for _, o in lost)
    # Each voter won exactly once, and the id it was given is the stored ballot.
    assert sorted(v for v, _ in won) == sorted(set(voters))
    assert all(stored[ObjectId(o)] == v for v, o in won)
    assert Counter(v for v, _ in lost) == Counter(voters) - Counter(set(voters))
    totals = await counter(db, "e1")
    assert totals["ballots"] == 180
    assert len(writer.batches) == totals["batches"] == 4  # 200 writes in 4 round trips
    assert gc.pending == 0


async def test_staggered_arrivals_batch_naturally_and_count_exactly(
    db: AsyncDatabase[Any],
) -> None:
    """Requests arriving one by one over time (as HTTP requests do): each flush in flight
    gathers the next batch. Half the voters voted before (stored documents)."""
    await db["counters"].insert_one({"_id": "e2", "ballots": 0, "batches": 0})
    await db["ballots"].insert_many([{"event": "e2", "voter": f"v{i}"} for i in range(0, 200, 2)])
    writer = BallotWriter(db)
    gc: GroupCommit[str, str, str] = GroupCommit("it_staggered", writer.flush)
    rng = random.Random(1)

    async def vote(voter: str) -> str | BaseException:
        await asyncio.sleep(rng.uniform(0, 0.2))
        try:
            return await gc.submit("e2", voter)
        except Conflict as exc:
            return exc

    outcomes = await asyncio.gather(*(vote(f"v{i}") for i in range(200)))
    assert [isinstance(o, Conflict) for o in outcomes] == [i % 2 == 0 for i in range(200)]
    assert await db["ballots"].count_documents({"event": "e2"}) == 200
    assert (await counter(db, "e2"))["ballots"] == 100
    assert sum(writer.batches) == 200
    assert len(writer.batches) < 200  # some requests shared a round trip


async def test_two_processes_writing_the_same_key_still_count_exactly(
    db: AsyncDatabase[Any],
) -> None:
    """One flush in flight per key holds per process only; across processes (two instances
    here) the unique index and $inc keep the result exact."""
    await db["counters"].insert_one({"_id": "e3", "ballots": 0, "batches": 0})
    writers = [BallotWriter(db), BallotWriter(db)]
    instances: list[GroupCommit[str, str, str]] = [
        GroupCommit(f"it_proc{n}", w.flush, max_batch=16) for n, w in enumerate(writers)
    ]
    voters = [f"v{i % 120}" for i in range(240)]  # every voter tries twice
    outcomes = await asyncio.gather(
        *(instances[i % 2].submit("e3", v) for i, v in enumerate(voters)),
        return_exceptions=True,
    )
    assert sum(isinstance(o, str) for o in outcomes) == 120
    assert sum(isinstance(o, Conflict) for o in outcomes) == 120
    assert await db["ballots"].count_documents({"event": "e3"}) == 120
    assert (await counter(db, "e3"))["ballots"] == 120
