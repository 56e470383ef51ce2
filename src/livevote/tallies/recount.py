"""Recount: rebuild every total of an election from its stored reports, compare, and (with
`--fix`) repair the counter shards. `livevote recount elections [--id ID] [--fix] [--json]`.

Expected state, computed only from `election_reports` and the markers in the shards:
- the reports that count are the applied ones, plus pending ones whose marker is already in
  their shard (caught mid-apply: the worker will finish them — reported as `in_flight`);
- a report superseded by a counted correction contributes nothing (its correction replaces
  it), every other counted report contributes its votes;
- reported_boxes = the boxes with at least one counted original report.
Compared per city with the shards (counters and markers) and with the audit log (one entry
per party of every applied report; Σ audit deltas = totals).

Reading order makes the snapshot coherent without a transaction: reports are read before the
shards, and a report is stored before its marker is set and marked applied after it; a marker
whose report was stored after the first read is looked up by id.

`--fix` rewrites each differing shard (counters, reported_boxes, the markers of applied
reports, unknown markers removed) with a check-and-set on the counters as read
(repository.rewrite_shard): a report applied meanwhile makes the write match nothing, and the
recount runs again (up to FIX_ATTEMPTS times) instead of overwriting its votes. The audit log
is append-only: a difference there is reported, never rewritten.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from bson import ObjectId

from livevote.errors import BadRequest, NotFound
from livevote.infra.mongo import Doc
from livevote.infra.recount import Difference, RecountReport, add_recount_command
from livevote.tallies.keys import party_key
from livevote.tallies.repository import CORRECTION, ORIGINAL, ElectionRepository

FIX_ATTEMPTS = 3


@dataclass
class ShardFix:
    """What one shard should hold, and the shard as read (the check-and-set condition)."""

    seen: Doc
    votes: dict[str, int]
    reported_boxes: int
    add_markers: dict[tuple[str, str], int]
    drop_markers: list[tuple[str, str]]


@dataclass
class ElectionCheck:
    election_id: str
    reports: int = 0
    applied: int = 0
    pending: int = 0
    in_flight: list[str] = field(default_factory=list)
    votes: dict[str, int] = field(default_factory=dict)  # national, rebuilt from reports
    reported_boxes: int = 0
    differences: list[Difference] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # marker and audit-entry problems
    texts: list[str] = field(default_factory=list)  # one line per difference or problem
    fixes: list[ShardFix] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.texts

    def differ(self, difference: Difference, text: str) -> None:
        self.differences.append(difference)
        self.texts.append(text)

    def problem(self, text: str) -> None:
        self.problems.append(text)
        self.texts.append(text)

    def report(self) -> RecountReport:
        summary = f"{self.applied} applied, {self.pending} pending report(s)"
        if self.in_flight:
            summary += f", {len(self.in_flight)} mid-apply (the worker finishes them)"
        return RecountReport(
            domain="elections",
            id=self.election_id,
            consistent=self.ok,
            differences=list(self.differences),
            notes=[*self.problems, summary],
        )


async def check(repo: ElectionRepository, election: Doc) -> ElectionCheck:
    """Rebuild the election's totals from its reports and compare (reads only)."""
    eid = str(election["_id"])
    parties = election["parties"]
    pkey = {p: party_key(i) for i, p in enumerate(parties)}
    keys = list(pkey.values())
    reports = await repo.all_reports(eid)
    shards = await repo.shards_with_markers(eid)
    marked: dict[str, tuple[str, str]] = {}  # report id -> (shard id, box)
    for shard in shards:
        for box, markers in (shard.get("boxes") or {}).items():
            for rid in markers:
                marked[rid] = (shard["_id"], box)
    by_id = {r["report_id"]: r for r in reports}
    late = [rid for rid in marked if rid not in by_id]
    if late:  # stored after the first read, marked before the second
        for r in await repo.reports_by_id(eid, late):
            by_id[r["report_id"]] = r
    result = ElectionCheck(eid, reports=len(by_id))

    counted = [r for r in by_id.values() if r["status"] == "applied" or r["report_id"] in marked]
    applied_ids = {r["report_id"] for r in counted if r["status"] == "applied"}
    result.applied = len(applied_ids)
    result.pending = sum(1 for r in by_id.values() if r["status"] != "applied")
    result.in_flight = [r["report_id"] for r in counted if r["status"] != "applied"]
    add_markers: dict[str, dict[tuple[str, str], int]] = defaultdict(dict)
    drop_markers: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for r in counted:
        if r["report_id"] not in marked:
            result.problem(f"report {r['report_id']} is applied but missing from the totals")
            kind = CORRECTION if r.get("supersedes") else ORIGINAL
            add_markers[r["shard_id"]][(r["ballot_box_id"], r["report_id"])] = kind
    for rid in sorted(set(marked) - set(by_id)):
        result.problem(f"totals carry a marker for unknown report {rid}")
        sid, box = marked[rid]
        drop_markers[sid].append((box, rid))

    superseded = {r["supersedes"] for r in counted if r.get("supersedes")}
    want: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(keys, 0))
    want_boxes: dict[str, set[str]] = defaultdict(set)
    city_of_shard: dict[str, int] = {s["_id"]: int(s["city_index"]) for s in shards}
    for r in counted:
        city_of_shard.setdefault(r["shard_id"], int(r["city_index"]))
        if not r.get("supersedes"):
            want_boxes[r["shard_id"]].add(r["ballot_box_id"])
        if r["report_id"] in superseded:
            continue
        for party, n in r["votes"]:
            want[r["shard_id"]][pkey[party]] += int(n)

    n_cities = len(election["cities"])
    expected = [dict.fromkeys(keys, 0) for _ in range(n_cities)]
    actual = [dict.fromkeys(keys, 0) for _ in range(n_cities)]
    boxes, actual_boxes = [0] * n_cities, [0] * n_cities
    for sid, counts in want.items():
        for k, n in counts.items():
            expected[city_of_shard[sid]][k] += n
    for sid, box_set in want_boxes.items():
        boxes[city_of_shard[sid]] += len(box_set)
    for shard in shards:
        ci, sid, stored = int(shard["city_index"]), shard["_id"], shard.get("votes") or {}
        for k, n in stored.items():
            if k in actual[ci]:
                actual[ci][k] += int(n)
        actual_boxes[ci] += int(shard.get("reported_boxes", 0))
        counts, n_boxes = want.get(sid, dict.fromkeys(keys, 0)), len(want_boxes.get(sid, ()))
        if (
            any(int(stored.get(k, 0)) != counts[k] for k in keys)
            or set(stored) - set(keys)
            or int(shard.get("reported_boxes", 0)) != n_boxes
            or sid in add_markers
            or sid in drop_markers
        ):
            result.fixes.append(
                ShardFix(shard, counts, n_boxes, add_markers[sid], drop_markers[sid])
            )

    audit = [dict.fromkeys(keys, 0) for _ in range(n_cities)]
    entries_per_report: dict[str, int] = defaultdict(int)
    city_index = {c["name"]: i for i, c in enumerate(election["cities"])}
    for e in await repo.audit_entries(eid):
        entries_per_report[e["report_id"]] += 1
        if e["report_id"] in applied_ids:
            audit[city_index[e["city"]]][pkey[e["party"]]] += int(e["delta"])

    for ci, city in enumerate(election["cities"]):
        name = city["name"]
        for p in parties:
            k = pkey[p]
            w, have = expected[ci][k], actual[ci][k]
            if w != have:
                result.differ(
                    Difference(f"{name}/{p}", {"votes": have}, {"votes": w}),
                    f"{name}/{p}: totals {have}, reports say {w}",
                )
            if not result.in_flight and audit[ci][k] != w:
                result.differ(
                    Difference(f"{name}/{p} audit log", {"votes": audit[ci][k]}, {"votes": w}),
                    f"{name}/{p}: audit log sums to {audit[ci][k]}, not {w}",
                )
        if boxes[ci] != actual_boxes[ci]:
            result.differ(
                Difference(
                    f"{name} boxes reported",
                    {"reported_boxes": actual_boxes[ci]},
                    {"reported_boxes": boxes[ci]},
                ),
                f"{name}: reported_boxes {actual_boxes[ci]}, reports say {boxes[ci]}",
            )
    for rid in sorted(applied_ids):
        if entries_per_report[rid] == 0:
            result.problem(f"report {rid} is applied but has no audit entries")

    result.votes = {p: sum(expected[ci][pkey[p]] for ci in range(n_cities)) for p in parties}
    result.reported_boxes = sum(boxes)
    return result


