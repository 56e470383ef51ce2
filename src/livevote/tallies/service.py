"""Election rules and the exactly-once apply step.

Pipeline of a report (no transactions: NX-27017 has none, and we do not need them):

1. **store** — insert the raw report with status "pending". The unique index
   (election_id, report_id) is the idempotency key; the document keeps a sha256 of the
   canonical body, so a resend with the same body gets the same answer and changes nothing,
   and the same id with another body is a 409.
2. **city totals** — one `findOneAndUpdate` on the report's *shard* of the city totals:
   the filter only matches while the shard carries no marker for this report, and the same
   update `$inc`s the counters and `$set`s the marker `boxes.<box>.<report_id>`. Counter and
   marker change in one single-document atomic write, so running the step again (after a
   crash, by a second worker, by a resend) finds the marker and changes nothing.
3. **audit** — one entry per party, unique on (election_id, report_id, party): inserting
   them again only hits duplicate keys.
4. **mark applied** — status "applied" (check-and-set on status "pending").

Any step may be repeated any number of times, in any interleaving, without double counting;
so a crash anywhere between 1 and 4 only delays the report until the worker (worker.py)
re-runs the whole pipeline for reports pending longer than
`settings.pending_report_delay_seconds`. Leases (claim_pending) keep two workers off the
same report, but correctness does not depend on them.

Why markers live in shards, and why there is no national counter document:
- A marker per report must sit in the *same document* as the counters it guards — a
  separate step log written before the `$inc` loses the increment on a crash in between,
  written after it double-counts. An `applied: [report…]` array on one national document
  would grow with every report of the night (100k boxes → 100k entries, rewritten on each
  update), and `$ne` over arrays is unreliable on NX-27017 (measured: it matched an array
  that contained the value). So markers are nested *fields* (`boxes.<box>.<report>`, tested
  with `$exists`), and the totals of each city are split into shards by
  crc32(ballot_box_id) % ceil(ballot_boxes / BOXES_PER_SHARD): a shard holds the markers of
  at most ~500 boxes, and hot cities spread their writes over several documents.
- National totals are the **sum of the city shards** (a few hundred small documents, read
  with a projection without markers). A second counter with its own marker set would double
  the writes per report and could only ever equal that sum; deriving it makes "national =
  Σ cities" true by construction.
- reported_boxes is `$inc`ed by the same write that sets a box's first marker (filter: the
  box has no marker yet), so it counts boxes that reported at least once.

Corrections: a report with `supersedes: <earlier report_id of the same box>` replaces that
report. Its city step moves the counters by (new − old) and requires the old marker to be
present and its own absent; if the superseded report is still pending it is applied first.
A report can be superseded once (unique index on (election_id, supersedes)), so corrections
form a chain per box. The audit log keeps both reports; the old one gets `superseded_by`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import secrets
import zlib
from datetime import datetime

from bson import ObjectId

from livevote.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed
from livevote.infra import metrics
from livevote.infra.mongo import Doc
from livevote.infra.resources import Clock
from livevote.tallies.faults import FaultInjector
from livevote.tallies.repository import DuplicateKeyError, ElectionRepository

BOXES_PER_SHARD = 500
MAX_CORRECTION_CHAIN = 50


def epoch_ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def party_key(index: int) -> str:
    return f"p{index}"


def shard_id(election_id: str, city_index: int, bucket: int) -> str:
    return f"{election_id}:{city_index}:{bucket}"


def shard_of_box(election: Doc, city_index: int, box: str) -> str:
    shards = int(election["cities"][city_index]["shards"])
    return shard_id(str(election["_id"]), city_index, zlib.crc32(box.encode()) % shards)


def hash_key(key: str) -> str:
    # The key is 256 random bits: a fast hash is enough (nothing to brute-force).
    return hashlib.sha256(key.encode()).hexdigest()


# -- elections ---------------------------------------------------------------------------------
async def create_election(
    repo: ElectionRepository,
    *,
    name: str,
    parties: list[str],
    cities: list[tuple[str, int]],
    creator_id: str,
    clock: Clock,
) -> tuple[Doc, str]:
    """Create an election; returns it and the reporter key (shown once, stored hashed)."""
    if len(set(parties)) != len(parties):
        raise ValidationFailed("party names must be unique")
    if len({c for c, _ in cities}) != len(cities):
        raise ValidationFailed("city names must be unique")
    election_id = ObjectId()
    eid = str(election_id)
    key = secrets.token_urlsafe(32)
    city_docs: list[Doc] = [
        {"name": c, "ballot_boxes": n, "shards": max(1, math.ceil(n / BOXES_PER_SHARD))}
        for c, n in cities
    ]
    shards = [
        {
            "_id": shard_id(eid, ci, b),
            "election_id": eid,
            "city_index": ci,
            "bucket": b,
            "votes": {},
            "reported_boxes": 0,
            "boxes": {},
        }
        for ci, city in enumerate(city_docs)
        for b in range(int(city["shards"]))
    ]
    election = {
        "_id": election_id,
        "name": name,
        "parties": parties,
        "cities": city_docs,
        "expected_boxes": sum(n for _, n in cities),
        "creator_id": creator_id,
        "reporter_key_sha256": hash_key(key),
        "created_at": clock(),
    }
    await repo.create_election(election, shards)
    metrics.business("election_create")
    return election, key


async def get_election(repo: ElectionRepository, election_id: ObjectId) -> Doc:
    election = await repo.election(election_id)
    if election is None:
        raise NotFound(f"election {election_id} not found")
    return election


def require_creator(election: Doc, user_id: str) -> None:
    if election["creator_id"] != user_id:
        raise Forbidden("only the creator of this election may do this")


def check_reporter_key(election: Doc, key: str | None) -> None:
    if not key:
        raise Unauthorized("the X-Reporter-Key header is required", headers={})
    if not hmac.compare_digest(hash_key(key), election["reporter_key_sha256"]):
        raise Unauthorized("wrong reporter key", type="invalid-reporter-key", headers={})


def city_index(election: Doc, city: str) -> int:
    for i, c in enumerate(election["cities"]):
        if c["name"] == city:
            return i
    raise ValidationFailed(f"unknown city {city!r}", type="unknown-city")


# -- reports -----------------------------------------------------------------------------------
def canonical_hash(box: str, city: str, votes: dict[str, int], supersedes: str | None) -> str:
    body = {"ballot_box_id": box, "city": city, "votes": votes, "supersedes": supersedes}
    raw = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()


async def submit_report(
    repo: ElectionRepository,
    faults: FaultInjector,
    *,
    election: Doc,
    report_id: str,
    ballot_box_id: str,
    city: str,
    votes: dict[str, int],
    supersedes: str | None,
    clock: Clock,
    hold_seconds: float,
) -> tuple[str, str]:
    """Store the report, then apply it. Returns (report_id, status)."""
    ci = city_index(election, city)
    unknown = sorted(set(votes) - set(election["parties"]))
    if unknown:
        raise ValidationFailed(f"unknown party {unknown[0]!r}", type="unknown-party")
    eid = str(election["_id"])
    if supersedes is not None:
        await _check_supersedable(repo, eid, report_id, ballot_box_id, city, supersedes)
    now = clock()
    received_ms = epoch_ms(now)
    doc: Doc = {
        "election_id": eid,
        "report_id": report_id,
        "ballot_box_id": ballot_box_id,
        "city": city,
        "city_index": ci,
        "shard_id": shard_of_box(election, ci, ballot_box_id),
        # A list, not a mapping: party names may contain "." which MongoDB keys may not.
        "votes": [[p, votes[p]] for p in election["parties"] if p in votes],
        "body_sha256": canonical_hash(ballot_box_id, city, votes, supersedes),
        "kind": "correction" if supersedes else "report",
        "status": "pending",
        "received_at": now,
        "received_ms": received_ms,
        # The request that stored it owns it until then; afterwards the worker may take it.
        "lease_until_ms": received_ms + int(hold_seconds * 1000),
        "attempts": 0,
    }
    if supersedes is not None:
        doc["supersedes"] = supersedes
    try:
        await repo.insert_report(doc)
    except DuplicateKeyError:
        return await _answer_duplicate(repo, doc)
    faults.reached("after_store")
    await apply_report(repo, faults, election=election, report=doc, clock=clock)
    metrics.business("election_report", "applied")
    return report_id, "applied"


async def _check_supersedable(
    repo: ElectionRepository, eid: str, report_id: str, box: str, city: str, supersedes: str
) -> None:
    if supersedes == report_id:
        raise ValidationFailed("a report cannot supersede itself", type="bad-correction")
    old = await repo.report(eid, supersedes)
    if old is None:
        raise ValidationFailed(
            f"report {supersedes!r} to supersede not found", type="bad-correction"
        )
    if old["ballot_box_id"] != box or old["city"] != city:
        raise ValidationFailed(
            "a correction must come from the same ballot box and city", type="bad-correction"
        )


async def _answer_duplicate(repo: ElectionRepository, doc: Doc) -> tuple[str, str]:
    existing = await repo.report(doc["election_id"], doc["report_id"])
    if existing is None:  # the other unique index: (election_id, supersedes)
        metrics.business("election_report", "already-superseded")
        raise Conflict(
            f"report {doc.get('supersedes')!r} was already superseded by another correction",
            type="already-superseded",
        )
    if existing["body_sha256"] != doc["body_sha256"]:
        metrics.business("election_report", "id-reused")
        raise Conflict(
            f"report_id {doc['report_id']!r} was already used with another body",
            type="report-id-reused",
        )
    metrics.business("election_report", "duplicate")
    return existing["report_id"], existing["status"]


def _counts(election: Doc, report: Doc) -> dict[str, int]:
    index = {p: i for i, p in enumerate(election["parties"])}
    return {party_key(index[p]): int(n) for p, n in report["votes"]}


async def apply_report(
    repo: ElectionRepository,
    faults: FaultInjector,
    *,
    election: Doc,
    report: Doc,
    clock: Clock,
    depth: int = 0,
) -> None:
    """Run steps 2-4 for a stored report. Safe to repeat at any time (see module docstring)."""
    eid, rid, box = report["election_id"], report["report_id"], report["ballot_box_id"]
    shard = report["shard_id"]
    counts = _counts(election, report)
    old_id = report.get("supersedes")
    old_counts: dict[str, int] = {}
    if old_id is not None:
        old = await repo.report(eid, old_id)
        if old is None:
            raise RuntimeError(f"superseded report {old_id} of {rid} vanished")
        if old["status"] != "applied":
            if depth >= MAX_CORRECTION_CHAIN:
                raise RuntimeError(f"correction chain too long at {rid}")
            await apply_report(
                repo, faults, election=election, report=old, clock=clock, depth=depth + 1
            )
        old_counts = _counts(election, old)
        delta = {
            k: counts.get(k, 0) - old_counts.get(k, 0)
            for k in sorted(set(counts) | set(old_counts))
        }
        inc = {f"votes.{k}": d for k, d in delta.items() if d}
        if not await repo.replace_report_of_box(shard, box, old_id, rid, inc):
            if not await repo.has_marker(shard, box, rid):
                raise RuntimeError(f"correction {rid}: superseded report {old_id} not in totals")
    else:
        inc = {f"votes.{k}": n for k, n in counts.items() if n}
        await _add_batch(repo, shard, box, rid, inc)
    faults.reached("after_city_totals")

    await repo.add_audit_entries(_audit_entries(election, report, counts, old_counts))
    faults.reached("after_audit")

    if old_id is not None:
        await repo.link_superseded(eid, old_id, rid)
    faults.reached("before_mark_applied")
    await repo.mark_applied(report["_id"], epoch_ms(clock()))


async def _add_batch(
    repo: ElectionRepository, shard: str, box: str, rid: str, inc: dict[str, int]
) -> None:
    for _ in range(5):
        if await repo.add_first_report_of_box(shard, box, rid, inc):
            return
        if await repo.add_further_report_of_box(shard, box, rid, inc):
            return
        marked = await repo.has_marker(shard, box, rid)
        if marked is None:
            raise RuntimeError(f"totals shard {shard} missing")
        if marked:
            return  # applied before: nothing to do
        # else the box's first marker appeared between our two attempts: go round again
    raise RuntimeError(f"could not apply report {rid} to {shard}")


def _audit_entries(
    election: Doc, report: Doc, counts: dict[str, int], old_counts: dict[str, int]
) -> list[Doc]:
    at = report["received_at"]
    entries = []
    for i, party in enumerate(election["parties"]):
        k = party_key(i)
        if k not in counts and k not in old_counts:
            continue
        entries.append(
            {
                "election_id": report["election_id"],
                "report_id": report["report_id"],
                "ballot_box_id": report["ballot_box_id"],
                "city": report["city"],
                "party": party,
                "votes": counts.get(k, 0),
                "delta": counts.get(k, 0) - old_counts.get(k, 0),
                "kind": report["kind"],
                "supersedes": report.get("supersedes"),
                "at": at,
                "at_ms": report["received_ms"],
            }
        )
    return entries
