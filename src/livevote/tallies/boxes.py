"""Storing a box's plain report: one report per ballot box, and a city never counts more
boxes than it expects. Both hold in the report's one insert (nothing is half-written):

- `original_box` (unique per election: election_reports.one_report_per_box): a second plain
  report of the box is refused (409 box-already-reported; a correction changes its counts);
- `slot` (unique per city: one_box_per_city_slot), a number below the city's ballot boxes:
  a city holds at most that many plain reports. A full city answers 409 city-fully-reported.

Slots come from a per-city allocator (election_slot_blocks, one `$inc`): a process takes a
block of BLOCK consecutive slots at once and hands them to its reports, so two processes
never aim at the same slot (before: both took "the next above the highest", and under load
every batch of one process collided with the other's, each collision sending its reports
down the one-by-one path). A block cut short by a restart leaves gaps; once the allocator
reaches the city's size, the free slots below are found by walking the city's slots (once
per report at the end of the night, not per report before). A slot found taken anyway (a
report stored by older code, or by that walk) drops the process's block and moves the
allocator past the highest taken slot. A full city is a permanent fact (slots are never
released), remembered per process so refusals cost nothing.
"""

from __future__ import annotations

import random

from livevote.errors import Conflict
from livevote.infra import metrics
from livevote.infra.mongo import Doc
from livevote.tallies.repository import SLOT_TAKEN, STORED, ElectionRepository

MAX_ATTEMPTS = 200
BLOCK = 32  # slots a process takes from a city's allocator at once (fewer in a small city)
City = tuple[str, str, int]  # (database, election, city index)
_FULL_CITIES: set[City] = set()
# The blocks of slots this process holds per city: [next, end), below the city's size.
_BLOCKS: dict[City, list[list[int]]] = {}
MAX_CITIES_REMEMBERED = 10_000


class BoxSlots:
    """`blocks`: the blocks this process holds (the module's; a test passes its own to play
    a second process)."""

    def __init__(
        self, repo: ElectionRepository, blocks: dict[City, list[list[int]]] | None = None
    ) -> None:
        self.repo = repo
        self.blocks = _BLOCKS if blocks is None else blocks

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
        slot = await self._one_slot(election, ci, expected)
        for _ in range(MAX_ATTEMPTS):
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
                return True
            if outcome != SLOT_TAKEN:  # the report id or the box: which, and whose?
                if not await self._may_store(eid, box, rid):
                    return False
                continue
            await self.forget(election, ci)
            slot = await self._one_slot(election, ci, expected)
        raise RuntimeError(f"no city slot for report {rid} after {MAX_ATTEMPTS} attempts")

    async def _one_slot(self, election: Doc, ci: int, expected: int) -> int:
        slots = await self.reserve(election, ci, 1)
        return slots[0] if slots else expected

    async def reserve(self, election: Doc, ci: int, n: int) -> list[int]:
        """Up to `n` slots of city `ci` that no process was handed before (from this
        process's block, and new blocks from the city's allocator): for a batch of plain
        reports (batching.py) and for `store`. Fewer once the allocator reaches the city's
        size: the rest go through `store` (the free slots below, or city-fully-reported).
        An insert may still find one taken (module docstring): that report goes through
        `store`, and the caller `forget`s the block."""
        eid = str(election["_id"])
        city = (self.repo.reports.database.name, eid, ci)
        if city in _FULL_CITIES:
            return []
        expected = int(election["cities"][ci]["ballot_boxes"])
        if city not in self.blocks and len(self.blocks) >= MAX_CITIES_REMEMBERED:
            self.blocks.pop(next(iter(self.blocks)))
        # concurrent reserves of the city may each take a block: every block is kept
        held = self.blocks.setdefault(city, [])
        slots: list[int] = []
        allocator_full = False
        while len(slots) < n:
            while held and held[0][0] >= held[0][1]:
                held.pop(0)
            if not held:
                if allocator_full:
                    break
                size = max(BLOCK, n - len(slots))
                first = await self.repo.take_slot_block(eid, ci, size)
                if first >= expected:  # (another reserve may have left slots in `held`)
                    allocator_full = True
                else:
                    held.append([first, min(first + size, expected)])
                continue
            block = held[0]
            take = min(n - len(slots), block[1] - block[0])
            slots.extend(range(block[0], block[0] + take))
            block[0] += take
        return slots

    async def forget(self, election: Doc, ci: int) -> None:
        """A slot handed out here was taken by a report stored without the allocator: drop
        this process's block and move the allocator past the highest taken slot."""
        eid = str(election["_id"])
        self.blocks.pop((self.repo.reports.database.name, eid, ci), None)
        await self.repo.skip_slot_blocks(eid, ci, await self.repo.highest_slot(eid, ci) + 1)

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
