"""The only code that names the election collections or builds their filters.

    elections          one document per election (reporter key stored as a sha256 hash)
    election_reports   raw reports, unique (election_id, report_id) = the idempotency key
    election_totals    counter shards: one per (election, city, bucket), see service.py
    election_audit     one entry per (report, party), unique, so rewriting it is harmless

Time fields that are ever *updated* are epoch milliseconds (ints): NX-27017 stores a
datetime given to `$set` as a string, which then no longer compares with datetimes.
Datetimes are only written by inserts (received_at, created_at) and compared in find().
"""

from __future__ import annotations

from datetime import datetime

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from livevote.infra.mongo import Doc

# Marker values in boxes.<box>.<report_id>: what kind of report put its counts in.
ORIGINAL, CORRECTION = 1, 2

DUPLICATE = 11000
_ELECTION_CACHE_SIZE = 1000
_ELECTIONS: dict[tuple[str, ObjectId], Doc] = {}
TOTALS_FIELDS = {"votes": 1, "reported_boxes": 1, "city_index": 1}


Database = AsyncDatabase[Doc]  # the handle an ElectionRepository is opened on


class ElectionRepository:
    def __init__(self, db: Database) -> None:
        self.elections = db["elections"]
        self.reports = db["election_reports"]
        self.totals = db["election_totals"]
        self.audit = db["election_audit"]

    # -- elections ---------------------------------------------------------------------------
    async def create_election(self, election: Doc, shards: list[tuple[str, int, int]]) -> None:
        """Insert the election and its empty counter shards, given as (id, city, bucket)."""
        eid = str(election["_id"])
        docs = [
            {
                "_id": sid,
                "election_id": eid,
                "city_index": ci,
                "bucket": bucket,
                "votes": {},
                "reported_boxes": 0,
                "boxes": {},
            }
            for sid, ci, bucket in shards
        ]
        # Shards first: a crash in between leaves orphan zero shards, never an election
        # whose reports cannot be applied.
        if docs:
            await self.totals.insert_many(docs, ordered=False)
        await self.elections.insert_one(election)

    async def election(self, election_id: ObjectId) -> Doc | None:
        # Elections never change after creation: keep them per process (one read less per
        # report). Keyed by database, as tests run several databases in one process.
        key = (self.elections.database.name, election_id)
        cached = _ELECTIONS.get(key)
        if cached is None:
            cached = await self.elections.find_one({"_id": election_id})
            if cached is not None:
                if len(_ELECTIONS) >= _ELECTION_CACHE_SIZE:
                    _ELECTIONS.pop(next(iter(_ELECTIONS)))
                _ELECTIONS[key] = cached
        return cached

    async def election_ids(self) -> list[ObjectId]:
        return [d["_id"] async for d in self.elections.find({}, {"_id": 1})]

    # -- reports -----------------------------------------------------------------------------
    async def insert_report(self, doc: Doc) -> bool:
        """Store a new report; False when a unique index refuses it (the report_id is taken,
        or the report it supersedes already has a correction)."""
        try:
            await self.reports.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def report(self, election_id: str, report_id: str) -> Doc | None:
        return await self.reports.find_one({"election_id": election_id, "report_id": report_id})

    async def link_superseded(self, election_id: str, old_id: str, new_id: str) -> None:
        await self.reports.update_one(
            {"election_id": election_id, "report_id": old_id},
            {"$set": {"superseded_by": new_id}},
        )

    async def mark_applied(self, report_oid: ObjectId, now_ms: int) -> None:
        await self.reports.update_one(
            {"_id": report_oid, "status": "pending"},
            {"$set": {"status": "applied", "applied_ms": now_ms, "lease_until_ms": 0}},
        )

    async def claim_pending(self, now_ms: int, lease_ms: int, owner: str) -> Doc | None:
        """Lease one pending report whose lease ran out (check-and-set: two workers never
        hold the same report at once)."""
        return await self.reports.find_one_and_update(
            {"status": "pending", "lease_until_ms": {"$lt": now_ms}},
            {
                "$set": {"lease_until_ms": now_ms + lease_ms, "lease_owner": owner},
                "$inc": {"attempts": 1},
            },
            sort=[("lease_until_ms", 1)],
            return_document=ReturnDocument.AFTER,
        )

    async def count_pending(self, election_id: str | None = None) -> int:
        query: Doc = {"status": "pending"}
        if election_id:
            query["election_id"] = election_id
        return await self.reports.count_documents(query)

    async def list_reports(
        self,
        election_id: str,
        *,
        city: str | None,
        since: datetime | None,
        until: datetime | None,
        skip: int,
        limit: int,
    ) -> list[Doc]:
        query: Doc = {"election_id": election_id}
        if city is not None:
            query["city"] = city
        window: Doc = {}
        if since is not None:
            window["$gte"] = since
        if until is not None:
            window["$lt"] = until
        if window:
            query["received_at"] = window
        cursor = self.reports.find(query).sort([("received_at", 1), ("_id", 1)])
        return await cursor.skip(skip).limit(limit).to_list()

    async def all_reports(self, election_id: str) -> list[Doc]:
        return await self.reports.find({"election_id": election_id}).to_list()

    async def reports_by_id(self, election_id: str, report_ids: list[str]) -> list[Doc]:
        query = {"election_id": election_id, "report_id": {"$in": report_ids}}
        return await self.reports.find(query).to_list()

    # -- totals shards -----------------------------------------------------------------------
    async def add_first_report_of_box(
        self, shard_id: str, box: str, report_id: str, counts: dict[str, int]
    ) -> bool:
        """Apply a box's first report (`counts` by party key): only while the shard has no
        marker for the box. Counters and marker move in one single-document write."""
        done = await self.totals.find_one_and_update(
            {"_id": shard_id, f"boxes.{box}": {"$exists": False}},
            {
                "$set": {f"boxes.{box}.{report_id}": ORIGINAL},
                "$inc": {**_votes_inc(counts), "reported_boxes": 1},
            },
            projection={"_id": 1},
        )
        return done is not None

    async def add_further_report_of_box(
        self, shard_id: str, box: str, report_id: str, counts: dict[str, int]
    ) -> bool:
        """Apply another batch of a box that already reported: only while unmarked."""
        update: Doc = {"$set": {f"boxes.{box}.{report_id}": ORIGINAL}}
        if inc := _votes_inc(counts):
            update["$inc"] = inc
        done = await self.totals.find_one_and_update(
            {
                "_id": shard_id,
                f"boxes.{box}": {"$exists": True},
                f"boxes.{box}.{report_id}": {"$exists": False},
            },
            update,
            projection={"_id": 1},
        )
        return done is not None

    async def replace_report_of_box(
        self, shard_id: str, box: str, old_id: str, new_id: str, delta: dict[str, int]
    ) -> bool:
        """Apply a correction (`delta` = new - old by party key): only once the superseded
        report is in, and the correction not."""
        update: Doc = {"$set": {f"boxes.{box}.{new_id}": CORRECTION}}
        if inc := _votes_inc(delta):
            update["$inc"] = inc
        done = await self.totals.find_one_and_update(
            {
                "_id": shard_id,
                f"boxes.{box}.{old_id}": {"$exists": True},
                f"boxes.{box}.{new_id}": {"$exists": False},
            },
            update,
            projection={"_id": 1},
        )
        return done is not None

    async def has_marker(self, shard_id: str, box: str, report_id: str) -> bool | None:
        """Whether the shard carries the report's marker (None: the shard does not exist).
        A filter, not a projection: NX-27017 returns dotted projections as flat keys."""
        found = await self.totals.find_one(
            {"_id": shard_id, f"boxes.{box}.{report_id}": {"$exists": True}}, {"_id": 1}
        )
        if found is not None:
            return True
        if await self.totals.find_one({"_id": shard_id}, {"_id": 1}) is None:
            return None
        return False

    async def shard_totals(self, election_id: str, city_index: int | None = None) -> list[Doc]:
        query: Doc = {"election_id": election_id}
        if city_index is not None:
            query["city_index"] = city_index
        return await self.totals.find(query, TOTALS_FIELDS).to_list()

    async def shards_with_markers(self, election_id: str) -> list[Doc]:
        return await self.totals.find({"election_id": election_id}).to_list()

    async def rewrite_shard(
        self,
        seen: Doc,
        party_keys: list[str],
        *,
        votes: dict[str, int],
        reported_boxes: int,
        add_markers: dict[tuple[str, str], int],
        drop_markers: list[tuple[str, str]],
    ) -> bool:
        """Recount repair of one shard, check-and-set against the shard as `seen`: written only
        while every counter still holds the value read. Every apply step that could change
        what the recount expects moves a counter (a box's first report moves reported_boxes),
        so a report applied since the read makes this match nothing (False): nothing lost."""
        query: Doc = {"_id": seen["_id"], "reported_boxes": seen.get("reported_boxes", 0)}
        stored = seen.get("votes") or {}
        for k in sorted(set(party_keys) | set(stored)):
            query[f"votes.{k}"] = stored[k] if k in stored else {"$exists": False}
        update: Doc = {
            "$set": {
                "votes": votes,
                "reported_boxes": reported_boxes,
                **{f"boxes.{box}.{rid}": v for (box, rid), v in add_markers.items()},
            }
        }
        if drop_markers:
            update["$unset"] = {f"boxes.{box}.{rid}": "" for box, rid in drop_markers}
        done = await self.totals.find_one_and_update(query, update, projection={"_id": 1})
        return done is not None

    # -- audit -------------------------------------------------------------------------------
    async def add_audit_entries(self, entries: list[Doc]) -> None:
        """Insert the entries that are not there yet (unique per report and party)."""
        if not entries:
            return
        try:
            await self.audit.insert_many(entries, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != DUPLICATE for e in errors):
                raise

    async def audit_entries(self, election_id: str) -> list[Doc]:
        return await self.audit.find({"election_id": election_id}).to_list()

    async def top_cities(
        self, election_id: str, since_ms: int | None, until_ms: int | None, limit: int
    ) -> list[Doc]:
        match: Doc = {"election_id": election_id}
        window: Doc = {}
        if since_ms is not None:
            window["$gte"] = since_ms
        if until_ms is not None:
            window["$lt"] = until_ms
        if window:
            match["at_ms"] = window  # numbers: NX-27017 mis-compares dates in $match
        cursor = await self.audit.aggregate(
            [
                {"$match": match},
                {"$group": {"_id": "$city", "votes": {"$sum": "$delta"}}},
                {"$sort": {"votes": -1, "_id": 1}},
                {"$limit": limit},
            ]
        )
        return await cursor.to_list()


def _votes_inc(counts: dict[str, int]) -> Doc:
    return {f"votes.{k}": n for k, n in counts.items() if n}
