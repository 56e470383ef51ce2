"""Jury, criteria and reveal persistence: the only Mongo code of the pitch-competition rules.

Collections (indexes in indexes/<name>.json):
- `jurors` (indexes/jurors.json): {_id, event_id, name, token_hash, created_at}; the token
  itself is never stored (unique `juror_token_unique` on token_hash).
- `jury_sheets` (indexes/jury_sheets.json): {_id, event_id, juror_id, team_id, scores:
  {criterion: n}, rev, at, locked?}; unique `one_sheet_per_juror_per_team` on (event_id,
  juror_id, team_id). A slot with `locked` and no `scores` is a lock placeholder.
Fields of the event document written here (events collection, see repository.py):
  criteria: [{name, weight}], criteria_gen, jury_weight, jury_locked, jury_scored,
  jurors: {"<juror id>": {name, order}}, jury_tally: {"<team id>": {sheets, sums:
  {criterion: total}}}, jury_seq, reveal_step.

NX-27017's upsert gap (DESIGN.md): `find_one_and_update(upsert=True)` that hits the unique
index answers `None` instead of raising `DuplicateKeyError`, and `None` is also the BEFORE
image of a fresh insert, so `put_sheet` never upserts: update an existing slot, else insert
one (measured: with 30 racing upserts the replaced sheet could not be told apart).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from livevote.infra.mongo import Doc, eq

_AFTER = ReturnDocument.AFTER
_BEFORE = ReturnDocument.BEFORE
_HIDE = {"counted": 0}
_UNLOCKED = {"$ne": True}


@dataclass(frozen=True)
class SheetStored:
    """`put_sheet` granted: `previous` is the scores the slot held before (None: none)."""

    previous: dict[str, int] | None


@dataclass(frozen=True)
class SheetRefused:
    """`put_sheet` not granted: the slot is locked (`locked`) or a racing write won the
    insert (retry: the slot exists now, so the next try is a plain update)."""

    locked: bool


def _same(field: str, value: Any) -> Doc:
    """Filter on a field read as `value` (None: it was absent, as in older events)."""
    return {field: {"$exists": False} if value is None else value}


class JuryRepository:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.events = db["events"]
        self.jurors = db["jurors"]
        self.sheets = db["jury_sheets"]

    # -- criteria and weight (check-and-set on the event document) ----------------------
    async def set_criteria(
        self,
        event_id: str,
        criteria: list[Doc],
        max_score: int | None,
        criteria_gen: int | None,
        now: datetime,
    ) -> Doc | None:
        """Replace the criteria only while nobody has scored against them: voting never
        opened and no juror has begun (None otherwise, or if they changed since read)."""
        fields: Doc = {"criteria": criteria, "updated_at": now}
        if max_score is not None:
            fields["max_score"] = max_score
        return await self.events.find_one_and_update(
            {
                "_id": ObjectId(event_id),
                "voting_opened": {"$exists": False},
                "voting_open": False,
                "jury_scored": {"$exists": False},
                **_same("criteria_gen", criteria_gen),
            },
            {"$set": fields, "$inc": {"criteria_gen": 1}},
            projection=_HIDE,
            return_document=_AFTER,
        )

    async def set_jury_weight(self, event_id: str, weight: float, now: datetime) -> Doc | None:
        return await self.events.find_one_and_update(
            {"_id": ObjectId(event_id), "jury_locked": _UNLOCKED},
            {"$set": {"jury_weight": weight, "updated_at": now}},
            projection=_HIDE,
            return_document=_AFTER,
        )

    # -- jurors -------------------------------------------------------------------------
    async def insert_juror(
        self, event_id: str, juror_id: str, name: str, token_hash: str, now: datetime
    ) -> None:
        await self.jurors.insert_one(
            {
                "_id": ObjectId(juror_id),
                "event_id": event_id,
                "name": name,
                "token_hash": token_hash,
                "created_at": now,
            }
        )

    async def enrol_juror(
        self, event_id: str, juror_id: str, name: str, order: int, now: datetime
    ) -> Doc | None:
        """Name the juror on the event while the jury is open (None once locked)."""
        return await self.events.find_one_and_update(
            {"_id": ObjectId(event_id), "jury_locked": _UNLOCKED},
            {"$set": {f"jurors.{juror_id}": {"name": name, "order": order}, "updated_at": now}},
            projection=_HIDE,
            return_document=_AFTER,
        )

    async def delete_juror(self, juror_id: str) -> None:
        await self.jurors.delete_one({"_id": ObjectId(juror_id)})

    async def juror_by_token_hash(self, token_hash: str) -> Doc | None:
        return await self.jurors.find_one({"token_hash": token_hash})

    # -- sheets -------------------------------------------------------------------------
    async def mark_scoring(self, event_id: str, criteria_gen: int | None) -> bool:
        """Check-and-set before a sheet is written: the jury is open and the criteria are
        still the ones the scores were checked against; from now on they cannot change."""
        doc = await self.events.find_one_and_update(
            {
                "_id": ObjectId(event_id),
                "jury_locked": _UNLOCKED,
                **_same("criteria_gen", criteria_gen),
            },
            {"$set": {"jury_scored": True}},
            projection={"_id": 1},
        )
        return doc is not None

    async def put_sheet(
        self, event_id: str, juror_id: str, team_id: str, scores: dict[str, int], now: datetime
    ) -> SheetStored | SheetRefused:
        """Replace the juror's sheet for the team in one write, unless its slot is locked.

        An update of an unlocked slot, else an insert: the update's filter is the
        check-and-set (a locked slot does not match) and its BEFORE image is the sheet it
        replaced; the insert creates the slot, and the unique index refuses it when the slot
        exists (locked, or created by a racing write: the caller tries again). Not an upsert:
        NX-27017 answers an upsert that hits the unique index with `None`, the same answer
        as a fresh insert's BEFORE image, so the replaced sheet could not be known."""
        key = {"event_id": event_id, "juror_id": juror_id, "team_id": team_id}
        fields = {"scores": scores, "rev": ObjectId(), "at": now}
        before = await self.sheets.find_one_and_update(
            eq({**key, "locked": {"$exists": False}}),
            {"$set": fields},
            return_document=_BEFORE,
        )
        if before is not None:
            previous = before.get("scores")
            return SheetStored(dict(previous) if previous else None)
        try:
            await self.sheets.insert_one({**key, **fields})
        except DuplicateKeyError:
            slot = await self.sheets.find_one(eq(key), {"locked": 1})
            return SheetRefused(locked=bool(slot and slot.get("locked")))
        return SheetStored(None)

    async def add_to_tally(
        self, event_id: str, team_id: str, delta: dict[str, int], new_sheet: bool, now: datetime
    ) -> None:
        """Apply a sheet's change to the team's jury tally (one `$inc`; recount repairs a
        change lost to a crash between the sheet and this write)."""
        inc: dict[str, int] = {f"jury_tally.{team_id}.sums.{c}": d for c, d in delta.items()}
        inc[f"jury_tally.{team_id}.sheets"] = 1 if new_sheet else 0
        inc["jury_seq"] = 1
        await self.events.update_one(
            {"_id": ObjectId(event_id)}, {"$inc": inc, "$set": {"updated_at": now}}
        )

    async def sheets_of(self, event_id: str, juror_id: str | None = None) -> list[Doc]:
        """The scored sheets of the event (or of one juror), placeholders left out."""
        query: Doc = {"event_id": event_id, "scores": {"$exists": True}}
        if juror_id is not None:
            query["juror_id"] = juror_id
        return await self.sheets.find(eq(query)).to_list()

    # -- the lock -----------------------------------------------------------------------
    async def set_locked_flag(self, event_id: str, locked: bool, now: datetime) -> Doc | None:
        return await self.events.find_one_and_update(
            {"_id": ObjectId(event_id)},
            {"$set": {"jury_locked": locked, "updated_at": now}},
            projection=_HIDE,
            return_document=_AFTER,
        )

    async def lock_slots(self, event_id: str, juror_ids: list[str], team_ids: list[str]) -> None:
        """Lock every (juror, team) slot: placeholders first for the slots nobody scored,
        then the flag on all of them, so a sheet inserted between the two is locked too."""
        placeholders = [
            {"event_id": event_id, "juror_id": j, "team_id": t, "locked": True}
            for j in juror_ids
            for t in team_ids
        ]
        if placeholders:
            try:
                await self.sheets.insert_many(placeholders, ordered=False)
            except BulkWriteError:
                pass  # those slots hold sheets already: flagged below
        await self.sheets.update_many({"event_id": event_id}, {"$set": {"locked": True}})

    async def unlock_slots(self, event_id: str) -> None:
        await self.sheets.delete_many({"event_id": event_id, "scores": {"$exists": False}})
        await self.sheets.update_many({"event_id": event_id}, {"$unset": {"locked": ""}})

    # -- recount ------------------------------------------------------------------------
    async def replace_jury_tally_if_unchanged(
        self, event_id: str, jury_seq: int | None, tally: dict[str, Doc], now: datetime
    ) -> bool:
        doc = await self.events.find_one_and_update(
            {"_id": ObjectId(event_id), **_same("jury_seq", jury_seq)},
            {"$set": {"jury_tally": tally, "updated_at": now}, "$inc": {"jury_seq": 1}},
            projection={"_id": 1},
        )
        return doc is not None

    # -- the reveal ceremony ------------------------------------------------------------
    async def advance_reveal(
        self, event_id: str, step: int | None, total: int, now: datetime
    ) -> Doc | None:
        """Reveal one more place (check-and-set on the step read); the last one also makes
        the results visible to everyone. None: another reveal won, or results are visible."""
        nxt = (step or 0) + 1
        fields: Doc = {"reveal_step": nxt, "updated_at": now}
        if nxt >= total:
            fields["revealed"] = True
        return await self.events.find_one_and_update(
            {
                "_id": ObjectId(event_id),
                "results": {"$ne": "live"},
                "revealed": {"$ne": True},
                **_same("reveal_step", step),
            },
            {"$set": fields},
            projection=_HIDE,
            return_document=_AFTER,
        )
