"""Persistence of "one person, one vote": admission mode, tickets, voids, audit, ledger reads.

The only Mongo code of admission.py, integrity.py and ledger.py (kept beside repository.py,
which holds the vote and join write paths). Collections (indexes in indexes/<name>.json):
- `event_tickets` (indexes/event_tickets.json): one document per issued ticket,
      {_id: <sha-256 of event id + ticket>, event_id, attendee_id: ""|"<attendee id>",
       revoked, issued_at, claimed_at}
  the ticket itself is never stored. A claim is ONE check-and-set on the ticket document
  (`attendee_id: ""` → the new attendee): of any number of racing claims exactly one binds
  the ticket, the others read the winner's attendee.
- `event_audit` (indexes/event_audit.json): the host's integrity actions,
      {_id: "void:<event id>:<attendee id>", event_id, action, attendee_id, reason, by, at}
  one entry per voided attendee (the `_id` makes voiding twice write once).
- on the `events` document: `admission` ("open"|"tickets", absent = open), `tickets_issued`
  (reserved before the tickets are written: the per-event cap), `voided.<attendee id>`
  (true once voided: the vote pre-check refuses them, recounts leave their votes out) and
  `voting_opened` (set by repository.open_voting: the admission mode is fixed from then on;
  matched with `$exists: false`, because NX-27017's findAndModify never matches `$ne` on a
  missing field, although its find does).
- on `attendees`: `addr` (a keyed hash of the client address, never the address), `ticket`
  (true when bound to a ticket), `voided` ({reason, at}).
- on `event_votes`: `receipt_hash` (sha-256 of the receipt the voter was given).
- `event_batches` (repository.py, infra/batchcount.py) is read for the ledger's counting
  order: the applied batches and their sequence numbers.
"""

from __future__ import annotations

from datetime import datetime

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from livevote.infra.mongo import Doc, eq

_NOT_ENDED = {"$ne": "ended"}
_HIDE_MARKERS = {"counted": 0}


