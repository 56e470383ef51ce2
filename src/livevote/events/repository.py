"""Live events persistence: the only code naming the collections or building filters.

Collections (indexes in indexes/<name>.json):
- `events` (indexes/events.json): one document holds the whole public state of an event, so
  a snapshot is one read and every change to it is one atomic single-document write:
      {_id, code, title, host_id, status, max_score, results, revealed,
       stage: "<team id>"|"", stage_gen, voting_open, voting_team: "<team id>"|"", voting_gen,
       teams: {"<team id>": {name, order}}, tally: {"<team id>": {votes, score_sum}},
       vote_seq, attendees, last_batch, batch_seq, language: "en"|"fr"|"es"|"",
       created_at, updated_at}
  `stage` is the one truth of who presents (see service.py): no other document mirrors it.
  `voting_gen` names the voting window: every open, close, stage switch and end bumps it in
  the same write, so a window that has passed never comes back (votes.py relies on it).
  It is also the counter document of infra/batchcount.py (`last_batch`, `batch_seq`): the
  tallies, `vote_seq` and `attendees` move only by applying a batch.
- `event_batches` (indexes/event_batches.json): the batch records of infra/batchcount.py,
  `{_id, counter, event_id, kind: votes|joins|correction|legacy, state, inc, seq,
  team, gen}` (`event_id` as a string: NX-27017 cannot match ObjectId values outside `_id`).
- `teams` (indexes/teams.json): {_id, event_id, name}: the team register (no stage state).
- `attendees` (indexes/attendees.json): {_id, event_id, name, joined_at, batch}
- `event_votes` (indexes/event_votes.json): {_id, event_id, team_id, attendee_id, score, at,
  batch}; unique (event_id, team_id, attendee_id): one vote per attendee per team. A vote or
  an attendee counts when its `batch` is applied; stored before that field existed, it has
  none (see votes.py and recount.py for those).
Ids inside documents are hex strings, "" means none (NX-27017 cannot match ObjectId values
outside `_id`, nor `null`, and turns `$push`ed sub-documents into strings: we avoid all three).
Events stored before batches carry `counted.<vote id>` markers (the old per-vote counting);
they stay out of every document the domain reads, and `livevote recount events --fix` drops
them (recount.py).

Writes are named operations; a duplicate key comes back as a domain result (`False`, `None`
in `insert_votes`), never as a pymongo error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from livevote.infra.batchcount import BatchCounter, Outcome, State
from livevote.infra.hooks import NO_HOOKS, Hooks
from livevote.infra.mongo import Doc, eq

Database = AsyncDatabase[Doc]

_AFTER = ReturnDocument.AFTER
_HIDE_MARKERS = {"counted": 0}  # legacy `counted.<vote id>` markers (see the docstring)
_NOT_ENDED = {"$ne": "ended"}
_VOTING_CLOSED = {"voting_open": False, "voting_team": ""}
_NEXT_WINDOW = {"voting_gen": 1}  # $inc'd by every write that opens or closes a window
_DUPLICATE_KEY = 11000


def oid(value: str) -> ObjectId | None:
    return ObjectId(value) if ObjectId.is_valid(value) else None


def voting_guard(team_id: str, gen: int) -> Doc:
    """The counting condition of a vote batch: voting is open for `team_id` in window `gen`
    (-1: an event stored before windows were numbered, that has not opened or closed since)."""
    return {
        "voting_open": True,
        "voting_team": team_id,
        "voting_gen": gen if gen >= 0 else {"$exists": False},
    }


def window_of(event: Doc) -> int:
    """The event's voting window number (-1 when the document predates `voting_gen`)."""
    return int(event["voting_gen"]) if "voting_gen" in event else -1


