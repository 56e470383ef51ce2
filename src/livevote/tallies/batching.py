"""Ballot reports written in batches: the flush of the `ballot_reports` group commit
(infra/groupcommit.py), keyed by the election. The concurrent plain reports of an election
(one process) are stored and applied together, by the same steps as one report (service.py):

1. resends: one read of the batch's report ids; a stored one is answered as a resend (the
   same answer, or 409 report-id-reused), alone;
2. store: each report takes a slot of its city (boxes.BoxSlots.reserve: from this process's
   block of the city's slots) and the batch goes in with ONE insert_many(ordered=False). A
   report the unique indexes refuse (its box has a report: 409 box-already-reported; a
   slot taken without the allocator; a report id twice in the batch) and a report beyond its
   city's allocator (the free slots below, 409 city-fully-reported) fails alone: it goes through the
   one-report path (service.store_plain) after the batch, which answers it;
3. city totals: ONE check-and-set per shard touched (per ~50 boxes: an NX-27017 limit):
   every box of the batch in that shard is counted and marked together, only while none of
   them is marked. A shard where that does not match (a worker or a resend marked one of
   them meanwhile) is applied box by box (service.add_first: a box already marked is left
   alone), so nothing counts twice;
4. audit: ONE insert_many of every entry of the batch; mark applied: ONE update_many;
   ONE bump of the read cache's change counter.

The crash points are those of one report (after_store, after_city_totals, after_audit,
before_mark_applied): a crash fails every report of its batch (each request answers 500,
the outcome unknown) and leaves them pending, exactly where the one-report path would, so a
resend or the pending-report worker finishes each of them, exactly once. Corrections are
rare and chain through their predecessor: they stay on the one-report path.

Cost per batch: 1 read + 1 insert + one write per shard touched + 1 insert + 1 update, and
one `$inc` of a city's slot allocator per BLOCK (32) of its reports in this process; a lone
report still costs about what it cost before, a busy election's reports share their writes.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

from livevote.infra import metrics
from livevote.infra.mongo import Doc
from livevote.tallies.keys import epoch_ms
from livevote.tallies.repository import SLOT_TAKEN, STORED
from livevote.tallies.service import ElectionService, PlainReport, audit_entries, counts_of

Result = tuple[str, str] | BaseException
MAX_UPDATE_PATHS = 56  # paths one update may touch on NX-27017 (see `apply`), with a margin


class ReportBatches:
    """`flush(election_id, reports)` for GroupCommit; the service gives the rules."""

    def __init__(self, service: ElectionService) -> None:
        self.service = service

    async def flush(self, election_id: str, items: list[PlainReport]) -> list[Result]:
        svc, repo = self.service, self.service.repo
        election = items[0].election
        results: list[Result | None] = [None] * len(items)
        ids = [it.doc["report_id"] for it in items]
        stored_before = {r["report_id"]: r for r in await repo.reports_by_id(election_id, ids)}
        alone: list[int] = []  # the one-report path, after the batch
        fresh: dict[int, list[int]] = defaultdict(list)  # city index -> items
        seen: set[str] = set()
        for i, it in enumerate(items):
            rid = it.doc["report_id"]
            if rid in stored_before:
                results[i] = _settle(it.doc, stored_before[rid])
            elif rid in seen:
                alone.append(i)
            else:
                seen.add(rid)
                fresh[int(it.doc["city_index"])].append(i)
        batch: list[int] = []
        for ci, members in fresh.items():
            slots = await svc.boxes.reserve(election, ci, len(members))
            for i, slot in zip(members, slots, strict=False):
                items[i].doc["original_box"] = items[i].doc["ballot_box_id"]
                items[i].doc["slot"] = slot
                batch.append(i)
            alone.extend(members[len(slots) :])
        outcomes = await repo.insert_reports([items[i].doc for i in batch]) if batch else []
        stored = []
        crowded: set[int] = set()  # cities where a handed-out slot was taken anyway
        for i, outcome in zip(batch, outcomes, strict=True):
            if outcome == STORED:
                stored.append(i)
                continue
            if outcome == SLOT_TAKEN:
                crowded.add(int(items[i].doc["city_index"]))
            alone.append(i)
        for ci in crowded:
            await svc.boxes.forget(election, ci)
        if stored:
            svc.hooks.reached("after_store")
            await self.apply(election, [items[i].doc for i in stored])
            for i in stored:
                results[i] = (items[i].doc["report_id"], "applied")
                metrics.business("election_report", "applied")
        for i in sorted(alone):
            doc = items[i].doc
            for field in ("_id", "slot", "original_box"):
                doc.pop(field, None)
            try:
                results[i] = await svc.store_plain(election, doc)
            except Exception as exc:  # this report's own answer (a 409, a crash point)
                results[i] = exc
        return [r if r is not None else RuntimeError("report left unanswered") for r in results]

    async def apply(self, election: Doc, reports: list[Doc]) -> None:
        """Steps 2-4 for stored plain reports, with one write per shard (module docstring)."""
        svc = self.service
        by_shard: dict[str, list[Doc]] = defaultdict(list)
        for report in reports:
            by_shard[report["shard_id"]].append(report)
        by_report = {r["report_id"]: counts_of(election, r) for r in reports}

        # NX-27017 drops the `$inc` of an update that sets more than ~63 paths (measured: 62
        # box markers + 2 fields counted reported_boxes but not the votes), so one write
        # carries at most `per_write` boxes: with the party counters, well under that.
        per_write = max(1, MAX_UPDATE_PATHS - len(election["parties"]) - 3)

        async def shard_step(shard: str, members: list[Doc]) -> None:
            ci = int(members[0]["city_index"])
            boxes = [
                (r["ballot_box_id"], r["report_id"], by_report[r["report_id"]]) for r in members
            ]
            for at in range(0, len(boxes), per_write):
                part = boxes[at : at + per_write]
                if not await svc.repo.add_first_reports_of_boxes(shard, ci, part):
                    for box, rid, counts in part:
                        await svc.add_first(shard, ci, box, rid, counts)

        await asyncio.gather(*(shard_step(s, m) for s, m in by_shard.items()))
        svc.hooks.reached("after_city_totals")
        await svc.repo.add_audit_entries(
            [e for r in reports for e in audit_entries(election, r, by_report[r["report_id"]], {})]
        )
        svc.hooks.reached("after_audit")
        svc.hooks.reached("before_mark_applied")
        await svc.repo.mark_applied_many([r["_id"] for r in reports], epoch_ms(svc.clock()))
        await svc.cache.bump(str(election["_id"]))


def _settle(doc: Doc, existing: Doc) -> Result:
    try:
        return ElectionService.answer_resend(doc, existing)
    except Exception as exc:  # 409 report-id-reused
        return exc
