"""Exactly-once counting of batches of stored facts, at a flat cost per batch.

The problem: a fact (a vote, a join, a poll vote) is stored by one write and counted by
another (`$inc` on a counter document). A crash or an outage between the two leaves the
outcome unknown, and a client's retry must finish the count exactly once. Marking each counted
fact inside the counter document (`counted.<fact id>`) makes the counter document grow with
every fact, and every later write rewrites a larger document; this module keeps the counter
document the same size for ever.

The chain. Facts are counted in batches; a batch is one document in a `batches` collection
(`{_id, counter, state: pending|applied|void, inc, seq}`, the batch id a string) and the
counter document carries two fields of its own: `last_batch` (the id of the batch whose `$inc`
it took last, "" for none) and `batch_seq` (how many batches it took). Applying batch B is
ONE check-and-set on the counter document:

    filter  {_id: counter, last_batch: L, ...guard}
    update  {$inc: {...B.inc, batch_seq: 1}, $set: {last_batch: B}}

and before any applier moves `last_batch` from L to B it first seals L (`state: applied`,
`seq`). So at every instant:

    B was applied  ⟺  counter.last_batch == B  or  batches[B].state == "applied"

and no batch is applied twice: the check-and-set only matches while `last_batch` is the L its
applier read, L is sealed before, every applier reads the counter before B's own state, and
batch ids never repeat (so `last_batch` never returns to an old value). Any number of
appliers of the same batch, in any number of processes, racing or retrying after a crash at
any point, apply it once. `guard` is the domain's condition on the counter (e.g. "voting is
open for this team, window generation G"); when it fails the batch is refused, and a caller
whose guard can never hold again voids the batch (`void`), after which it can never apply.

A batch is recorded (`record`, state pending, with its increments) after its facts are stored
and before it is applied, so a retry can finish it from the record alone. A batch whose
record is missing (its writer died between storing the facts and recording the batch) is
voided by inserting a void record under its id: the unique `_id` decides between a late
writer and the voider, and the facts of a void batch are re-batched by whoever finds them.

Cost: `record` + read + seal + check-and-set = 4 writes and reads per batch, whatever its size and
however many facts the counter has seen (group commit makes batches large under load).
"""

from __future__ import annotations

import asyncio
import random
import weakref
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from livevote.errors import ServiceUnavailable
from livevote.infra.hooks import NO_HOOKS, Hooks
from livevote.infra.mongo import Doc

APPLY_ATTEMPTS = 200  # each failed attempt means another batch moved the chain: progress

# Appliers in one process take turns per counter (cuts wasted check-and-sets; correctness
# never relies on it: other processes race through the chain).
_turns: weakref.WeakValueDictionary[tuple[int, str, str], asyncio.Lock] = (
    weakref.WeakValueDictionary()
)


def _turn(collection: str, counter_id: Any) -> asyncio.Lock:
    key = (id(asyncio.get_running_loop()), collection, str(counter_id))
    lock = _turns.get(key)
    if lock is None:
        lock = _turns[key] = asyncio.Lock()
    return lock


class State(StrEnum):
    PENDING = "pending"
    APPLIED = "applied"
    VOID = "void"
    MISSING = "missing"


@dataclass(frozen=True)
class Outcome:
    """`applied` with the counter's batch sequence number of this batch (its place in the
    counting order), or `refused` (the guard did not hold) or `void`."""

    state: State
    seq: int = 0
    refused: bool = False


