"""Activities persistence: the only code naming the collections or building filters.

Collections (indexes in indexes/<name>.json):
- `activities`: {_id, event_id, kind, prompt, options, multiple, scale, correct, time_limit_s,
  order, status: draft|live|closed, live: "<event id>" (present ONLY while live), live_gen,
  opened_ms, results_visible, revealed, tally: {<counter>: n}, last_batch, batch_seq,
  created_at, updated_at}. The document is also its own counter (infra/batchcount.py):
  flat `tally.*` counters, the same size however many responses it gets.
  Unique index `one_live_activity_per_event` on `live`: at most one live per event.
- `activity_responses`: {_id, activity_id, event_id, attendee_id, kind, <answer fields>,
  points?, nickname?, status? (open texts), batch, at}; unique (activity_id, attendee_id).
- `activity_batches`: the batch records of infra/batchcount.py.
- `activity_words`: {_id: "<activity id>:<word key>", activity_id, word}: the word shown for a
  counted word key (the first spelling seen).
- `questions`: {_id, event_id, attendee_id, name, text, status, pinned, votes, upvoting
  (upvotes in flight), vote_seq (upvotes claimed), upvoting_ms (the last claim, epoch ms:
  NX-27017 reads a datetime written by an update back as a string), created_at, updated_at};
  `question_votes`: {_id, question_id, attendee_id}, unique (question_id, attendee_id);
  `qa_settings`: {_id: "<event id>", moderation}.
Read only, outside this domain: `attendees` (the events domain's register) for nicknames;
written outside: `events.activity` (+ `activity_stamp`), a mirror of the live activity
for the public event view (`mirror_live`).
"""

from __future__ import annotations

from datetime import datetime

from bson import ObjectId
from pymongo import ReturnDocument, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from livevote.infra.batchcount import BatchCounter
from livevote.infra.hooks import NO_HOOKS, Hooks
from livevote.infra.mongo import Doc, eq

Database = AsyncDatabase[Doc]
DUPLICATE_KEY = 11000
_AFTER = ReturnDocument.AFTER
VISIBLE = ["approved", "answered"]


def epoch_ms(value: datetime) -> int:
    """Times compared by the domain are stored as epoch milliseconds (ints compare the same
    on every server; a datetime set by an update can come back as text from NX-27017)."""
    return int(value.timestamp() * 1000)


def oid(value: str) -> ObjectId | None:
    return ObjectId(value) if ObjectId.is_valid(value) else None


