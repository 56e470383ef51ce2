"""The only code that names the poll collections or builds their filters.

    polls           {_id: ObjectId, key: str(_id), title, options: [str], tags: [str],
                     votes: {"0": n, "1": n, ...}, total, created_by, created_at}
                    last_batch, batch_seq: the counting chain (infra/batchcount.py)
    poll_responses  {poll_id: key, user_id, kind: "vote"|"skip", option_index?, batch?,
                     created_at}  unique (poll_id, user_id): one response per user per poll,
                    votes and skips alike, so a vote and a skip of the same poll cannot both
                    succeed. `batch` names the vote's counting batch (none on skips and on
                    votes stored before batches, which the old `$inc` counted).
    poll_batches    {_id: batch id, counter: the poll's _id, poll: key, state, inc, seq?}
                    one record per counting batch (infra/batchcount.py; `poll` because
                    NX-27017 cannot match ObjectId values outside `_id`)
    daily_votes     {user_id, day: "YYYY-MM-DD", count, expires_at}  unique (user_id, day)

Why `key` (the hex of `_id`) next to `_id`: it is time-ordered like the ObjectId, and every
server can range-scan it. NX-27017 cannot match ObjectId values outside `_id` and scans the
whole table for `_id` ranges, so feed walks, cursors and responses use the string key.
Counters are a sub-document (`votes.<i>`), not an array: NX-27017 ignores `$inc` on array
positions.

Duplicate keys never leave this module: a refused response comes back as the response
already stored, a full or raced daily counter as None (see `take_daily_slot`).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from livevote.infra.batchcount import BatchCounter, Outcome, State
from livevote.infra.hooks import NO_HOOKS, Hooks
from livevote.infra.mongo import Doc, eq

Database = AsyncDatabase[Doc]  # the handle a PollRepository is opened on

FEED_FIELDS = {
    "_id": 0,
    "key": 1,
    "title": 1,
    "options": 1,
    "tags": 1,
    "created_at": 1,
    "created_by": 1,
}
COUNTER_FIELDS = {"_id": 0, "key": 1, "options": 1, "votes": 1, "total": 1}
RESPONSE_FIELDS = {"kind": 1, "option_index": 1, "batch": 1}
DUPLICATE_KEY = 11000


@dataclass(frozen=True)
class StoredResponse:
    """A user's stored response: `batch` is the vote's counting batch (None for skips and for
    votes stored before batches existed, which were counted then)."""

    id: Any
    kind: str
    option_index: int | None = None
    batch: str | None = None


@dataclass(frozen=True)
class NewVote:
    user_id: str
    option_index: int
    at: datetime | None = None  # when it was cast (default: the time of the write)


def new_batch_id() -> str:
    """Batch ids never repeat (the chain relies on it)."""
    return uuid.uuid4().hex


def vote_increments(option_indexes: Iterable[int]) -> dict[str, int]:
    """The counter increments of these votes: `votes.<i>` per option and `total`."""
    inc: dict[str, int] = {}
    for index in option_indexes:
        inc[f"votes.{index}"] = inc.get(f"votes.{index}", 0) + 1
        inc["total"] = inc.get("total", 0) + 1
    return inc


def _response(doc: Doc) -> StoredResponse:
    index = doc.get("option_index")
    return StoredResponse(
        id=doc["_id"],
        kind=str(doc["kind"]),
        option_index=None if index is None else int(index),
        batch=doc.get("batch"),
    )


def feed_filter(*, tag: str | None, q: str | None, before: str | None) -> Doc:
    query: Doc = {}
    if tag:
        query["tags"] = tag.lower()
    if q:
        query["title"] = {"$regex": re.escape(q), "$options": "i"}
    if before:
        query["key"] = {"$lt": before}
    return query


class PollRepository:
    def __init__(self, db: Database, hooks: Hooks = NO_HOOKS) -> None:
        self.polls = db["polls"]
        self.responses = db["poll_responses"]
        self.batches = db["poll_batches"]
        self.daily = db["daily_votes"]
        self.counting = BatchCounter(self.polls, self.batches, hooks)

    # polls -------------------------------------------------------------------------------
    async def insert_poll(
        self, *, title: str, options: list[str], tags: list[str], user_id: str, now: datetime
    ) -> Doc:
        oid = ObjectId()
        doc: Doc = {
            "_id": oid,
            "key": str(oid),
            "title": title,
            "options": options,
            "tags": tags,
            "votes": {str(i): 0 for i in range(len(options))},
            "total": 0,
            "last_batch": "",
            "batch_seq": 0,
            "created_by": user_id,
            "created_at": now,
        }
        await self.polls.insert_one(doc)
        return doc

    async def options(self, key: str) -> list[str] | None:
        """The poll's options, or None when there is no such poll."""
        doc = await self.polls.find_one({"_id": ObjectId(key)}, {"_id": 0, "options": 1})
        return None if doc is None else list(doc["options"])

    async def counters(self, key: str) -> Doc | None:
        return await self.polls.find_one({"_id": ObjectId(key)}, COUNTER_FIELDS)

    async def newest(
        self, *, tag: str | None, q: str | None, before: str | None, size: int
    ) -> list[Doc]:
        """One batch of the catalogue, newest first, strictly older than `before`."""
        cursor = self.polls.find(feed_filter(tag=tag, q=q, before=before), FEED_FIELDS)
        return await cursor.sort("key", -1).limit(size).to_list()

    # counting batches (infra/batchcount.py; the rules of their use are in counting.py) -----
    async def record_batch(self, key: str, batch: str, inc: dict[str, int]) -> State:
        return await self.counting.record(ObjectId(key), batch, inc, poll=key)

    async def apply_batch(self, key: str, batch: str) -> Outcome:
        return await self.counting.apply(ObjectId(key), batch)

    async def batch_state(self, key: str, batch: str) -> State:
        return await self.counting.state(ObjectId(key), batch)

    async def void_missing_batch(self, key: str, batch: str) -> State:
        """Void a batch whose record is missing; a record written meanwhile is left alone."""
        return await self.counting.void(ObjectId(key), batch, missing_only=True)

    async def void_unused_batch(self, key: str, batch: str) -> State:
        """Void a recorded batch that no vote points at (a lost re-batching race)."""
        return await self.counting.void(ObjectId(key), batch)

    async def sealed_batches(self, key: str | None = None) -> dict[str, set[str]]:
        """Per poll key, its applied batches except the last one (which only the poll's
        `last_batch` may name yet): of one poll, or of every poll."""
        query: Doc = {"state": "applied"}
        if key:
            query["poll"] = key
        out: dict[str, set[str]] = {}
        async for doc in self.batches.find(query, {"poll": 1}):
            out.setdefault(str(doc.get("poll")), set()).add(str(doc["_id"]))
        return out

    # responses ---------------------------------------------------------------------------
    async def store_votes(
        self, *, poll_key: str, votes: list[NewVote], batch: str, now: datetime
    ) -> list[StoredResponse | None]:
        """Store each user's vote in `batch`, in one unordered write: None for each vote stored,
        the user's earlier response (vote or skip) for each one the unique index refused."""
        docs: list[Doc] = [
            {
                "poll_id": poll_key,
                "user_id": v.user_id,
                "kind": "vote",
                "option_index": v.option_index,
                "batch": batch,
                "created_at": v.at or now,
            }
            for v in votes
        ]
        refused: set[int] = set()
        try:
            await self.responses.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != DUPLICATE_KEY for e in errors):
                raise
            refused = {int(e["index"]) for e in errors}
        out: list[StoredResponse | None] = []
        for i, vote in enumerate(votes):
            earlier = None
            if i in refused:
                # Responses are never deleted, so the earlier one is there to read back.
                earlier = await self.response(poll_key=poll_key, user_id=vote.user_id)
                earlier = earlier or StoredResponse(id=None, kind="vote")
            out.append(earlier)
        return out

    async def record_skip(self, *, poll_key: str, user_id: str, now: datetime) -> str | None:
        """Store the user's skip: None when stored; when the unique index refuses it, the kind
        ("vote"/"skip") of the response the user gave before."""
        doc: Doc = {"poll_id": poll_key, "user_id": user_id, "kind": "skip", "created_at": now}
        try:
            await self.responses.insert_one(doc)
        except DuplicateKeyError:
            earlier = await self.response(poll_key=poll_key, user_id=user_id)
            return earlier.kind if earlier else "skip"
        return None

    async def response(self, *, poll_key: str, user_id: str) -> StoredResponse | None:
        found = await self.responses.find_one(
            {"poll_id": poll_key, "user_id": user_id}, RESPONSE_FIELDS
        )
        return None if found is None else _response(found)

    async def response_batch(self, response_id: Any) -> str | None:
        found = await self.responses.find_one({"_id": response_id}, {"batch": 1})
        return None if found is None else found.get("batch")

    async def move_vote(self, response_id: Any, *, from_batch: str, to_batch: str) -> bool:
        """Check-and-set of a vote's batch: True when this call moved it."""
        moved = await self.responses.update_one(
            {"_id": response_id, "batch": from_batch}, {"$set": {"batch": to_batch}}
        )
        return moved.modified_count == 1

    async def answered_among(
        self, *, user_id: str, keys: list[str], contiguous: bool = False
    ) -> set[str]:
        """Which of `keys` the user has answered: one indexed query per batch.

        The key range bounds the scan of the (user_id, poll_id) index to the batch, so the cost
        does not grow with the number of polls the user answered elsewhere. `contiguous` says
        the batch is every poll in its range (an unfiltered feed): the range alone is then
        exact; otherwise `$in` keeps it exact for sparse (filtered) batches."""
        if not keys:
            return set()
        answered: Doc = {"$gte": min(keys), "$lte": max(keys)}
        if not contiguous:
            answered["$in"] = keys
        found = await self.responses.find(
            {"user_id": user_id, "poll_id": answered}, {"_id": 0, "poll_id": 1}
        ).to_list()
        return {d["poll_id"] for d in found}

    async def votes(self, key: str | None = None) -> AsyncIterator[tuple[str, StoredResponse]]:
        """Every stored vote (of one poll, by key, or of every poll) as (poll key, vote)."""
        match: Doc = {"kind": "vote"}
        if key:
            match["poll_id"] = key
        async for doc in self.responses.find(eq(match), {**RESPONSE_FIELDS, "poll_id": 1}):
            yield str(doc["poll_id"]), _response(doc)

    async def all_counters(self, key: str | None = None) -> list[Doc]:
        """The counters {key, options, votes, total, last_batch} of one poll or of every poll."""
        query: Doc = {"key": key} if key else {}
        return await self.polls.find(query, {**COUNTER_FIELDS, "last_batch": 1}).to_list()

    async def replace_counters(self, key: str, votes: dict[str, int], *, last_batch: Any) -> bool:
        """Write recounted counters (the total follows from the votes), only while the chain
        still ends at `last_batch` (the batch the recount read): True when written."""
        at_last = {"$exists": False} if last_batch is None else last_batch
        done = await self.polls.update_one(
            {"key": key, "last_batch": at_last},
            {"$set": {"votes": votes, "total": sum(votes.values())}},
        )
        return done.matched_count == 1

    # daily vote limit --------------------------------------------------------------------
    async def take_daily_slot(
        self, *, user_id: str, day: str, limit: int, expires_at: datetime
    ) -> int | None:
        """Check-and-set on the (user, day) counter: the new count, or None when full."""
        # eq(): NX-27017 answers the bare form of this findAndModify with a scan of daily_votes
        query: Doc = eq({"user_id": user_id, "day": day, "count": {"$lt": limit}})
        update: Doc = {"$inc": {"count": 1}, "$setOnInsert": {"expires_at": expires_at}}
        try:
            doc = await self.daily.find_one_and_update(
                query, update, upsert=True, return_document=ReturnDocument.AFTER
            )
        except DuplicateKeyError:
            doc = None
        if doc is None:
            # Either the counter is full (the filter missed, so the upsert hit the unique
            # index), or two first votes of the day raced on the upsert. MongoDB raises
            # DuplicateKeyError; NX-27017 returns None instead. Both: retry once without upsert.
            doc = await self.daily.find_one_and_update(
                query, {"$inc": {"count": 1}}, return_document=ReturnDocument.AFTER
            )
        if doc is None:
            return None
        if "expires_at" not in doc:
            # NX-27017 drops $setOnInsert beside $inc (and an upsert's $set stores a date as a
            # string): the new counter gets its expiry by a second write, once per user per day,
            # or the TTL index never removes it. MongoDB has it already: no write there.
            await self.daily.update_one({"_id": doc["_id"]}, {"$set": {"expires_at": expires_at}})
        return int(doc["count"])

    async def release_daily_slot(self, *, user_id: str, day: str) -> None:
        await self.daily.update_one(
            eq({"user_id": user_id, "day": day, "count": {"$gt": 0}}), {"$inc": {"count": -1}}
        )

    async def daily_count(self, *, user_id: str, day: str) -> int:
        doc = await self.daily.find_one(eq({"user_id": user_id, "day": day}), {"count": 1})
        return int(doc["count"]) if doc else 0