class FairnessRepository:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.events = db["events"]
        self.attendees = db["attendees"]
        self.votes = db["event_votes"]
        self.tickets = db["event_tickets"]
        self.audit = db["event_audit"]
        self.batches = db["event_batches"]

    # -- admission mode -----------------------------------------------------------------
    async def set_admission(self, event_id: str, mode: str, now: datetime) -> Doc | None:
        """Set the admission mode unless voting has ever opened or the event ended (None)."""
        return await self.events.find_one_and_update(
            {
                "_id": ObjectId(event_id),
                "status": _NOT_ENDED,
                "voting_open": False,
                "voting_opened": {"$exists": False},
            },
            {"$set": {"admission": mode, "updated_at": now}},
            projection=_HIDE_MARKERS,
            return_document=ReturnDocument.AFTER,
        )

    # -- tickets ------------------------------------------------------------------------
    async def reserve_tickets(self, event_id: str, count: int, cap: int) -> bool:
        """Reserve `count` tickets under the event's cap (check-and-set on `tickets_issued`);
        False when the cap would be passed or the event has ended."""
        room = {"$lte": cap - count}
        doc = await self.events.find_one_and_update(
            {
                "_id": ObjectId(event_id),
                "status": _NOT_ENDED,
                "$or": [{"tickets_issued": {"$exists": False}}, {"tickets_issued": room}],
            },
            {"$inc": {"tickets_issued": count}},
            projection={"_id": 1},
        )
        return doc is not None

    async def has_ended(self, event_id: str) -> bool:
        doc = await self.events.find_one({"_id": ObjectId(event_id)}, {"status": 1})
        return doc is not None and doc.get("status") == "ended"

    async def release_tickets(self, event_id: str, count: int) -> None:
        """Give back a reservation whose tickets were not written."""
        await self.events.update_one(
            {"_id": ObjectId(event_id)}, {"$inc": {"tickets_issued": -count}}
        )

    async def insert_tickets(self, event_id: str, hashes: list[str], now: datetime) -> None:
        docs = [
            {
                "_id": h,
                "event_id": event_id,
                "attendee_id": "",
                "revoked": False,
                "issued_at": now,
            }
            for h in hashes
        ]
        await self.tickets.insert_many(docs, ordered=False)

    async def ticket_counts(self, event_id: str) -> tuple[int, int]:
        """(issued, claimed) from one indexed read: NX-27017's count_documents scans the whole
        collection even with `$eq` (docs/GROUP_COMMIT.md, "NX-27017 and equality filters")."""
        found = await self.tickets.find(eq({"event_id": event_id}), {"attendee_id": 1}).to_list()
        return len(found), sum(1 for d in found if d.get("attendee_id") != "")

    async def claim_ticket(
        self, event_id: str, ticket_hash: str, attendee_id: str, now: datetime
    ) -> bool:
        """The check-and-set that binds a ticket to its first attendee (True: this call won)."""
        doc = await self.tickets.find_one_and_update(
            {"_id": ticket_hash, "event_id": event_id, "revoked": False, "attendee_id": ""},
            {"$set": {"attendee_id": attendee_id, "claimed_at": now}},
            projection={"_id": 1},
        )
        return doc is not None

    async def ticket(self, event_id: str, ticket_hash: str) -> Doc | None:
        return await self.tickets.find_one({"_id": ticket_hash, "event_id": event_id})

    async def revoke_tickets(self, event_id: str, hashes: list[str]) -> int:
        result = await self.tickets.update_many(
            {"_id": {"$in": hashes}, "event_id": event_id, "revoked": False},
            {"$set": {"revoked": True}},
        )
        return int(result.modified_count)

    # -- attendees, voids, audit ----------------------------------------------------------
    async def attendee(self, event_id: str, attendee_id: str) -> Doc | None:
        if not ObjectId.is_valid(attendee_id):
            return None
        return await self.attendees.find_one({"_id": ObjectId(attendee_id), "event_id": event_id})

    async def insert_attendee(
        self,
        event_id: str,
        attendee_id: str,
        batch: str,
        name: str | None,
        now: datetime,
        fields: Doc,
    ) -> bool:
        """Store a ticket's attendee under the id its claim chose, in join batch `batch`
        (counted by joins.count_attendees); False when it is stored already."""
        doc = {
            "_id": ObjectId(attendee_id),
            "event_id": event_id,
            "name": name,
            "joined_at": now,
            **fields,
            "batch": batch,
        }
        try:
            await self.attendees.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def attendees_of(self, event_id: str) -> list[Doc]:
        cursor = self.attendees.find(
            eq({"event_id": event_id}),
            {"name": 1, "addr": 1, "joined_at": 1, "voided": 1, "ticket": 1},
        )
        return await cursor.to_list()

    async def flag_voided(self, event_id: str, attendee_id: str, now: datetime) -> bool:
        """Mark the attendee voided on the event (idempotent); False once the event ended."""
        doc = await self.events.find_one_and_update(
            {"_id": ObjectId(event_id), "status": _NOT_ENDED},
            {"$set": {f"voided.{attendee_id}": True, "updated_at": now}},
            projection={"_id": 1},
        )
        return doc is not None

    async def mark_attendee_voided(
        self, event_id: str, attendee_id: str, reason: str, now: datetime
    ) -> bool:
        """Check-and-set the attendee's `voided` record (True: this call voided them)."""
        doc = await self.attendees.find_one_and_update(
            {"_id": ObjectId(attendee_id), "event_id": event_id, "voided": {"$exists": False}},
            {"$set": {"voided": {"reason": reason, "at": now}}},
            projection={"_id": 1},
        )
        return doc is not None

    async def add_audit(self, entry: Doc) -> bool:
        """Store an audit entry under its deterministic `_id` (False: it was stored before)."""
        try:
            await self.audit.insert_one(entry)
        except DuplicateKeyError:
            return False
        return True

    async def audit_of(self, event_id: str) -> list[Doc]:
        return await self.audit.find(eq({"event_id": event_id})).sort("at", 1).to_list()

    # -- votes (read only) ----------------------------------------------------------------
    async def vote_rows(self, event_id: str) -> list[Doc]:
        """Who voted when, for the integrity report (attendee, team, time)."""
        fields = {"attendee_id": 1, "team_id": 1, "at": 1}
        cursor = self.votes.find(eq({"event_id": event_id}), fields)
        return await cursor.to_list()

    async def votes_of(self, event_id: str, attendee_id: str) -> int:
        """How many votes the attendee has stored (an indexed read, not count_documents)."""
        query = eq({"event_id": event_id, "attendee_id": attendee_id})
        return len(await self.votes.find(query, {"_id": 1}).to_list())

    async def counted_event(self, event_id: str) -> Doc | None:
        """The event document as counted at this instant: its tallies with the chain's
        position (`last_batch`, `batch_seq`) and any legacy `counted.<vote id>` markers."""
        return await self.events.find_one({"_id": ObjectId(event_id)})

    async def applied_batches(self, event_id: str, upto: int) -> dict[str, int]:
        """The event's applied batches up to chain position `upto`: {batch id: seq}."""
        cursor = self.batches.find(
            eq({"event_id": event_id, "state": "applied", "seq": {"$lte": upto}}), {"seq": 1}
        )
        return {str(d["_id"]): int(d.get("seq") or 0) async for d in cursor}

    async def ledger_votes(self, event_id: str) -> list[Doc]:
        """The stored votes with what the ledger shows of them (and their batch)."""
        cursor = self.votes.find(
            eq({"event_id": event_id}),
            {"team_id": 1, "score": 1, "receipt_hash": 1, "attendee_id": 1, "batch": 1},
        )
        return await cursor.to_list()
