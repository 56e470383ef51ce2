"""Recount: rebuild every total of an election from its stored reports and compare.

Expected state, computed only from `election_reports`:
- the reports that count are the applied ones, plus pending ones whose marker is already in
  their shard (caught mid-apply: the worker will finish them — reported as `in_flight`);
- a report superseded by a counted correction contributes nothing (its correction replaces
  it), every other counted report contributes its votes;
- reported_boxes of a city = the boxes with at least one counted original report.
Compared with the shards (counters and markers) and with the audit log (one entry per
party of every applied report; Σ audit deltas = totals). Any difference is listed.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from bson import ObjectId

from livevote.infra.mongo import Doc
from livevote.tallies.repository import ElectionRepository
from livevote.tallies.service import party_key


async def recount(repo: ElectionRepository, election: Doc) -> dict[str, Any]:
    eid = str(election["_id"])
    parties = election["parties"]
    pkey = {p: party_key(i) for i, p in enumerate(parties)}
    reports = await repo.all_reports(eid)
    shards = await repo.shards_with_markers(eid)
    marked: set[str] = set()
    for shard in shards:
        for box_markers in (shard.get("boxes") or {}).values():
            marked.update(box_markers)
    diffs: list[str] = []
    counted = [r for r in reports if r["status"] == "applied" or r["report_id"] in marked]
    in_flight = [r["report_id"] for r in counted if r["status"] != "applied"]
    known = {r["report_id"] for r in reports}
    for r in reports:
        if r["status"] == "applied" and r["report_id"] not in marked:
            diffs.append(f"report {r['report_id']} is applied but missing from the totals")
    for rid in sorted(marked - known):
        diffs.append(f"totals carry a marker for unknown report {rid}")

    superseded = {r["supersedes"] for r in counted if r.get("supersedes")}
    expected: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    boxes: dict[int, set[str]] = defaultdict(set)
    for r in counted:
        ci = int(r["city_index"])
        if not r.get("supersedes"):
            boxes[ci].add(r["ballot_box_id"])
        if r["report_id"] in superseded:
            continue
        for party, n in r["votes"]:
            expected[ci][pkey[party]] += int(n)

    actual: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    actual_boxes: dict[int, int] = defaultdict(int)
    for shard in shards:
        ci = int(shard["city_index"])
        for k, n in (shard.get("votes") or {}).items():
            actual[ci][k] += int(n)
        actual_boxes[ci] += int(shard.get("reported_boxes", 0))

    audit: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    entries_per_report: dict[str, int] = defaultdict(int)
    city_of = {c["name"]: i for i, c in enumerate(election["cities"])}
    applied_ids = {r["report_id"] for r in counted if r["status"] == "applied"}
    for e in await repo.audit_entries(eid):
        entries_per_report[e["report_id"]] += 1
        if e["report_id"] in applied_ids:
            audit[city_of[e["city"]]][pkey[e["party"]]] += int(e["delta"])

    for ci, city in enumerate(election["cities"]):
        for p in parties:
            k = pkey[p]
            want, have = expected[ci][k], actual[ci][k]
            if want != have:
                diffs.append(f"{city['name']}/{p}: totals {have}, reports say {want}")
            if not in_flight and audit[ci][k] != want:
                diffs.append(f"{city['name']}/{p}: audit log sums to {audit[ci][k]}, not {want}")
        if len(boxes[ci]) != actual_boxes[ci]:
            diffs.append(
                f"{city['name']}: reported_boxes {actual_boxes[ci]}, reports say {len(boxes[ci])}"
            )
    for r in counted:
        if r["status"] == "applied" and entries_per_report[r["report_id"]] == 0:
            diffs.append(f"report {r['report_id']} is applied but has no audit entries")

    national = {p: sum(expected[ci][pkey[p]] for ci in expected) for p in parties}
    return {
        "election_id": eid,
        "ok": not diffs,
        "reports": len(reports),
        "applied": len(applied_ids),
        "pending": sum(1 for r in reports if r["status"] != "applied"),
        "in_flight": in_flight,
        "votes": national,
        "reported_boxes": sum(len(b) for b in boxes.values()),
        "differences": diffs,
    }


async def recount_elections(db: Any, election_id: str | None = None) -> list[dict[str, Any]]:
    repo = ElectionRepository(db)
    ids = [ObjectId(election_id)] if election_id else await repo.election_ids()
    results = []
    for oid in ids:
        election = await repo.election(oid)
        if election is None:
            results.append(
                {"election_id": str(oid), "ok": False, "differences": ["election not found"]}
            )
            continue
        results.append(await recount(repo, election))
    return results