async def repair(repo: ElectionRepository, election: Doc, found: ElectionCheck) -> RecountReport:
    """Rewrite the differing shards (check-and-set), recount, and again while reports being
    applied meanwhile make a write miss. The report lists what was found."""
    report = found.report()
    current = found
    for _ in range(FIX_ATTEMPTS):
        if current.ok or not current.fixes:
            break
        keys = [party_key(i) for i in range(len(election["parties"]))]
        for fix in current.fixes:
            await repo.rewrite_shard(
                fix.seen,
                keys,
                votes=fix.votes,
                reported_boxes=fix.reported_boxes,
                add_markers=fix.add_markers,
                drop_markers=fix.drop_markers,
            )
        current = await check(repo, election)
    report.fixed = current.ok and not found.ok
    if current.fixes and not current.ok:
        report.notes.append(
            f"not fixed: the totals changed during each of {FIX_ATTEMPTS} attempts "
            "(reports being applied); run the recount again"
        )
    elif not current.ok:
        report.notes += [f"not fixed by --fix: {text}" for text in current.texts]
    return report


async def recount(db: Any, *, scope_id: str | None, fix: bool) -> list[RecountReport]:
    """The recount contract (infra/recount.py): one report per election."""
    repo = ElectionRepository(db)
    if scope_id is not None and not ObjectId.is_valid(scope_id):
        raise BadRequest(f"{scope_id!r} is not an election id")
    ids = [ObjectId(scope_id)] if scope_id is not None else await repo.election_ids()
    reports = []
    for oid in ids:
        election = await repo.election(oid)
        if election is None:
            raise NotFound(f"election {oid} not found")
        found = await check(repo, election)
        reports.append(await repair(repo, election, found) if fix else found.report())
    return reports


def add_recount(domains: Any) -> None:
    """Register `livevote recount elections` (src/livevote/commands.py calls this)."""
    add_recount_command(
        domains, "elections", "recount election totals from the stored reports", recount
    )
