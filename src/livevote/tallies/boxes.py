"""Storing a box's plain report: one report per ballot box, and a city never counts more
boxes than it expects. Both hold in the report's one insert (nothing is half-written):

- `original_box` (unique per election: election_reports.one_report_per_box): a second plain
  report of the box is refused (409 box-already-reported; a correction changes its counts);
- `slot` (unique per city: one_box_per_city_slot), a number below the city's ballot boxes:
  a city holds at most that many plain reports. A full city answers 409 city-fully-reported.

Slots are taken above the highest taken one (a per-process hint, read again after a
conflict); a report that finds its slot taken by another box jumps past the new highest,
spread by a small random step so that concurrent reports of one city stop aiming at the
same number. The steps leave gaps: once the top is reached, the
free slots below are found by walking the city's slots (once per report at the end of the
night, not per report before). A full city is a permanent fact (slots are never released),
remembered per process so refusals cost nothing.
"""

from __future__ import annotations

import random

from livevote.errors import Conflict
from livevote.infra import metrics
from livevote.infra.mongo import Doc
from livevote.tallies.repository import SLOT_TAKEN, STORED, ElectionRepository

MAX_ATTEMPTS = 200
_FULL_CITIES: set[tuple[str, str, int]] = set()  # (database, election, city index)
# The next slot this process expects to be free per city: a hint (a wrong one costs one
# failed insert), so a quiet city's reports need no slot read at all.
_FRONTIER: dict[tuple[str, str, int], int] = {}
MAX_CITIES_REMEMBERED = 10_000


def _remember_frontier(city: tuple[str, str, int], slot: int) -> None:
    if city not in _FRONTIER and len(_FRONTIER) >= MAX_CITIES_REMEMBERED:
        _FRONTIER.pop(next(iter(_FRONTIER)))
    _FRONTIER[city] = max(slot, _FRONTIER.get(city, 0))


class BoxSlots:
    def __init__(self, repo: ElectionRepository) -> None:
        self.repo = repo

    async def store(self, election: Doc, doc: Doc) -> bool:
        """Store `doc` (a plain report); False if its report_id is already stored (a resend:
        the caller answers it). Raises box-already-reported, city-fully-reported."""
        eid, box, ci = doc["election_id"], doc["ballot_box_id"], doc["city_index"]
        rid = doc["report_id"]
        expected = int(election["cities"][ci]["ballot_boxes"])
        doc["original_box"] = box
        # A resend is answered before any slot is looked for (a full city still acks it);
        # the box's own rule is left to its unique index (read only when an insert fails).
        if await self.repo.report(eid, rid) is not None:
            return False
        city = (self.repo.reports.database.name, eid, ci)
        slot = _FRONTIER.get(city)
        if slot is None:
            slot = await self.repo.highest_slot(eid, ci) + 1
        for attempt in range(1, MAX_ATTEMPTS + 1):
            if slot >= expected:
                free = await self._free_slot(eid, ci, expected)
                if free is None:  # full: unless this very report or box got in meanwhile
                    if not await self._may_store(eid, box, rid):
                        return False
                    metrics.business("election_report", "city-fully-reported")
                    raise Conflict(
                        f"all {expected} ballot boxes of {doc['city']!r} have reported",
                        type="city-fully-reported",
                    )
                slot = free
            doc["slot"] = slot
            outcome = await self.repo.insert_report(doc)
            if outcome == STORED:
                _remember_frontier(city, slot + 1)
                return True
            if outcome != SLOT_TAKEN:  # the report id or the box: which, and whose?
                if not await self._may_store(eid, box, rid):
                    return False
                continue
            frontier = await self.repo.highest_slot(eid, ci) + 1
            _remember_frontier(city, frontier)
            slot = max(slot + 1, frontier) + random.randrange(min(attempt, 8))
        raise RuntimeError(f"no city slot for report {rid} after {MAX_ATTEMPTS} attempts")

    async def reserve(self, election: Doc, ci: int, n: int) -> list[int]:
        """Up to `n` slots of city `ci` for a batch of plain reports (batching.py): the next
        ones above the highest taken (a hint, like `store`'s: an insert may still find one
        taken, and that report then goes through `store`). Fewer near the top of the city:
        the rest go through `store` too (the free slots below, or city-fully-reported)."""
        eid = str(election["_id"])
        city = (self.repo.reports.database.name, eid, ci)
        if city in _FULL_CITIES:
            return []
        slot = _FRONTIER.get(city)
        if slot is None:
            slot = await self.repo.highest_slot(eid, ci) + 1
        slots = list(range(slot, min(int(election["cities"][ci]["ballot_boxes"]), slot + n)))
        if slots:
            _remember_frontier(city, slots[-1] + 1)
        return slots

    def forget(self, election: Doc, ci: int) -> None:
        """A reserved slot was taken by another process: read the city's frontier again."""
        _FRONTIER.pop((self.repo.reports.database.name, str(election["_id"]), ci), None)

    async def _may_store(self, eid: str, box: str, report_id: str) -> bool:
        """False: this report is stored already; raises if the box has another report."""
        if await self.repo.report(eid, report_id) is not None:
            return False
        original = await self.repo.original_of_box(eid, box)
        if original is None:
            return True
        if original["report_id"] == report_id:
            return False  # stored between the two reads
        metrics.business("election_report", "box-already-reported")
        raise Conflict(
            f"ballot box {box!r} has already reported: send a correction "
            "(`corrects`: its report_id) to change its counts",
            type="box-already-reported",
        )

    async def _free_slot(self, eid: str, ci: int, expected: int) -> int | None:
        """A free slot below `expected` (a random one of the first few), None: the city is
        full (remembered: slots are never released)."""
        key = (self.repo.reports.database.name, eid, ci)
        if key in _FULL_CITIES:
            return None
        free: list[int] = []
        nxt = 0
        async for taken in self.repo.taken_slots(eid, ci):
            free.extend(range(nxt, min(taken, expected)))
            nxt = taken + 1
            if len(free) >= 64:
                break
        else:
            free.extend(range(nxt, min(expected, nxt + 64)))
        if not free:
            _FULL_CITIES.add(key)
            return None
        return random.choice(free)
