"""The only code that names the poll collections or builds their filters.

    polls           {_id: ObjectId, key: str(_id), title, options: [str], tags: [str],
                     votes: {"0": n, "1": n, ...}, total, created_by, created_at}
    poll_responses  {poll_id: key, user_id, kind: "vote"|"skip", option_index?, created_at}
                    unique (poll_id, user_id): one response per user per poll, votes and
                    skips alike, so a vote and a skip of the same poll cannot both succeed.
    daily_votes     {user_id, day: "YYYY-MM-DD", count, expires_at}  unique (user_id, day)

Why `key` (the hex of `_id`) next to `_id`: it is time-ordered like the ObjectId, and every
server can range-scan it. NX-27017 cannot match ObjectId values outside `_id` and scans the
whole table for `_id` ranges, so feed walks, cursors and responses use the string key.
Counters are a sub-document (`votes.<i>`), not an array: NX-27017 ignores `$inc` on array
positions.

Duplicate keys never leave this module: a refused response comes back as the kind of the
response already stored, a full or raced daily counter as None (see `take_daily_slot`).
"""

from __future__ import annotations

import re
from datetime import datetime

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from livevote.infra.mongo import Doc

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
    def __init__(self, db: Database) -> None:
        self.polls = db["polls"]
        self.responses = db["poll_responses"]
        self.daily = db["daily_votes"]

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

    async def count_vote(self, key: str, option_index: int) -> Doc | None:
        """$inc one option and the total; returns the counters after the increment."""
        return await self.polls.find_one_and_update(
            {"_id": ObjectId(key)},
            {"$inc": {f"votes.{option_index}": 1, "total": 1}},
            projection=COUNTER_FIELDS,
            return_document=ReturnDocument.AFTER,
        )

    # responses ---------------------------------------------------------------------------
    async def record_response(
        self, *, poll_key: str, user_id: str, kind: str, option_index: int | None, now: datetime
    ) -> str | None:
        """Store the user's one response to the poll: None when stored; when the unique index
        refuses it, the kind ("vote"/"skip") of the response the user gave before."""
        doc: Doc = {"poll_id": poll_key, "user_id": user_id, "kind": kind, "created_at": now}
        if option_index is not None:
            doc["option_index"] = option_index
        try:
            await self.responses.insert_one(doc)
        except DuplicateKeyError:
            # Responses are never deleted, so the earlier one is there to read back.
            earlier = await self.response_kind(poll_key=poll_key, user_id=user_id)
            return earlier or kind
        return None

    async def response_kind(self, *, poll_key: str, user_id: str) -> str | None:
        found = await self.responses.find_one(
            {"poll_id": poll_key, "user_id": user_id}, {"_id": 0, "kind": 1}
        )
        return None if found is None else str(found["kind"])

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

    async def votes_per_option(self, key: str | None = None) -> dict[tuple[str, int], int]:
        """Votes per (poll key, option index), counted from the stored responses."""
        match: Doc = {"kind": "vote"}
        if key:
            match["poll_id"] = key
        # Counted here rather than by a $group on a compound _id, which NX-27017 does not
        # evaluate; the stream is one covered pass over the votes either way.
        counts: dict[tuple[str, int], int] = {}
        fields = {"_id": 0, "poll_id": 1, "option_index": 1}
        async for vote in self.responses.find(match, fields):
            slot = (str(vote["poll_id"]), int(vote["option_index"]))
            counts[slot] = counts.get(slot, 0) + 1
        return counts

    async def all_counters(self, key: str | None = None) -> list[Doc]:
        """The counters {key, options, votes, total} of one poll (by key) or of every poll."""
        query: Doc = {"key": key} if key else {}
        return await self.polls.find(query, COUNTER_FIELDS).to_list()

    async def replace_counters(self, key: str, votes: dict[str, int]) -> None:
        """Write recounted counters (the total follows from the votes)."""
        await self.polls.update_one(
            {"key": key}, {"$set": {"votes": votes, "total": sum(votes.values())}}
        )

    # daily vote limit --------------------------------------------------------------------
    async def take_daily_slot(
        self, *, user_id: str, day: str, limit: int, expires_at: datetime
    ) -> int | None:
        """Check-and-set on the (user, day) counter: the new count, or None when full."""
        query: Doc = {"user_id": user_id, "day": day, "count": {"$lt": limit}}
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
        return None if doc is None else int(doc["count"])

    async def release_daily_slot(self, *, user_id: str, day: str) -> None:
        await self.daily.update_one(
            {"user_id": user_id, "day": day, "count": {"$gt": 0}}, {"$inc": {"count": -1}}
        )

    async def daily_count(self, *, user_id: str, day: str) -> int:
        doc = await self.daily.find_one({"user_id": user_id, "day": day}, {"count": 1})
        return int(doc["count"]) if doc else 0
