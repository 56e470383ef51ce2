"""The only code that names the election collections or builds their filters.

    elections          one document per election (never changed after creation)
    election_keys      reporter keys (sha256 hashes), election-wide or per city, revocable
    election_reports   raw reports, unique (election_id, report_id) = the idempotency key;
                       a plain report also holds its box (`original_box`, unique: one per
                       box) and a city slot (`slot` < the city's boxes, unique per city)
    election_slot_blocks  per city, `next`: the first slot no process was handed (boxes.py)
    election_totals    counter shards: one per (election, city, bucket), created by the first
                       report that lands in them (upsert), see service.py
    election_audit     one entry per (report, party), unique, so rewriting it is harmless

Read-only history queries (report pages, time queries, reporting order) are in queries.py.

Time fields that are ever *updated* are epoch milliseconds (ints): NX-27017 stores a
datetime given to `$set` as a string, which then no longer compares with datetimes.
Datetimes are only written by inserts (received_at, created_at) and compared in find().
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator

from bson import ObjectId
from pymongo import ReturnDocument, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from livevote.infra.mongo import Doc, eq

# Marker values in boxes.<box>.<report_id>: what kind of report put its counts in.
ORIGINAL, CORRECTION = 1, 2

DUPLICATE_KEY = 11000
CLAIM_ATTEMPTS = 20
STORED, SLOT_TAKEN, DUPLICATE = "stored", "slot-taken", "duplicate"
_ELECTION_CACHE_SIZE = 1000
_ELECTIONS: dict[tuple[str, ObjectId], Doc] = {}  # elections never change after creation
TOTALS_FIELDS = {"votes": 1, "reported_boxes": 1, "city_index": 1}


Database = AsyncDatabase[Doc]  # the handle an ElectionRepository is opened on


class ElectionRepository:
    def __init__(self, db: Database) -> None:
        self.elections = db["elections"]
        self.reports = db["election_reports"]
        self.totals = db["election_totals"]
        self.audit = db["election_audit"]
        self.keys = db["election_keys"]
        self.slot_blocks = db["election_slot_blocks"]

    # -- elections ---------------------------------------------------------------------------
    async def create_election(self, election: Doc, key: Doc) -> bool:
        """Insert the election and its election-wide reporter key; False if an election with
        this _id exists. Nothing proportional to its ballot boxes: counter shards appear
        with their first report (add_first_report_of_box). The election first: a crash in
        between leaves an election whose creator makes a key (POST …/reporter-keys)."""
        try:
            await self.elections.insert_one(election)
        except DuplicateKeyError:
            return False
        await self.keys.insert_one(key)
        return True

    async def elections_of(self, creator_id: str, limit: int) -> list[Doc]:
        cursor = self.elections.find({"creator_id": creator_id}).sort([("created_at", -1)])
        return await cursor.limit(limit).to_list()

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

    # -- reporter keys -------------------------------------------------------------------------
    async def add_key(self, key: Doc) -> None:
        await self.keys.insert_one(key)

    async def key_by_hash(self, key_sha256: str) -> Doc | None:
        # Read on every report, never cached: a revocation holds in every process at once.
        return await self.keys.find_one(eq({"key_sha256": key_sha256}))

    async def keys_of(self, election_id: str) -> list[Doc]:
        cursor = self.keys.find(eq({"election_id": election_id}), {"key_sha256": 0})
        return await cursor.sort([("created_ms", 1)]).to_list()

    async def revoke_key(self, election_id: str, key_id: str, now_ms: int) -> Doc | None:
        """Revoke a key (idempotent); None: no such key in this election."""
        await self.keys.update_one(
            {"_id": key_id, "election_id": election_id, "revoked_ms": {"$exists": False}},
            {"$set": {"revoked_ms": now_ms}},
        )
        return await self.keys.find_one({"_id": key_id, "election_id": election_id})

    # -- reports -----------------------------------------------------------------------------
    async def insert_report(self, doc: Doc) -> str:
        """Store a new report: STORED; SLOT_TAKEN when another box holds its city slot;
        DUPLICATE when another unique index refuses it (the report_id is taken, the box has
        its report, or the report it corrects already has a correction)."""
        try:
            await self.reports.insert_one(doc)
        except DuplicateKeyError as exc:
            doc.pop("_id", None)
            return SLOT_TAKEN if _slot_index(exc) else DUPLICATE
        return STORED

    async def insert_reports(self, docs: list[Doc]) -> list[str]:
        """Store a batch of new reports with one unordered insert: each one's outcome as
        `insert_report`'s (a refused one fails alone; its `_id` is dropped for a retry)."""
        outcomes = [STORED] * len(docs)
        try:
            await self.reports.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            for error in exc.details.get("writeErrors", []):
                if error.get("code") != DUPLICATE_KEY:
                    raise
                i = int(error["index"])
                docs[i].pop("_id", None)
                outcomes[i] = SLOT_TAKEN if _slot_error(error) else DUPLICATE
        return outcomes

    async def report(self, election_id: str, report_id: str) -> Doc | None:
        return await self.reports.find_one(eq({"election_id": election_id, "report_id": report_id}))

    async def original_of_box(self, election_id: str, box: str) -> Doc | None:
        """The plain (not correcting) report of a box, if it has one."""
        return await self.reports.find_one(eq({"election_id": election_id, "original_box": box}))

    async def highest_slot(self, election_id: str, city_index: int) -> int:
        """The highest city slot taken (-1: none): the allocator skips past it (boxes.py)."""
        found = await self.reports.find_one(
            eq({"election_id": election_id, "city_index": city_index, "slot": {"$exists": True}}),
            {"slot": 1},
            sort=[("slot", -1)],
        )
        return -1 if found is None else int(found["slot"])

    async def take_slot_block(self, election_id: str, city_index: int, n: int) -> int:
        """The first of `n` new consecutive city slots: one `$inc` of the allocator (boxes.py)."""
        query, inc = {"_id": f"{election_id}:{city_index}"}, {"$inc": {"next": n}}
        take = self.slot_blocks.find_one_and_update
        try:
            done = await take(query, inc, upsert=True, return_document=ReturnDocument.AFTER)
        except DuplicateKeyError:  # two first blocks at once (NX-27017 may answer None)
            done = None
        done = done or await take(query, inc, return_document=ReturnDocument.AFTER)
        return int(done["next"]) - n  # type: ignore[index]  # (upserted, or there already)

    async def skip_slot_blocks(self, election_id: str, city_index: int, at_least: int) -> None:
        """Move the city's allocator up to `at_least`, never down."""
        with contextlib.suppress(DuplicateKeyError):  # (it is there already)
            await self.slot_blocks.update_one(
                {"_id": f"{election_id}:{city_index}", "next": {"$lt": at_least}},
                {"$set": {"next": at_least}},
                upsert=True,
            )

    async def taken_slots(self, election_id: str, city_index: int) -> AsyncIterator[int]:
        """The city's taken slots in ascending order (an index walk)."""
        query = eq(
            {"election_id": election_id, "city_index": city_index, "slot": {"$exists": True}}
        )
        async for doc in self.reports.find(query, {"_id": 0, "slot": 1}).sort([("slot", 1)]):
            yield int(doc["slot"])

    async def link_superseded(self, election_id: str, old_id: str, new_id: str) -> None:
        await self.reports.update_one(
            eq({"election_id": election_id, "report_id": old_id}),
            {"$set": {"superseded_by": new_id}},
        )

    async def mark_applied(self, report_oid: ObjectId, now_ms: int) -> None:
        await self.reports.update_one(
            {"_id": report_oid, "status": "pending"},
            {"$set": {"status": "applied", "applied_ms": now_ms, "lease_until_ms": 0}},
        )

    async def mark_applied_many(self, report_oids: list[ObjectId], now_ms: int) -> None:
        # One command of single-document updates: `_id: {$in: …}` is a scan on NX-27017.
        applied = {"$set": {"status": "applied", "applied_ms": now_ms, "lease_until_ms": 0}}
        await self.reports.bulk_write(
            [UpdateOne({"_id": oid, "status": "pending"}, applied) for oid in report_oids],
            ordered=False,
        )

    async def claim_pending(self, now_ms: int, lease_ms: int, owner: str) -> Doc | None:
        """Lease one pending report whose lease ran out (check-and-set: two workers never
        hold the same report at once). The candidate is found by an indexed read and taken
        by a check-and-set on its `_id` (NX-27017 plans findAndModify's filter without the
        index: a scan of every report); a lost race reads the next candidate."""
        due = eq({"status": "pending", "lease_until_ms": {"$lt": now_ms}})
        for _ in range(CLAIM_ATTEMPTS):
            found = await self.reports.find_one(due, {"_id": 1}, sort=[("lease_until_ms", 1)])
            if found is None:
                return None
            claimed = await self.reports.find_one_and_update(
                {"_id": found["_id"], **due},
                {
                    "$set": {"lease_until_ms": now_ms + lease_ms, "lease_owner": owner},
                    "$inc": {"attempts": 1},
                },
                return_document=ReturnDocument.AFTER,
            )
            if claimed is not None:
                return claimed
        return None

    async def count_pending(self, election_id: str | None = None) -> int:
        """Counted from an indexed read of the ids (NX-27017's count scans the collection)."""
        query: Doc = {"status": "pending"}
        if election_id:
            query["election_id"] = election_id
        return len(await self.reports.find(eq(query), {"_id": 1}).to_list())

    async def all_reports(self, election_id: str) -> list[Doc]:
        return await self.reports.find(eq({"election_id": election_id})).to_list()

    async def reports_by_id(self, election_id: str, report_ids: list[str]) -> list[Doc]:
        query = eq({"election_id": election_id, "report_id": {"$in": report_ids}})
        return await self.reports.find(query).to_list()

    # -- totals shards -----------------------------------------------------------------------
    async def add_first_report_of_box(
        self, shard_id: str, city_index: int, box: str, report_id: str, counts: dict[str, int]
    ) -> bool:
        """Apply a box's report (`counts` by party key): only while the shard has no marker
        for the box. Counters and marker move in one single-document write; the shard is
        created by this write if it is the first of its boxes to report (upsert). A
        duplicate key (the shard exists, the box is marked) is "not granted", like NX-27017's
        null answer to such an upsert."""
        try:
            done = await self.totals.find_one_and_update(
                {"_id": shard_id, f"boxes.{box}": {"$exists": False}},
                {
                    # $set, not $setOnInsert (which NX-27017 ignores): the same constants.
                    "$set": {
                        f"boxes.{box}.{report_id}": ORIGINAL,
                        "election_id": shard_id.split(":", 1)[0],
                        "city_index": city_index,
                    },
                    "$inc": {**_votes_inc(counts), "reported_boxes": 1},
                },
                projection={"_id": 1},
                upsert=True,
                return_document=ReturnDocument.AFTER,  # BEFORE would be None on an insert
            )
        except DuplicateKeyError:
            return False
        return done is not None

    async def add_first_reports_of_boxes(
        self, shard_id: str, city_index: int, boxes: list[tuple[str, str, dict[str, int]]]
    ) -> bool:
        """`add_first_report_of_box` for several boxes of one shard in one write (a batch):
        `boxes` = (box, report_id, counts). Only while the shard has no marker for any of
        them; False (nothing written) otherwise, and the caller applies them one by one."""
        query: Doc = {"_id": shard_id}
        marks: Doc = {}
        total: dict[str, int] = {}
        for box, report_id, counts in boxes:
            query[f"boxes.{box}"] = {"$exists": False}
            marks[f"boxes.{box}.{report_id}"] = ORIGINAL
            for k, n in counts.items():
                total[k] = total.get(k, 0) + n
        try:
            done = await self.totals.find_one_and_update(
                query,
                {
                    "$set": {
                        **marks,
                        "election_id": shard_id.split(":", 1)[0],
                        "city_index": city_index,
                    },
                    "$inc": {**_votes_inc(total), "reported_boxes": len(boxes)},
                },
                projection={"_id": 1},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            return False
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
        return await self.totals.find(eq(query), TOTALS_FIELDS).to_list()

    async def shards_with_markers(self, election_id: str) -> list[Doc]:
        return await self.totals.find(eq({"election_id": election_id})).to_list()

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
            if any(e.get("code") != DUPLICATE_KEY for e in errors):
                raise

    async def audit_entries(self, election_id: str) -> list[Doc]:
        return await self.audit.find(eq({"election_id": election_id})).to_list()


def _slot_index(exc: DuplicateKeyError) -> bool:
    """Whether the city-slot index refused the insert: MongoDB names the index's keys
    (keyPattern), NX-27017 the index (idx_<collection>_<keys>) in its message."""
    return _slot_error({"errmsg": str(exc), **(exc.details or {})})


def _slot_error(details: Doc) -> bool:
    """`_slot_index` for one error's details (a DuplicateKeyError's, a writeErrors entry)."""
    pattern = details.get("keyPattern")
    if isinstance(pattern, dict):
        return "slot" in pattern
    found = re.search(r"index:? '?([A-Za-z0-9_.]+)", str(details.get("errmsg", "")))
    return bool(found and found.group(1).endswith("slot"))


def _votes_inc(counts: dict[str, int]) -> Doc:
    return {f"votes.{k}": n for k, n in counts.items() if n}
