"""FairnessService: the host's side of "one person, one vote" over FairnessRepository.

Admission mode and tickets (admission.py), the integrity report and voids (integrity.py),
the ledger (ledger.py). Joining itself is EventService.join (it is every attendee's path).
"""

from __future__ import annotations

import asyncio

from livevote.errors import NotFound
from livevote.events import admission, integrity, ledger
from livevote.events.fairness_repository import FairnessRepository
from livevote.events.repository import Database
from livevote.events.service import EventService
from livevote.infra.mongo import Doc
from livevote.infra.resources import Clock

_ledger_caches: dict[int, ledger.LedgerCache] = {}  # one per event loop (asyncio locks)


def _ledger_cache() -> ledger.LedgerCache:
    key = id(asyncio.get_running_loop())
    cache = _ledger_caches.get(key)
    if cache is None:
        if len(_ledger_caches) > 16:  # test servers come and go with their loops
            _ledger_caches.clear()
        cache = _ledger_caches[key] = ledger.LedgerCache()
    return cache


class FairnessService:
    def __init__(self, events: EventService) -> None:
        self.events = events
        self.fair = FairnessRepository(events.db)
        self.clock = events.clock

    # -- admission and tickets ----------------------------------------------------------
    async def set_admission(self, *, event: Doc, mode: str) -> Doc:
        return await admission.set_mode(self.fair, event, mode, self.clock())

    async def issue_tickets(self, *, event: Doc, count: int) -> list[str]:
        return await admission.issue_tickets(self.fair, event, count, self.clock())

    async def ticket_counts(self, *, event: Doc) -> tuple[int, int]:
        return await self.fair.ticket_counts(str(event["_id"]))

    async def revoke_tickets(self, *, event: Doc, tickets: list[str]) -> int:
        return await admission.revoke_tickets(self.fair, event, tickets)

    # -- integrity ----------------------------------------------------------------------
    async def integrity(self, *, event: Doc) -> Doc:
        event_id = str(event["_id"])
        attendees = await self.fair.attendees_of(event_id)
        votes = await self.fair.vote_rows(event_id)
        return integrity.report(event, attendees, votes, await self.fair.audit_of(event_id))

    async def void(self, *, event: Doc, attendee_id: str, reason: str, by: str) -> Doc:
        return await integrity.void_attendee(
            self.fair,
            event,
            attendee_id,
            reason=reason,
            by=by,
            now=self.clock(),
            recount=lambda: self.events.recount(event=event, fix=True),
        )

    async def voids(self, *, event: Doc) -> list[Doc]:
        """The void audit entries of an event (for the export)."""
        return [e for e in await self.fair.audit_of(str(event["_id"])) if e["action"] == "void"]

    # -- the ledger ---------------------------------------------------------------------
    async def ledger(self, *, event_id: str) -> Doc:
        """The event's ledger: the votes its tallies hold at one instant (their `counted`
        markers), in counting order; built once per change and process (LedgerCache)."""
        snapshot = await self.fair.counted_event(event_id)
        if snapshot is None:
            raise NotFound(f"event {event_id!r} not found")

        async def build() -> Doc:
            counted = set(snapshot.get("counted") or {})
            votes = [v for v in await self.fair.ledger_votes(event_id) if str(v["_id"]) in counted]
            return ledger.build(snapshot, votes, await self.fair.audit_of(event_id))

        return await _ledger_cache().get(snapshot, build)


def provide_fairness(db: Database, clock: Clock) -> FairnessService:
    """The `fairness` dependency of the controllers and pages."""
    return FairnessService(EventService.of(db, clock))
