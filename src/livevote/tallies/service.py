"""Election rules and the exactly-once apply step.

Pipeline of a report (no transactions: NX-27017 has none, and we do not need them):

1. **store** — insert the raw report with status "pending". The unique index
   (election_id, report_id) is the idempotency key; the document keeps a sha256 of the
   canonical body, so a resend with the same body gets the same answer and changes nothing,
   and the same id with another body is a 409. A plain report also takes its box
   (`original_box`, unique: a second plain report of the box is a 409 box-already-reported)
   and a slot of its city (`slot`, unique per city, always below the city's ballot boxes:
   a city never counts more boxes than it expects, 409 city-fully-reported; boxes.py).
   All three rules hold in the one insert: nothing is half-written.
2. **city totals** — one `findOneAndUpdate` on the report's *shard* of the city totals
   (created by the first report that lands in it: nothing per box exists before):
   the filter only matches while the shard carries no marker for this box, and the same
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

Crash points: the pipeline calls `hooks.reached(point)` (infra/hooks.py; a no-op in
production) at each point below. A test or chaos run passes hooks that raise there
(tests/support/faults.py); the exception leaves the report exactly where a process dying at
that instant would (the request answers 500, the worker finishes the report later):
    after_store          the raw report is stored (status "pending"), nothing applied
    after_city_totals    the shard counters moved and carry the report's marker
    after_audit          the per-party audit entries are written
    before_mark_applied  (corrections) the superseded report is linked; status still pending
There is no separate "national" step (see below), so national and city totals cannot disagree.

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
  box has no marker yet), so it counts boxes that reported.

Corrections: a report with `corrects` (older name `supersedes`) naming an earlier report of
the same box replaces that
report. Its city step moves the counters by (new − old) and requires the old marker to be
present and its own absent; if the superseded report is still pending it is applied first.
A report can be superseded once (unique index on (election_id, supersedes)), so corrections
form a chain per box. The audit log keeps both reports; the old one gets `superseded_by`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from bson import ObjectId

from livevote.errors import Conflict, Forbidden, NotFound, ValidationFailed
from livevote.infra import metrics
from livevote.infra.hooks import NO_HOOKS, Hooks
from livevote.infra.mongo import Doc
from livevote.infra.resources import Clock, utc_now
from livevote.tallies import recount
from livevote.tallies.boxes import BoxSlots
from livevote.tallies.cache import ReadCache
from livevote.tallies.credentials import ReporterKeys, new_key
from livevote.tallies.keys import canonical_hash, epoch_ms, party_colours, party_key, shard_of_box
from livevote.tallies.repository import STORED, ElectionRepository

BOXES_PER_SHARD = 500
MAX_CORRECTION_CHAIN = 50
CRASH_POINTS = ("after_store", "after_city_totals", "after_audit", "before_mark_applied")


@dataclass(frozen=True)
class PlainReport:
    """A plain report (no correction) ready to store: its election and its document."""

    election: Doc
    doc: Doc


class ReportWriter(Protocol):
    """Where plain reports go: the service itself (one by one), or a group commit over
    batching.ReportBatches.flush (the concurrent reports of an election together)."""

    async def submit(self, key: str, item: PlainReport) -> tuple[str, str]: ...


def city_index(election: Doc, city: str) -> int:
    for i, c in enumerate(election["cities"]):
        if c["name"] == city:
            return i
    raise ValidationFailed(f"unknown city {city!r}", type="unknown-city")


class ElectionService:
    """The election rules over one repository. `hold_seconds`: how long the request that
    stored a report owns it before the worker may take it over."""

    def __init__(
        self,
        repo: ElectionRepository,
        *,
        clock: Clock = utc_now,
        hooks: Hooks = NO_HOOKS,
        hold_seconds: float = 0.0,
        cache: ReadCache | None = None,
        max_cities: int = 2000,
        max_boxes: int = 1_000_000,
        writer: ReportWriter | None = None,
    ) -> None:
        self.repo = repo
        self.clock = clock
        self.hooks = hooks
        self.hold_seconds = hold_seconds
        self.cache = cache or ReadCache(None, "")
        self.keys = ReporterKeys(repo, clock)
        self.boxes = BoxSlots(repo)
        self.max_cities = max_cities
        self.max_boxes = max_boxes
        self.writer = writer

    # -- elections -----------------------------------------------------------------------------
    async def create_election(
        self,
        *,
        name: str,
        parties: list[tuple[str, str | None]],
        cities: list[tuple[str, int]],
        creator_id: str,
        election_id: ObjectId | None = None,
    ) -> tuple[Doc, Doc, str]:
        """Create an election (parties as (name, colour or None), cities as (name, boxes));
        returns it, its election-wide reporter key document and the key (shown once).
        `election_id`: a chosen id (the demo's), 409 if taken."""
        names = [p for p, _ in parties]
        if len(set(names)) != len(names):
            raise ValidationFailed("party names must be unique")
        if len({c for c, _ in cities}) != len(cities):
            raise ValidationFailed("city names must be unique")
        if len(cities) > self.max_cities:
            raise ValidationFailed(
                f"at most {self.max_cities} cities per election", type="too-many-cities"
            )
        expected = sum(n for _, n in cities)
        if expected > self.max_boxes:
            raise ValidationFailed(
                f"at most {self.max_boxes} ballot boxes per election", type="too-many-boxes"
            )
        election_id = election_id or ObjectId()
        # Shard counts are numbers, not documents: shards appear with their first report.
        city_docs: list[Doc] = [
            {"name": c, "ballot_boxes": n, "shards": max(1, math.ceil(n / BOXES_PER_SHARD))}
            for c, n in cities
        ]
        election = {
            "_id": election_id,
            "name": name,
            "parties": names,
            "colours": party_colours([c for _, c in parties]),
            "cities": city_docs,
            "expected_boxes": expected,
            "creator_id": creator_id,
            "created_at": self.clock(),
        }
        key_doc, key = new_key(str(election_id), None, self.clock)
        if not await self.repo.create_election(election, key_doc):
            raise Conflict(f"election {election_id} exists", type="election-exists")
        metrics.business("election_create")
        return election, key_doc, key

    async def elections_of(self, creator_id: str, limit: int = 100) -> list[Doc]:
        return await self.repo.elections_of(creator_id, limit)

    async def election(self, election_id: ObjectId) -> Doc:
        election = await self.repo.election(election_id)
        if election is None:
            raise NotFound(f"election {election_id} not found")
        return election

    async def recount(self, election_id: ObjectId, user_id: str) -> recount.ElectionCheck:
        """The creator's recount (report only; `livevote recount elections --fix` repairs)."""
        election = await self.election(election_id)
        if election["creator_id"] != user_id:
            raise Forbidden("only the creator of this election may do this")
        return await recount.check(self.repo, election)

    # -- reports -----------------------------------------------------------------------------------
    async def submit_report(
        self,
        election_id: ObjectId,
        reporter_key: str | None,
        *,
        report_id: str,
        ballot_box_id: str,
        city: str,
        votes: dict[str, int],
        supersedes: str | None,
    ) -> tuple[str, str]:
        """Check the reporter key, store the report, then apply it. Returns (id, status)."""
        election = await self.election(election_id)
        await self.keys.check(election, reporter_key, city)  # before anything is revealed
        ci = city_index(election, city)
        unknown = sorted(set(votes) - set(election["parties"]))
        if unknown:
            raise ValidationFailed(f"unknown party {unknown[0]!r}", type="unknown-party")
        eid = str(election["_id"])
        if supersedes is not None:
            await self._check_supersedable(eid, report_id, ballot_box_id, city, supersedes)
        now = self.clock()
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
            # The request that stored it owns it until then; afterwards the worker may.
            "lease_until_ms": received_ms + int(self.hold_seconds * 1000),
            "attempts": 0,
        }
        if supersedes is None:
            if self.writer is not None:
                return await self.writer.submit(eid, PlainReport(election, doc))
            return await self.store_plain(election, doc)
        doc["supersedes"] = supersedes
        if await self.repo.insert_report(doc) != STORED:
            return await self._answer_duplicate(doc)
        self.hooks.reached("after_store")
        await self.apply_report(election, doc)
        metrics.business("election_report", "applied")
        return report_id, "applied"

    async def store_plain(self, election: Doc, doc: Doc) -> tuple[str, str]:
        """Store and apply one plain report alone (without group commit, and the reports a
        batch could not place: batching.py)."""
        if not await self.boxes.store(election, doc):
            return await self._answer_duplicate(doc)
        self.hooks.reached("after_store")
        await self.apply_report(election, doc)
        metrics.business("election_report", "applied")
        return doc["report_id"], "applied"

    async def _check_supersedable(
        self, eid: str, report_id: str, box: str, city: str, supersedes: str
    ) -> None:
        if supersedes == report_id:
            raise ValidationFailed("a report cannot correct itself", type="bad-correction")
        old = await self.repo.report(eid, supersedes)
        if old is None:
            raise ValidationFailed(
                f"report {supersedes!r} to correct not found", type="bad-correction"
            )
        if old["ballot_box_id"] != box or old["city"] != city:
            raise ValidationFailed(
                "a correction must come from the same ballot box and city", type="bad-correction"
            )

    async def _answer_duplicate(self, doc: Doc) -> tuple[str, str]:
        existing = await self.repo.report(doc["election_id"], doc["report_id"])
        return self.answer_resend(doc, existing)

    @staticmethod
    def answer_resend(doc: Doc, existing: Doc | None) -> tuple[str, str]:
        """The answer to a report whose id (`existing`) or correction target is taken."""
        if existing is None:  # another unique index: (election_id, supersedes)
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

    async def apply_report(self, election: Doc, report: Doc, depth: int = 0) -> None:
        """Run steps 2-4 for a stored report. Safe to repeat at any time (see above)."""
        repo, hooks = self.repo, self.hooks
        eid, rid, box = report["election_id"], report["report_id"], report["ballot_box_id"]
        shard = report["shard_id"]
        counts = counts_of(election, report)
        old_id = report.get("supersedes")
        old_counts: dict[str, int] = {}
        if old_id is not None:
            old = await repo.report(eid, old_id)
            if old is None:
                raise RuntimeError(f"superseded report {old_id} of {rid} vanished")
            if old["status"] != "applied":
                if depth >= MAX_CORRECTION_CHAIN:
                    raise RuntimeError(f"correction chain too long at {rid}")
                await self.apply_report(election, old, depth + 1)
            old_counts = counts_of(election, old)
            delta = {k: counts.get(k, 0) - old_counts.get(k, 0) for k in counts | old_counts}
            if not await repo.replace_report_of_box(shard, box, old_id, rid, delta):
                if not await repo.has_marker(shard, box, rid):
                    raise RuntimeError(f"correction {rid}: superseded {old_id} not in totals")
        else:
            await self.add_first(shard, int(report["city_index"]), box, rid, counts)
        hooks.reached("after_city_totals")

        await repo.add_audit_entries(audit_entries(election, report, counts, old_counts))
        hooks.reached("after_audit")

        if old_id is not None:
            await repo.link_superseded(eid, old_id, rid)
        hooks.reached("before_mark_applied")
        await repo.mark_applied(report["_id"], epoch_ms(self.clock()))
        await self.cache.bump(eid)

    async def add_first(
        self, shard: str, ci: int, box: str, rid: str, counts: dict[str, int]
    ) -> None:
        for _ in range(5):
            if await self.repo.add_first_report_of_box(shard, ci, box, rid, counts):
                return
            if await self.repo.has_marker(shard, box, rid):
                return  # applied before: nothing to do
            # else another box's first report created the shard under us: go round again
            # (one plain report per box, so the box's marker can only ever be ours)
        raise RuntimeError(f"could not apply report {rid} to {shard}")

    # -- the pending-report worker (worker.py) ---------------------------------------------------
    async def claim_due_report(self, lease_ms: int, owner: str) -> Doc | None:
        return await self.repo.claim_pending(epoch_ms(self.clock()), lease_ms, owner)

    async def finish_report(self, report: Doc) -> None:
        """Re-run the apply step of a report left pending (harmless if it was applied)."""
        eid = report["election_id"]
        election = await self.repo.election(ObjectId(eid)) if ObjectId.is_valid(eid) else None
        if election is None:
            raise RuntimeError(f"election {eid} of report {report['report_id']} is gone")
        await self.apply_report(election, report)

    async def pending_reports(self) -> int:
        return await self.repo.count_pending()


def counts_of(election: Doc, report: Doc) -> dict[str, int]:
    index = {p: i for i, p in enumerate(election["parties"])}
    return {party_key(index[p]): int(n) for p, n in report["votes"]}


def audit_entries(
    election: Doc, report: Doc, counts: dict[str, int], old_counts: dict[str, int]
) -> list[Doc]:
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
                "at": report["received_at"],
                "at_ms": report["received_ms"],
            }
        )
    return entries