class EventRepository:
    def __init__(self, db: AsyncDatabase[Doc], hooks: Hooks = NO_HOOKS) -> None:
        self.events = db["events"]
        self.teams = db["teams"]
        self.attendees = db["attendees"]
        self.votes = db["event_votes"]
        self.batches = db["event_batches"]
        self.hooks = hooks
        self.chain = BatchCounter(self.events, self.batches, hooks)

    # -- reads --------------------------------------------------------------------------
    async def get(self, event_id: str) -> Doc | None:
        key = oid(event_id)
        return await self.events.find_one({"_id": key}, _HIDE_MARKERS) if key else None

    async def by_code(self, code: str) -> Doc | None:
        return await self.events.find_one({"code": code}, _HIDE_MARKERS)

    async def by_host(self, host_id: str, limit: int = 100) -> list[Doc]:
        cursor = (
            self.events.find({"host_id": host_id}, _HIDE_MARKERS)
            .sort("created_at", -1)
            .limit(limit)
        )
        return await cursor.to_list()

    async def all_ids(self) -> list[str]:
        return [str(d["_id"]) async for d in self.events.find({}, {"_id": 1})]

    # -- creating -----------------------------------------------------------------------
    async def insert_event(self, doc: Doc) -> bool:
        """Store a new event; False when its join code is taken (unique index)."""
        try:
            await self.events.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def insert_teams(self, event_id: str, teams: dict[str, str]) -> None:
        if teams:
            await self.teams.insert_many(
                [
                    {"_id": ObjectId(tid), "event_id": event_id, "name": n}
                    for tid, n in teams.items()
                ]
            )

    async def delete_teams(self, event_id: str) -> None:
        await self.teams.delete_many({"event_id": event_id})

    async def add_team(
        self, event_id: str, team_id: str, name: str, order: int, now: datetime
    ) -> Doc | None:
        """Add a team to an event that has not ended; None once it has."""
        await self.teams.insert_one({"_id": ObjectId(team_id), "event_id": event_id, "name": name})
        return await self._update_unless_ended(
            event_id,
            {
                "$set": {
                    f"teams.{team_id}": {"name": name, "order": order},
                    f"tally.{team_id}": {"votes": 0, "score_sum": 0},
                    "updated_at": now,
                }
            },
        )

    # -- the stage and the voting window (one atomic write each) -------------------------
    async def switch_stage(self, event_id: str, team_id: str, now: datetime) -> Doc | None:
        """Put `team_id` ("" for nobody) on stage and close voting, in one write, unless the
        event has ended or that team is already on stage (None: read and decide)."""
        fields: Doc = {"stage": team_id, **_VOTING_CLOSED, "updated_at": now}
        if team_id:
            fields["status"] = "live"
        return await self.events.find_one_and_update(
            {"_id": ObjectId(event_id), "status": _NOT_ENDED, "stage": {"$ne": team_id}},
            {"$set": fields, "$inc": {"stage_gen": 1, **_NEXT_WINDOW}},
            projection=_HIDE_MARKERS,
            return_document=_AFTER,
        )

    async def open_voting(
        self, event_id: str, stage: str, stage_gen: int, now: datetime
    ) -> Doc | None:
        """Check-and-set: open voting for `stage` only if the stage did not change since it
        was read at `stage_gen` (None: it did, or the event ended)."""
        return await self.events.find_one_and_update(
            {
                "_id": ObjectId(event_id),
                "status": _NOT_ENDED,
                "stage": stage,
                "stage_gen": stage_gen,
            },
            {
                "$set": {
                    "voting_open": True,
                    "voting_team": stage,
                    "status": "live",
                    # admission mode (admission.py) and criteria (jury.py) are fixed from now on
                    "voting_opened": True,
                    "updated_at": now,
                },
                "$inc": _NEXT_WINDOW,
            },
            projection=_HIDE_MARKERS,
            return_document=_AFTER,
        )

    async def close_voting(self, event_id: str, now: datetime) -> Doc | None:
        """Close voting unless the event has ended (None then)."""
        return await self._update_unless_ended(
            event_id, {"$set": {**_VOTING_CLOSED, "updated_at": now}, "$inc": _NEXT_WINDOW}
        )

    async def end_event(self, event_id: str, now: datetime) -> Doc | None:
        """End the event: nobody on stage, voting closed. None if it had ended already."""
        return await self._update_unless_ended(
            event_id,
            {
                "$set": {"status": "ended", "stage": "", **_VOTING_CLOSED, "updated_at": now},
                "$inc": {"stage_gen": 1, **_NEXT_WINDOW},
            },
        )

    async def set_results_visible(self, event_id: str, visible: bool, now: datetime) -> Doc | None:
        """Reveal or hide the results (hiding also turns live results into hidden ones)."""
        fields: Doc = {"revealed": visible, "updated_at": now}
        if not visible:
            fields["results"] = "hidden"
        return await self.events.find_one_and_update(
            {"_id": ObjectId(event_id)},
            {"$set": fields},
            projection=_HIDE_MARKERS,
            return_document=_AFTER,
        )

    async def set_language(self, event_id: str, language: str, now: datetime) -> Doc | None:
        """The language of the event's pages ("" for each browser's own)."""
        return await self.events.find_one_and_update(
            {"_id": ObjectId(event_id)},
            {"$set": {"language": language, "updated_at": now}},
            projection=_HIDE_MARKERS,
            return_document=_AFTER,
        )

    async def _update_unless_ended(self, event_id: str, update: Doc) -> Doc | None:
        return await self.events.find_one_and_update(
            {"_id": ObjectId(event_id), "status": _NOT_ENDED},
            update,
            projection=_HIDE_MARKERS,
            return_document=_AFTER,
        )

    # -- batches: the counting chain on the event document (infra/batchcount.py) ---------
    async def record_batch(
        self, event_id: str, batch_id: str, inc: dict[str, int], kind: str, **extra: Any
    ) -> State:
        """Record a pending batch of increments (PENDING; VOID if it was voided first)."""
        return await self.chain.record(
            ObjectId(event_id), batch_id, inc, event_id=event_id, kind=kind, **extra
        )

    async def apply_batch(
        self, event_id: str, batch_id: str, guard: Doc | None = None, inc: Doc | None = None
    ) -> Outcome:
        """Apply a recorded batch exactly once, only while `guard` holds on the event (`inc`:
        its increments when the caller recorded it, else read from the record)."""
        return await self.chain.apply(ObjectId(event_id), batch_id, guard, inc)

    async def void_batch(
        self, event_id: str, batch_id: str, *, missing_only: bool = False
    ) -> State:
        """Void a batch that must never apply (see BatchCounter.void); `missing_only` when
        giving up on a writer: a record written meanwhile is left alone (it may be applying)."""
        return await self.chain.void(ObjectId(event_id), batch_id, missing_only=missing_only)

    async def batch_state(self, event_id: str, batch_id: str) -> State:
        return await self.chain.state(ObjectId(event_id), batch_id)

    async def batch(self, batch_id: str) -> Doc | None:
        return await self.batches.find_one({"_id": batch_id})

    async def batches_of(self, event_id: str) -> list[Doc]:
        """Every batch record of the event (for recounts): id, kind, state, seq, team, gen."""
        cursor = self.batches.find(eq({"event_id": event_id}), {"inc": 0})
        return await cursor.to_list()

    async def start_chain(self, event_id: str) -> None:
        """Give an event stored before batches its chain fields (harmless when present)."""
        await self.events.update_one(
            {"_id": ObjectId(event_id), "last_batch": {"$exists": False}},
            {"$set": {"last_batch": "", "batch_seq": 0}},
        )

    async def counter(self, event_id: str) -> Doc | None:
        """The counted state of an event in one read: tallies, attendees, the chain's last
        batch and sequence, the voting window, and the legacy `counted` markers."""
        key = oid(event_id)
        fields = ("tally", "attendees", "last_batch", "batch_seq", "teams", "counted")
        more = ("voting_open", "voting_team", "voting_gen", "vote_seq", "voided")
        return await self.events.find_one({"_id": key}, dict.fromkeys(fields + more, 1))

    # -- votes --------------------------------------------------------------------------
    async def insert_votes(
        self, event_id: str, batch_id: str, ballots: list[Doc]
    ) -> list[ObjectId | None]:
        """Store votes of one batch (`ballots`: team_id, attendee_id, score, at) with one
        unordered insert: one id per ballot, None where this attendee's vote for this team
        is stored already (a duplicate fails alone)."""
        docs = [{"_id": ObjectId(), "event_id": event_id, **b, "batch": batch_id} for b in ballots]
        ids: list[ObjectId | None] = [d["_id"] for d in docs]
        try:
            await self.votes.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != _DUPLICATE_KEY for e in errors):
                raise
            for e in errors:
                ids[int(e["index"])] = None
        return ids

    async def stored_vote(self, event_id: str, team_id: str, attendee_id: str) -> Doc | None:
        return await self.votes.find_one(
            eq({"event_id": event_id, "team_id": team_id, "attendee_id": attendee_id})
        )

    async def vote(self, vote_id: ObjectId) -> Doc | None:
        return await self.votes.find_one({"_id": vote_id})

    async def votes_by_id(self, vote_ids: list[ObjectId]) -> list[Doc]:
        return await self.votes.find({"_id": {"$in": vote_ids}}).to_list()

    async def move_vote(self, vote_id: ObjectId, from_batch: str | None, to_batch: str) -> bool:
        """Check-and-set a vote's batch (None: a vote stored before batches, without one):
        the one way a vote leaves a batch that will never apply; one mover wins."""
        was: Any = from_batch if from_batch is not None else {"$exists": False}
        moved = await self.votes.update_one(
            {"_id": vote_id, "batch": was}, {"$set": {"batch": to_batch}}
        )
        return moved.modified_count == 1

    async def delete_batch_votes(self, event_id: str, batch_id: str) -> None:
        """Remove the votes of a void batch (refused: voting closed before it applied)."""
        await self.votes.delete_many(eq({"event_id": event_id, "batch": batch_id}))

    async def has_marker(self, event_id: str, vote_id: ObjectId) -> bool:
        """Whether the old per-vote counting marked this vote counted (legacy events)."""
        doc = await self.events.find_one(
            {"_id": ObjectId(event_id), f"counted.{vote_id}": {"$exists": True}}, {"_id": 1}
        )
        return doc is not None

    async def adopt_marked_votes(self, event_id: str, vote_ids: list[str]) -> None:
        """Move votes counted by the old markers into the event's `legacy` batch, recorded
        as applied, so that the markers can go (`drop_markers`)."""
        legacy = f"legacy:{event_id}"
        doc = {"_id": legacy, "counter": ObjectId(event_id), "event_id": event_id}
        fields = {"kind": "legacy", "state": "applied", "inc": {}, "seq": 0}
        try:
            await self.batches.insert_one({**doc, **fields})
        except DuplicateKeyError:
            pass  # adopted before: the record is there
        ids = [ObjectId(v) for v in vote_ids]
        await self.votes.update_many(
            {"_id": {"$in": ids}, "batch": {"$exists": False}}, {"$set": {"batch": legacy}}
        )

    async def drop_markers(self, event_id: str) -> None:
        await self.events.update_one({"_id": ObjectId(event_id)}, {"$unset": {"counted": ""}})

    async def vote_facts(self, event_id: str) -> AsyncIterator[Doc]:
        """Every stored vote of the event: _id, team_id, score, batch, attendee_id (for
        recounts: a voided attendee's votes leave the tallies)."""
        fields = {"team_id": 1, "score": 1, "batch": 1, "attendee_id": 1}
        async for doc in self.votes.find(eq({"event_id": event_id}), fields):
            yield doc

    async def votes_of(self, event_id: str, attendee_id: str) -> list[Doc]:
        cursor = self.votes.find(eq({"event_id": event_id, "attendee_id": attendee_id}))
        return await cursor.to_list()

    async def vote_log(self, event_id: str) -> list[Doc]:
        return await self.votes.find(eq({"event_id": event_id})).sort("at", 1).to_list()

    # -- attendees ----------------------------------------------------------------------
    async def insert_attendees(
        self, event_id: str, batch_id: str, joiners: list[tuple[str | None, datetime, Doc]]
    ) -> list[str]:
        """Store attendees (name, joined_at, fields) of one batch with one unordered insert."""
        docs = [
            {
                "_id": ObjectId(),
                "event_id": event_id,
                "name": n,
                "joined_at": at,
                **fields,
                "batch": batch_id,
            }
            for n, at, fields in joiners
        ]
        await self.attendees.insert_many(docs, ordered=False)
        return [str(d["_id"]) for d in docs]

    async def move_attendees(self, event_id: str, from_batch: str, to_batch: str) -> int:
        """Check-and-set the batch of a void batch's attendees; how many this call moved."""
        moved = await self.attendees.update_many(
            eq({"event_id": event_id, "batch": from_batch}), {"$set": {"batch": to_batch}}
        )
        return moved.modified_count

    async def attendee(self, attendee_id: str) -> Doc | None:
        key = oid(attendee_id)
        return await self.attendees.find_one({"_id": key}) if key else None

    async def attendee_batches(self, event_id: str) -> dict[str | None, int]:
        """How many attendees each batch holds (None: joined before batches)."""
        counts: dict[str | None, int] = {}
        async for doc in self.attendees.find(eq({"event_id": event_id}), {"batch": 1}):
            key = doc.get("batch")
            counts[key] = counts.get(key, 0) + 1
        return counts