class BatchCounter:
    """Counts batches into documents of `counters`; batch records live in `batches`.

    Hook points (infra/hooks.py), for crash tests: `batch.after_seal`, `batch.after_apply`.
    """

    def __init__(
        self,
        counters: AsyncCollection[Doc],
        batches: AsyncCollection[Doc],
        hooks: Hooks = NO_HOOKS,
    ) -> None:
        self.counters = counters
        self.batches = batches
        self.hooks = hooks

    async def record(
        self, counter_id: Any, batch_id: str, inc: dict[str, int], **extra: Any
    ) -> State:
        """Record a pending batch with its increments. Returns PENDING, or VOID when the
        batch was voided first (a retry gave up on its writer: its facts must be re-batched)."""
        doc = {"_id": batch_id, "counter": counter_id, "state": "pending", "inc": inc, **extra}
        try:
            await self.batches.insert_one(doc)
        except DuplicateKeyError:
            return await self.state(counter_id, batch_id)
        return State.PENDING

    async def state(self, counter_id: Any, batch_id: str) -> State:
        counter = await self.counters.find_one({"_id": counter_id}, {"last_batch": 1})
        if counter is not None and counter.get("last_batch") == batch_id:
            return State.APPLIED
        doc = await self.batches.find_one({"_id": batch_id}, {"state": 1})
        return State(doc["state"]) if doc else State.MISSING

    async def apply(
        self,
        counter_id: Any,
        batch_id: str,
        guard: Doc | None = None,
        inc: dict[str, int] | None = None,
    ) -> Outcome:
        """Apply a recorded batch exactly once (see the module docstring for why). `inc`: the
        increments its writer just recorded (saves reading the record back); None reads them
        from the record (a retry finishing someone else's batch)."""
        guard = guard or {}
        if inc is None:
            batch = await self.batches.find_one({"_id": batch_id})
            if batch is None:
                raise LookupError(f"batch {batch_id} was never recorded")
            inc = batch["inc"]
        inc = {k: int(v) for k, v in inc.items() if int(v)}
        async with _turn(self.counters.name, counter_id):
            return await self._apply(counter_id, batch_id, inc, guard)

    async def _apply(
        self, counter_id: Any, batch_id: str, inc: dict[str, int], guard: Doc
    ) -> Outcome:
        for attempt in range(APPLY_ATTEMPTS):
            if attempt:  # another process moved the chain: back off a little, with jitter
                await asyncio.sleep(random.uniform(0, 0.001 * min(attempt, 20)))
            counter = await self.counters.find_one(
                {"_id": counter_id}, {"last_batch": 1, "batch_seq": 1}
            )
            if counter is None:
                return Outcome(State.PENDING, refused=True)
            last, seq = counter.get("last_batch") or "", int(counter.get("batch_seq") or 0)
            # a counter made before batches existed has no `last_batch` field yet
            at_last: Any = last if "last_batch" in counter else {"$exists": False}
            if last == batch_id:
                return Outcome(State.APPLIED, seq)
            if last:
                await self._seal(last, seq)
                self.hooks.reached("batch.after_seal")
            mine = await self.batches.find_one({"_id": batch_id}, {"state": 1, "seq": 1})
            if mine is None:  # pragma: no cover - records are never deleted while counting
                raise LookupError(f"batch {batch_id} vanished")
            if mine["state"] != "pending":
                return Outcome(State(mine["state"]), int(mine.get("seq") or 0))
            moved = await self.counters.find_one_and_update(
                {"_id": counter_id, "last_batch": at_last, **guard},
                {"$inc": {**inc, "batch_seq": 1}, "$set": {"last_batch": batch_id}},
                projection={"batch_seq": 1},
                return_document=ReturnDocument.AFTER,
            )
            if moved is not None:
                self.hooks.reached("batch.after_apply")
                return Outcome(State.APPLIED, int(moved["batch_seq"]))
            if guard and await self.counters.find_one({"_id": counter_id, **guard}) is None:
                return Outcome(State.PENDING, refused=True)
        raise ServiceUnavailable("counting is very busy; retry")

    async def void(self, counter_id: Any, batch_id: str, *, missing_only: bool = False) -> State:
        """Give up on a batch that must never apply: its guard can never hold again, or its
        record is missing. Returns VOID, or APPLIED when it was applied after all.

        `missing_only`: void it only if its record is still missing. A record written in the
        meantime is left as it is (its state is returned): its writer may be applying it at
        this very moment, and flipping a pending batch whose guard can hold would let that
        apply land on a batch that says void."""
        try:
            await self.batches.insert_one(
                {"_id": batch_id, "counter": counter_id, "state": "void", "inc": {}}
            )
            return State.VOID
        except DuplicateKeyError:
            if missing_only:
                return await self.state(counter_id, batch_id)
        counter = await self.counters.find_one({"_id": counter_id}, {"last_batch": 1})
        if counter is not None and counter.get("last_batch") == batch_id:
            return State.APPLIED
        doc = await self.batches.find_one_and_update(
            {"_id": batch_id, "state": "pending"},
            {"$set": {"state": "void"}},
            projection={"state": 1},
            return_document=ReturnDocument.AFTER,
        )
        if doc is not None:
            return State.VOID
        return await self.state(counter_id, batch_id)

    async def _seal(self, batch_id: str, seq: int) -> None:
        await self.batches.update_one(
            {"_id": batch_id, "state": "pending"}, {"$set": {"state": "applied", "seq": seq}}
        )

    async def applied_ids(self, counter_id: Any) -> set[str]:
        """Every applied batch of a counter (for recounts and ledgers)."""
        ids = {
            str(d["_id"])
            async for d in self.batches.find(
                {"counter": counter_id, "state": "applied"}, {"_id": 1}
            )
        }
        counter = await self.counters.find_one({"_id": counter_id}, {"last_batch": 1})
        if counter is not None and counter.get("last_batch"):
            ids.add(str(counter["last_batch"]))
        return ids
