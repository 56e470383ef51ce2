"""Live events persistence: the only code naming the collections or building filters.

Collections (indexes in indexes/<name>.json):
- `events` (indexes/events.json): one document holds the whole public state of an event, so
  a snapshot is one read and every change to it is one atomic single-document write:
      {_id, code, title, host_id, status, max_score, results, revealed,
       stage: "<team id>"|"", stage_gen, voting_open, voting_team: "<team id>"|"",
       teams: {"<team id>": {name, order}}, tally: {"<team id>": {votes, score_sum}},
       vote_seq, attendees, created_at, updated_at}
  `stage` is the one truth of who presents (see service.py): no other document mirrors it.
- `teams` (indexes/teams.json): {_id, event_id, name}: the team register (no stage state).
- `attendees` (indexes/attendees.json): {_id, event_id, name, joined_at}
- `event_votes` (indexes/event_votes.json): {_id, event_id, team_id, attendee_id, score, at};
  unique (event_id, team_id, attendee_id): one vote per attendee per team.
Ids inside documents are hex strings, "" means none (NX-27017 cannot match ObjectId values
outside `_id`, nor `null`, and turns `$push`ed sub-documents into strings: we avoid all three).

Writes are named operations; a duplicate key comes back as a domain result (`False`,
`AlreadyVoted`), never as a pymongo error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from livevote.infra.mongo import Doc

Database = AsyncDatabase[Doc]

_AFTER = ReturnDocument.AFTER
# `counted.<vote id>` markers make counting a vote idempotent (see count_vote_if_open); they
# stay in the database and out of every document the domain reads.
_HIDE_MARKERS = {"counted": 0}
_NOT_ENDED = {"$ne": "ended"}
_VOTING_CLOSED = {"voting_open": False, "voting_team": ""}


@dataclass(frozen=True)
class AlreadyVoted:
    """`insert_vote`'s answer when this attendee's vote for this team is already stored:
    `stored` is that vote (None if it vanished meanwhile: refused by a racing close)."""

    stored: Doc | None


def oid(value: str) -> ObjectId | None:
    return ObjectId(value) if ObjectId.is_valid(value) else None


class EventRepository:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.events = db["events"]
        self.teams = db["teams"]
        self.attendees = db["attendees"]
        self.votes = db["event_votes"]

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
            {"$set": fields, "$inc": {"stage_gen": 1}},
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
                    "voting_opened": True,  # criteria are fixed from now on (jury.py)
                    "status": "live",
                    "updated_at": now,
                }
            },
            projection=_HIDE_MARKERS,
            return_document=_AFTER,
        )

    async def close_voting(self, event_id: str, now: datetime) -> Doc | None:
        """Close voting unless the event has ended (None then)."""
        return await self._update_unless_ended(
            event_id, {"$set": {**_VOTING_CLOSED, "updated_at": now}}
        )

    async def end_event(self, event_id: str, now: datetime) -> Doc | None:
        """End the event: nobody on stage, voting closed. None if it had ended already."""
        return await self._update_unless_ended(
            event_id,
            {
                "$set": {"status": "ended", "stage": "", **_VOTING_CLOSED, "updated_at": now},
                "$inc": {"stage_gen": 1},
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

    async def _update_unless_ended(self, event_id: str, update: Doc) -> Doc | None:
        return await self.events.find_one_and_update(
            {"_id": ObjectId(event_id), "status": _NOT_ENDED},
            update,
            projection=_HIDE_MARKERS,
            return_document=_AFTER,
        )

    # -- attendees ----------------------------------------------------------------------
    async def add_attendee(self, event_id: str, name: str | None, now: datetime) -> str:
        attendee_id = ObjectId()
        await self.attendees.insert_one(
            {"_id": attendee_id, "event_id": event_id, "name": name, "joined_at": now}
        )
        await self.events.update_one(
            {"_id": ObjectId(event_id)}, {"$inc": {"attendees": 1}, "$set": {"updated_at": now}}
        )
        return str(attendee_id)

    async def attendee(self, attendee_id: str) -> Doc | None:
        key = oid(attendee_id)
        return await self.attendees.find_one({"_id": key}) if key else None

    # -- votes --------------------------------------------------------------------------
    async def insert_vote(
        self, event_id: str, team_id: str, attendee_id: str, score: int, now: datetime
    ) -> ObjectId | AlreadyVoted:
        """Store a vote; `AlreadyVoted` if this attendee already voted for this team."""
        vote_id = ObjectId()
        try:
            await self.votes.insert_one(
                {
                    "_id": vote_id,
                    "event_id": event_id,
                    "team_id": team_id,
                    "attendee_id": attendee_id,
                    "score": score,
                    "at": now,
                }
            )
        except DuplicateKeyError:
            stored = await self.votes.find_one(
                {"event_id": event_id, "team_id": team_id, "attendee_id": attendee_id}
            )
            return AlreadyVoted(stored)
        return vote_id

    async def count_vote_if_open(
        self, event_id: str, team_id: str, score: int, now: datetime, vote_id: ObjectId
    ) -> bool:
        """The check-and-set that accepts a vote: counts it only while voting for the team is
        open and only if this vote was not counted yet (its `counted.<vote id>` marker is set
        by the same single-document update), so a retry after a lost answer or a crash can
        finish counting a stored vote and never count it twice (see votes.cast_vote)."""
        marker = f"counted.{vote_id}"
        doc = await self.events.find_one_and_update(
            {
                "_id": ObjectId(event_id),
                "voting_open": True,
                "voting_team": team_id,
                marker: {"$exists": False},
            },
            {
                "$inc": {
                    f"tally.{team_id}.votes": 1,
                    f"tally.{team_id}.score_sum": score,
                    "vote_seq": 1,
                },
                "$set": {"updated_at": now, marker: 1},
            },
            projection={"_id": 1},
        )
        return doc is not None

    async def is_counted(self, event_id: str, vote_id: ObjectId) -> bool:
        doc = await self.events.find_one(
            {"_id": ObjectId(event_id), f"counted.{vote_id}": {"$exists": True}}, {"_id": 1}
        )
        return doc is not None

    async def vote_ids(self, event_id: str) -> list[str]:
        return [str(d["_id"]) async for d in self.votes.find({"event_id": event_id}, {"_id": 1})]

    async def delete_vote(self, vote_id: ObjectId) -> None:
        await self.votes.delete_one({"_id": vote_id})

    async def votes_of(self, event_id: str, attendee_id: str) -> list[Doc]:
        cursor = self.votes.find({"event_id": event_id, "attendee_id": attendee_id})
        return await cursor.to_list()

    async def vote_log(self, event_id: str) -> list[Doc]:
        return await self.votes.find({"event_id": event_id}).sort("at", 1).to_list()

    async def count_votes(self, event_id: str) -> dict[str, dict[str, int]]:
        """Tallies recomputed from the stored votes: {team_id: {votes, score_sum}}."""
        cursor = await self.votes.aggregate(
            [
                {"$match": {"event_id": event_id}},
                {
                    "$group": {
                        "_id": "$team_id",
                        "votes": {"$sum": 1},
                        "score_sum": {"$sum": "$score"},
                    }
                },
            ]
        )
        rows = await cursor.to_list()
        return {
            str(r["_id"]): {"votes": int(r["votes"]), "score_sum": int(r["score_sum"])}
            for r in rows
        }

    async def replace_tallies_if_unchanged(
        self,
        event_id: str,
        vote_seq: int,
        tallies: dict[str, dict[str, int]],
        counted_ids: list[str],
        now: datetime,
    ) -> bool:
        """Write recounted tallies (and the markers of the votes they include) only if no vote
        was counted since `vote_seq` was read."""
        changes: dict[str, Any] = {f"tally.{t}": v for t, v in tallies.items()}
        changes["counted"] = dict.fromkeys(counted_ids, 1)
        changes["updated_at"] = now
        doc = await self.events.find_one_and_update(
            {"_id": ObjectId(event_id), "vote_seq": vote_seq},
            {"$set": changes},
            projection={"_id": 1},
        )
        return doc is not None
