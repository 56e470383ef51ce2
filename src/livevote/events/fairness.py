"""FairnessService: the host's side of "one person, one vote" over FairnessRepository.

Admission mode and tickets (admission.py), the integrity report and voids (integrity.py),
the ledger (ledger.py). Joining itself is EventService.join (it is every attendee's path).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from livevote.errors import NotFound
from livevote.events import admission, integrity, ledger
from livevote.events.fairness_repository import FairnessRepository
from livevote.events.repository import Database
from livevote.events.service import EventService
from livevote.events.votes import GRACE_SECONDS, VOTE_CACHE_SECONDS
from livevote.infra.mongo import Doc
from livevote.infra.resources import Clock

log = logging.getLogger("livevote.events.fairness")

_ledger_caches: dict[int, ledger.LedgerCache] = {}  # one per event loop (asyncio locks)
# A vote that passed the vote path's pre-check just before a void (its event cache lives
# VOTE_CACHE_SECONDS, its batch may wait GRACE_SECONDS for a slow writer) can be counted after
# the void's recount: one more recount once that window has passed takes it out as well.
FOLLOW_UP_SECONDS = VOTE_CACHE_SECONDS + GRACE_SECONDS
_follow_ups: set[asyncio.Task[None]] = set()


def _recount_later(events: EventService, event: Doc) -> None:
    async def run() -> None:
        await asyncio.sleep(FOLLOW_UP_SECONDS)
        try:
            await events.recount(event=event, fix=True)
        except Exception:  # logged: the host's next void or recount repeats it
            log.warning("follow-up recount after a void failed", exc_info=True)

    task = asyncio.get_running_loop().create_task(run())
    _follow_ups.add(task)
    task.add_done_callback(_follow_ups.discard)


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

    async def integrity_summary(self, *, event: Doc, voter: Callable[[str], str]) -> Doc:
        """The printed report's integrity section (integrity.summary): the integrity report
        and the ledger, attendees shown as `voter(attendee_id)`."""
        full = await self.integrity(event=event)
        book = await self.ledger(event_id=str(event["_id"]))
        return integrity.summary(event, full, book, voter)

    async def void(self, *, event: Doc, attendee_id: str, reason: str, by: str) -> Doc:
        out = await integrity.void_attendee(
            self.fair,
            event,
            attendee_id,
            reason=reason,
            by=by,
            now=self.clock(),
            recount=lambda: self.events.recount(event=event, fix=True),
        )
        _recount_later(self.events, event)
        return out

    async def voids(self, *, event: Doc) -> list[Doc]:
        """The void audit entries of an event (for the export)."""
        return [e for e in await self.fair.audit_of(str(event["_id"])) if e["action"] == "void"]

    # -- the ledger ---------------------------------------------------------------------
    async def ledger(self, *, event_id: str) -> Doc:
        """The event's ledger: the votes its tallies hold at one instant, in counting order;
        built once per change and process (LedgerCache)."""
        snapshot = await self.fair.counted_event(event_id)
        if snapshot is None:
            raise NotFound(f"event {event_id!r} not found")

        async def build() -> Doc:
            votes = counted_in_order(
                snapshot,
                await self.fair.applied_batches(event_id, int(snapshot.get("batch_seq") or 0)),
                await self.fair.ledger_votes(event_id),
            )
            return ledger.build(snapshot, votes, await self.fair.audit_of(event_id))

        return await _ledger_cache().get(snapshot, build)


def counted_in_order(snapshot: Doc, applied: dict[str, int], votes: list[Doc]) -> list[Doc]:
    """The votes the snapshot's tallies hold, in counting order.

    A vote counts when its batch was applied by the snapshot's read: the batches sealed up to
    its `batch_seq`, plus `last_batch` (applied, maybe not sealed yet). Counting order is the
    batch sequence (then the vote id inside a batch: one batch applies as one write). Votes of
    an event stored before batches count by their legacy `counted.<id>` markers and come first
    (by id, which grows with time)."""
    order = dict(applied)
    last = str(snapshot.get("last_batch") or "")
    if last:
        order[last] = int(snapshot.get("batch_seq") or 0)
    marked = set(snapshot.get("counted") or {})
    keyed: list[tuple[int, str, Doc]] = []
    for v in votes:
        batch = v.get("batch")
        if batch is not None and str(batch) in order:
            keyed.append((order[str(batch)], str(v["_id"]), v))
        elif batch is None and str(v["_id"]) in marked:
            keyed.append((0, str(v["_id"]), v))
    keyed.sort(key=lambda k: (k[0], k[1]))
    return [v for _, _, v in keyed]


def provide_fairness(db: Database, clock: Clock) -> FairnessService:
    """The `fairness` dependency of the controllers and pages."""
    return FairnessService(EventService.of(db, clock))