class ActivityRepository:
    def __init__(self, db: Database, hooks: Hooks = NO_HOOKS) -> None:
        self.activities = db["activities"]
        self.responses = db["activity_responses"]
        self.words = db["activity_words"]
        self.questions = db["questions"]
        self.question_votes = db["question_votes"]
        self.qa = db["qa_settings"]
        self.attendees = db["attendees"]
        self.events = db["events"]
        self.counter = BatchCounter(self.activities, db["activity_batches"], hooks)

    # -- activities ---------------------------------------------------------------------
    async def insert_activity(self, doc: Doc) -> None:
        await self.activities.insert_one(doc)

    async def activity(self, event_id: str, activity_id: str) -> Doc | None:
        key = oid(activity_id)
        if key is None:
            return None
        return await self.activities.find_one({"_id": key, "event_id": event_id})

    async def activity_by_id(self, activity_id: str) -> Doc | None:
        key = oid(activity_id)
        return await self.activities.find_one({"_id": key}, {"event_id": 1}) if key else None

    async def activities_of(self, event_id: str) -> list[Doc]:
        cursor = self.activities.find({"event_id": event_id}).sort([("order", 1), ("_id", 1)])
        return await cursor.to_list()

    async def all_activity_ids(self) -> list[str]:
        return [str(d["_id"]) async for d in self.activities.find({}, {"_id": 1})]

    async def live_activity(self, event_id: str) -> Doc | None:
        return await self.activities.find_one({"event_id": event_id, "live": event_id})

    async def set_order(self, event_id: str, ids: list[str], now: datetime) -> None:
        if not ids:  # an event with no activities: nothing to order (bulk_write refuses [])
            return
        await self.activities.bulk_write(
            [
                UpdateOne(
                    {"_id": ObjectId(aid), "event_id": event_id},
                    {"$set": {"order": n, "updated_at": now}},
                )
                for n, aid in enumerate(ids)
            ]
        )

    async def take_live(self, event_id: str, activity_id: str, now: datetime) -> Doc | None:
        """Make the activity live unless another one is (the unique index on `live` refuses:
        None) or it is live already (None: read and decide)."""
        try:
            return await self.activities.find_one_and_update(
                {"_id": ObjectId(activity_id), "event_id": event_id, "live": {"$exists": False}},
                {
                    "$set": {
                        "live": event_id,
                        "status": "live",
                        "opened_ms": epoch_ms(now),
                        "updated_at": now,
                    },
                    "$inc": {"live_gen": 1},
                },
                return_document=_AFTER,
            )
        except DuplicateKeyError:
            return None

    async def release_live(self, event_id: str, keep: str | None, now: datetime) -> int:
        """Close every live activity of the event except `keep`; how many were closed."""
        query: Doc = {"event_id": event_id, "live": {"$exists": True}}
        if keep:
            query["_id"] = {"$ne": ObjectId(keep)}
        result = await self.activities.update_many(
            query,
            {"$unset": {"live": ""}, "$set": {"status": "closed", "updated_at": now}},
        )
        return result.modified_count

    async def update_activity(self, event_id: str, activity_id: str, fields: Doc) -> Doc | None:
        return await self.activities.find_one_and_update(
            {"_id": ObjectId(activity_id), "event_id": event_id},
            {"$set": fields},
            return_document=_AFTER,
        )

    async def mirror_live(self, event_id: str, activity_id: str, stamp: int) -> None:
        """Mirror the live activity into the event document for the public event view. Only
        a newer stamp (taken before reading the truth) overwrites: never a stale mirror."""
        await self.events.update_one(
            {
                "_id": ObjectId(event_id),
                "$or": [{"activity_stamp": {"$lt": stamp}}, {"activity_stamp": {"$exists": False}}],
            },
            {"$set": {"activity": activity_id, "activity_stamp": stamp}},
        )

    # -- responses ----------------------------------------------------------------------
    async def insert_responses(self, docs: list[Doc]) -> set[int]:
        """Store many responses at once; the positions refused as duplicates."""
        try:
            await self.responses.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details["writeErrors"]
            if any(e["code"] != DUPLICATE_KEY for e in errors):
                raise
            return {int(e["index"]) for e in errors}
        return set()

    async def response_of(self, activity_id: str, attendee_id: str) -> Doc | None:
        return await self.responses.find_one(
            eq({"activity_id": activity_id, "attendee_id": attendee_id})
        )

    async def applied_batches(self, activity: Doc) -> set[str]:
        """The applied batches among those of the activity's stored responses (read by batch
        id: NX-27017 cannot match the ObjectId `counter` field of a batch record)."""
        aid = str(activity["_id"])
        ids = [str(b) for b in await self.responses.distinct("batch", eq({"activity_id": aid}))]
        batches = self.counter.batches
        applied = {
            str(d["_id"])
            async for d in batches.find({"_id": {"$in": ids}, "state": "applied"}, {"_id": 1})
        }
        fresh = await self.activities.find_one({"_id": activity["_id"]}, {"last_batch": 1})
        if fresh and fresh.get("last_batch"):
            applied.add(str(fresh["last_batch"]))
        return applied

    async def delete_batch_responses(self, batch_id: str) -> None:
        await self.responses.delete_many({"batch": batch_id})

    async def delete_response(self, response_id: ObjectId) -> None:
        await self.responses.delete_one({"_id": response_id})

    async def responses_of(self, activity_id: str, batches: set[str] | None = None) -> list[Doc]:
        query: Doc = {"activity_id": activity_id}
        if batches is not None:
            query["batch"] = {"$in": sorted(batches)}
        return await self.responses.find(eq(query)).sort("at", 1).to_list()

    async def texts(self, activity_id: str, statuses: list[str], limit: int = 200) -> list[Doc]:
        cursor = (
            self.responses.find(eq({"activity_id": activity_id, "status": {"$in": statuses}}))
            .sort("at", -1)
            .limit(limit)
        )
        return await cursor.to_list()

    async def moderate_text(
        self, activity_id: str, response_id: str, status: str, now: datetime
    ) -> bool:
        key = oid(response_id)
        if key is None:
            return False
        doc = await self.responses.find_one_and_update(
            {"_id": key, "activity_id": activity_id, "kind": "open"},
            {"$set": {"status": status}},
        )
        if doc is None:
            return False
        # touch the activity: its change wakes the screens' channel
        await self.activities.update_one(
            {"_id": ObjectId(activity_id)}, {"$set": {"updated_at": now}, "$inc": {"mod_seq": 1}}
        )
        return True

    async def remember_words(self, activity_id: str, words: dict[str, str]) -> None:
        if words:
            await self.words.bulk_write(
                [
                    UpdateOne(
                        {"_id": f"{activity_id}:{key}"},
                        {"$setOnInsert": {"activity_id": activity_id, "word": word}},
                        upsert=True,
                    )
                    for key, word in words.items()
                ],
                ordered=False,
            )

    async def shown_words(self, activity_id: str, keys: list[str]) -> dict[str, str]:
        ids = [f"{activity_id}:{k}" for k in keys]
        found = self.words.find({"_id": {"$in": ids}})
        return {str(d["_id"]).split(":", 1)[1]: d["word"] async for d in found}

    async def quiz_scores(self, activity_ids: list[str]) -> list[Doc]:
        """Points per attendee over the given quiz activities."""
        if not activity_ids:
            return []
        cursor = await self.responses.aggregate(
            [
                {"$match": {"activity_id": {"$in": activity_ids}}},
                {
                    "$group": {
                        "_id": "$attendee_id",
                        "points": {"$sum": "$points"},
                        "answers": {"$sum": 1},
                        "nickname": {"$first": "$nickname"},
                    }
                },
            ]
        )
        return await cursor.to_list()

    async def replace_tally_if_unchanged(
        self, activity_id: str, batch_seq: int, tally: dict[str, int], now: datetime
    ) -> bool:
        doc = await self.activities.find_one_and_update(
            {"_id": ObjectId(activity_id), "batch_seq": batch_seq},
            {"$set": {"tally": tally, "updated_at": now}},
            projection={"_id": 1},
        )
        return doc is not None

    async def nickname(self, attendee_id: str) -> str | None:
        key = oid(attendee_id)
        doc = await self.attendees.find_one({"_id": key}, {"name": 1}) if key else None
        return (doc or {}).get("name") or None

    # -- questions ----------------------------------------------------------------------
    async def moderation(self, event_id: str) -> bool:
        doc = await self.qa.find_one({"_id": event_id})
        return bool(doc and doc.get("moderation"))

    async def set_moderation(self, event_id: str, on: bool) -> None:
        await self.qa.update_one({"_id": event_id}, {"$set": {"moderation": on}}, upsert=True)

    async def insert_question(self, doc: Doc) -> None:
        await self.questions.insert_one(doc)

    async def question(self, event_id: str, question_id: str) -> Doc | None:
        key = oid(question_id)
        return await self.questions.find_one({"_id": key, "event_id": event_id}) if key else None

    async def question_event(self, question_id: str) -> str | None:
        key = oid(question_id)
        doc = await self.questions.find_one({"_id": key}, {"event_id": 1}) if key else None
        return doc["event_id"] if doc else None

    async def questions_of(
        self, event_id: str, statuses: list[str] | None, sort: str, limit: int
    ) -> list[Doc]:
        query: Doc = {"event_id": event_id}
        if statuses is not None:
            query["status"] = {"$in": statuses}
        order: list[tuple[str, int]] = [("pinned", -1)]
        order += [("votes", -1), ("created_at", 1)] if sort == "top" else [("created_at", -1)]
        return await self.questions.find(eq(query)).sort(order).limit(limit).to_list()

    async def count_questions(self, event_id: str) -> int:
        """An indexed read of the ids: NX-27017's count_documents scans the whole collection,
        even with `$eq` (docs/GROUP_COMMIT.md, "NX-27017 and equality filters")."""
        found = await self.questions.find(eq({"event_id": event_id}), {"_id": 1}).to_list()
        return len(found)

    async def update_question(self, event_id: str, question_id: str, fields: Doc) -> Doc | None:
        return await self.questions.find_one_and_update(
            {"_id": ObjectId(question_id), "event_id": event_id},
            {"$set": fields},
            return_document=_AFTER,
        )

    async def insert_upvote(self, question_id: str, attendee_id: str) -> ObjectId | None:
        """Store an upvote; None when this attendee upvoted this question already."""
        vote_id = ObjectId()
        try:
            await self.question_votes.insert_one(
                {"_id": vote_id, "question_id": question_id, "attendee_id": attendee_id}
            )
        except DuplicateKeyError:
            return None
        return vote_id

    async def claim_upvote(self, question_id: str, now: datetime) -> bool:
        """Announce an upvote on a public question (qa.py): `upvoting` (in flight) and
        `vote_seq` (every claim) go up; False when the question is not public."""
        doc = await self.questions.find_one_and_update(
            {"_id": ObjectId(question_id), "status": {"$in": VISIBLE}},
            {"$inc": {"upvoting": 1, "vote_seq": 1}, "$set": {"upvoting_ms": epoch_ms(now)}},
            projection={"_id": 1},
        )
        return doc is not None

    async def release_upvote(self, question_id: str) -> None:
        await self.questions.update_one({"_id": ObjectId(question_id)}, {"$inc": {"upvoting": -1}})

    async def count_claimed_upvote(self, question_id: str, now: datetime) -> None:
        await self.questions.update_one(
            {"_id": ObjectId(question_id)},
            {"$inc": {"votes": 1, "upvoting": -1}, "$set": {"updated_at": now}},
        )

    async def question_ids(self, event_id: str) -> list[Doc]:
        return await self.questions.find(eq({"event_id": event_id}), {"_id": 1}).to_list()

    async def vote_counter(self, question_id: str) -> Doc | None:
        fields = {"votes": 1, "upvoting": 1, "vote_seq": 1, "upvoting_ms": 1}
        return await self.questions.find_one({"_id": ObjectId(question_id)}, fields)

    async def set_votes_if_unchanged(self, question_id: str, seen: Doc, votes: int) -> bool:
        """Write the recounted `votes` (and no upvote in flight) only if no upvote was
        claimed or counted since `seen` (vote_counter) was read."""
        query: Doc = {"_id": ObjectId(question_id)}
        for field in ("votes", "upvoting", "vote_seq"):
            value = seen.get(field)
            query[field] = {"$exists": False} if value is None else value
        done = await self.questions.update_one(query, {"$set": {"votes": votes, "upvoting": 0}})
        return done.matched_count == 1

    async def count_upvotes(self, question_ids: list[str]) -> dict[str, int]:
        cursor = await self.question_votes.aggregate(
            [
                {"$match": {"question_id": {"$in": question_ids}}},
                {"$group": {"_id": "$question_id", "n": {"$sum": 1}}},
            ]
        )
        return {str(r["_id"]): int(r["n"]) for r in await cursor.to_list()}

    async def event_ids_with_activities(self) -> list[str]:
        ids = set(await self.activities.distinct("event_id"))
        ids |= set(await self.questions.distinct("event_id"))
        return sorted(str(e) for e in ids)
