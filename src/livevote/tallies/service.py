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
  box has no marker yet), so it counts boxes that reported at least once.

Corrections: a report with `supersedes: <earlier report_id of the same box>` replaces that
report. Its city step moves the counters by (new − old) and requires the old marker to be
present and its own absent; if the superseded report is still pending it is applied first.
A report can be superseded once (unique index on (election_id, supersedes)), so corrections
form a chain per box. The audit log keeps both reports; the old one gets `superseded_by`.
"""

from __future__ import annotations

import hmac
import math
import secrets
from datetime import datetime

from bson import ObjectId

from livevote.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed
from livevote.infra import metrics
from livevote.infra.hooks import NO_HOOKS, Hooks
from livevote.infra.mongo import Doc
from livevote.infra.resources import Clock, utc_now
from livevote.tallies import recount, views
from livevote.tallies.keys import (
    canonical_hash,
    epoch_ms,
    hash_key,
    party_key,
    shard_id,
    shard_of_box,
)
from livevote.tallies.repository import ElectionRepository
from livevote.tallies.schemas import CityVotes, ReportOut, TotalsOut

BOXES_PER_SHARD = 500
MAX_CORRECTION_CHAIN = 50
CRASH_POINTS = ("after_store", "after_city_totals", "after_audit", "before_mark_applied")


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
    ) -> None:
        self.repo = repo
        self.clock = clock
        self.hooks = hooks
        self.hold_seconds = hold_seconds

    # -- elections -----------------------------------------------------------------------------
    async def create_election(
        self, *, name: str, parties: list[str], cities: list[tuple[str, int]], creator_id: str
    ) -> tuple[Doc, str]:
        """Create an election; returns it and the reporter key (shown once, stored hashed)."""
        if len(set(parties)) != len(parties):
            raise ValidationFailed("party names must be unique")
        if len({c for c, _ in cities}) != len(cities):
            raise ValidationFailed("city names must be unique")
        election_id = ObjectId()
        key = secrets.token_urlsafe(32)
        city_docs: list[Doc] = [
            {"name": c, "ballot_boxes": n, "shards": max(1, math.ceil(n / BOXES_PER_SHARD))}
            for c, n in cities
        ]
        shards = [
            (shard_id(str(election_id), ci, b), ci, b)
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
            "created_at": self.clock(),
        }
        await self.repo.create_election(election, shards)
        metrics.business("election_create")
        return election, key

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

    # -- public reads ----------------------------------------------------------------------------
    async def totals(self, election: Doc, city: str | None) -> TotalsOut:
        eid = str(election["_id"])
        if city is None:
            return views.totals_out(election, await self.repo.shard_totals(eid), None)
        try:
            ci = city_index(election, city)
        except ValidationFailed as exc:
            raise NotFound(f"city {city!r} not found in this election") from exc
        return views.totals_out(election, await self.repo.shard_totals(eid, ci), ci)

    async def snapshot(self, election: Doc) -> Doc:
        """National and per-city totals and progress (the screen and the SSE stream)."""
        return views.snapshot(election, await self.repo.shard_totals(str(election["_id"])))

    async def reports(
        self,
        election: Doc,
        *,
        city: str | None,
        since: datetime | None,
        until: datetime | None,
        page: int,
        limit: int,
    ) -> tuple[list[ReportOut], bool]:
        docs = await self.repo.list_reports(
            str(election["_id"]),
            city=city,
            since=since,
            until=until,
            skip=(page - 1) * limit,
            limit=limit + 1,
        )
        return [views.report_out(d) for d in docs[:limit]], len(docs) > limit

    async def top_cities(
        self, election: Doc, *, since: datetime | None, until: datetime | None, limit: int
    ) -> list[CityVotes]:
        """Cities by votes reported in [since, until) (the audit log's time of receipt)."""
        rows = await self.repo.top_cities(
            str(election["_id"]),
            epoch_ms(since) if since else None,
            epoch_ms(until) if until else None,
            limit,
        )
        return views.top_cities(rows)

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
        _check_reporter_key(election, reporter_key)
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
        if supersedes is not None:
            doc["supersedes"] = supersedes
        if not await self.repo.insert_report(doc):
            return await self._answer_duplicate(doc)
        self.hooks.reached("after_store")
        await self.apply_report(election, doc)
        metrics.business("election_report", "applied")
        return report_id, "applied"

    async def _check_supersedable(
        self, eid: str, report_id: str, box: str, city: str, supersedes: str
    ) -> None:
        if supersedes == report_id:
            raise ValidationFailed("a report cannot supersede itself", type="bad-correction")
        old = await self.repo.report(eid, supersedes)
        if old is None:
            raise ValidationFailed(
                f"report {supersedes!r} to supersede not found", type="bad-correction"
            )
        if old["ballot_box_id"] != box or old["city"] != city:
            raise ValidationFailed(
                "a correction must come from the same ballot box and city", type="bad-correction"
            )

    async def _answer_duplicate(self, doc: Doc) -> tuple[str, str]:
        existing = await self.repo.report(doc["election_id"], doc["report_id"])
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

    async def apply_report(self, election: Doc, report: Doc, depth: int = 0) -> None:
        """Run steps 2-4 for a stored report. Safe to repeat at any time (see above)."""
        repo, hooks = self.repo, self.hooks
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
                await self.apply_report(election, old, depth + 1)
            old_counts = _counts(election, old)
            delta = {k: counts.get(k, 0) - old_counts.get(k, 0) for k in counts | old_counts}
            if not await repo.replace_report_of_box(shard, box, old_id, rid, delta):
                if not await repo.has_marker(shard, box, rid):
                    raise RuntimeError(f"correction {rid}: superseded {old_id} not in totals")
        else:
            await self._add_batch(shard, box, rid, counts)
        hooks.reached("after_city_totals")

        await repo.add_audit_entries(_audit_entries(election, report, counts, old_counts))
        hooks.reached("after_audit")

        if old_id is not None:
            await repo.link_superseded(eid, old_id, rid)
        hooks.reached("before_mark_applied")
        await repo.mark_applied(report["_id"], epoch_ms(self.clock()))

    async def _add_batch(self, shard: str, box: str, rid: str, counts: dict[str, int]) -> None:
        for _ in range(5):
            if await self.repo.add_first_report_of_box(shard, box, rid, counts):
                return
            if await self.repo.add_further_report_of_box(shard, box, rid, counts):
                return
            marked = await self.repo.has_marker(shard, box, rid)
            if marked is None:
                raise RuntimeError(f"totals shard {shard} missing")
            if marked:
                return  # applied before: nothing to do
            # else the box's first marker appeared between our two attempts: go round again
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


def _check_reporter_key(election: Doc, key: str | None) -> None:
    if not key:
        raise Unauthorized("the X-Reporter-Key header is required", headers={})
    if not hmac.compare_digest(hash_key(key), election["reporter_key_sha256"]):
        raise Unauthorized("wrong reporter key", type="invalid-reporter-key", headers={})


def _counts(election: Doc, report: Doc) -> dict[str, int]:
    index = {p: i for i, p in enumerate(election["parties"])}
    return {party_key(index[p]): int(n) for p, n in report["votes"]}


def _audit_entries(
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
