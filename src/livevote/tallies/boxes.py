"""Storing a box's plain report: one report per ballot box, and a city never counts more
boxes than it expects. Both hold in the report's one insert (nothing is half-written):

- `original_box` (unique per election: election_reports.one_report_per_box): a second plain
  report of the box is refused (409 box-already-reported; a correction changes its counts);
- `slot` (unique per city: one_box_per_city_slot), a number below the city's ballot boxes:
  a city holds at most that many plain reports. A full city answers 409 city-fully-reported.

Slots are taken above the highest taken one; a report that finds its slot taken by another
box jumps past the new highest, spread by a small random step so that concurrent reports of
one city stop aiming at the same number. The steps leave gaps: once the top is reached, the
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


class BoxSlots:
    def __init__(self, repo: ElectionRepository) -> None:
        self.repo = repo

    async def store(self, election: Doc, doc: Doc) -> bool:
        """Store `doc` (a plain report); False if its report_id is already stored (a resend:
        the caller answers it). Raises box-already-reported, city-fully-reported."""
        eid, box, ci = doc["election_id"], doc["ballot_box_id"], doc["city_index"]
        expected = int(election["cities"][ci]["ballot_boxes"])
        doc["original_box"] = box
        if not await self._may_store(eid, box, doc["report_id"]):
            return False
        slot = await self.repo.highest_slot(eid, ci) + 1
        for attempt in range(1, MAX_ATTEMPTS + 1):
            if slot >= expected:
                slot = await self._free_slot(eid, ci, expected, doc["city"])
            doc["slot"] = slot
            outcome = await self.repo.insert_report(doc)
            if outcome == STORED:
                return True
            if outcome != SLOT_TAKEN:  # the report id or the box: which, and whose?
                if not await self._may_store(eid, box, doc["report_id"]):
                    return False
                continue
            frontier = await self.repo.highest_slot(eid, ci) + 1
            slot = max(slot + 1, frontier) + random.randrange(min(attempt, 8))
        raise RuntimeError(f"no city slot for report {doc['report_id']} after {MAX_ATTEMPTS}")

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

    async def _free_slot(self, eid: str, ci: int, expected: int, city: str) -> int:
        key = (self.repo.reports.database.name, eid, ci)
        if key not in _FULL_CITIES:
            free: list[int] = []
            nxt = 0
            async for taken in self.repo.taken_slots(eid, ci):
                free.extend(range(nxt, min(taken, expected)))
                nxt = taken + 1
                if len(free) >= 64:
                    break
            else:
                free.extend(range(nxt, min(expected, nxt + 64)))
            if free:
                return random.choice(free)
            _FULL_CITIES.add(key)
        metrics.business("election_report", "city-fully-reported")
        raise Conflict(
            f"all {expected} ballot boxes of {city!r} have reported", type="city-fully-reported"
        )
