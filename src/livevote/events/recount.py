"""Recount live events: rebuild every team's tally and the attendee count from the stored
facts and compare.

`livevote recount events [--id EVENT] [--fix] [--json]` (infra/recount.py): one report per
event, report only by default (exit 1 on a difference), `--fix` repairs. The host's
`POST /api/events/{id}/recount` always fixes (controllers map the report to the `RecountOut`
view it has always answered).

What counts (votes.py, joins.py): a vote or an attendee whose batch is applied on the event's
counting chain (infra/batchcount.py) — read at one instant: the batches applied up to the
event document's `batch_seq` as read with its tallies — plus, for events stored before
batches, a vote marked by its old `counted.<vote id>` marker and an attendee without a batch.
Everything else is in flight (its batch is being counted right now) or stranded (a
crash or an outage left it: a void batch, a record missing for STRANDED_AFTER seconds, a
pending batch whose voting window has passed, a vote stored before batches and never marked).
The report's `counted` is what the tallies will be once the stranded facts are finished:
stranded attendees count; a stranded vote counts if voting for its team is open now, unless
its batch was refused (pending after its window passed: the fix voids it, the vote leaves).

`--fix`, in this order:
1. finishes every vote not counted yet exactly as a client's retry would (votes.settle:
   count under the window open now, else delete; a vote in flight is finished by its writer
   or by this, whichever comes first — even when nothing else differs: its writer may have
   died with its request), and the stranded joins (joins.count_attendees: a join batch in
   flight is left to its writer, whose insert may not have ended);
2. adopts the votes of old `counted.*` markers into the event's applied `legacy` batch and
   drops the markers (`$unset: {counted: ""}`): after one `livevote recount events --fix` an
   old event's document is as flat as a new one;
3. writes the remaining difference as a correcting batch through the chain itself, guarded by
   the chain's position (`last_batch`, `batch_seq`) at the recount's read: it applies only if
   no batch was applied since, so it can never race a vote or a join (else: read again).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bson import ObjectId

from livevote.errors import NotFound, ServiceUnavailable
from livevote.events import joins, votes
from livevote.events.jury_recount import with_jury
from livevote.events.repository import Database, EventRepository, window_of
from livevote.events.views import TEAM_DIFFERENCE as TEAM
from livevote.infra import metrics
from livevote.infra.batchcount import State
from livevote.infra.recount import Difference, RecountReport, add_recount_command
from livevote.infra.resources import Clock, utc_now

DOMAIN = "events"
ATTENDEES = "attendees"
STRANDED_AFTER = 30.0  # seconds a batch may go unrecorded before its writer counts as dead
ATTEMPTS = 20


@dataclass
class Snapshot:
    """The event's counters and its facts, sorted by how they count, at one chain position."""

    last_batch: str
    batch_seq: int
    stored: dict[str, dict[str, int]]
    counted: dict[str, dict[str, int]]
    expected: dict[str, dict[str, int]]  # counted + the stranded facts a fix would count
    stranded_votes: list[dict[str, Any]] = field(default_factory=list)
    in_flight_votes: list[dict[str, Any]] = field(default_factory=list)
    stranded_joins: dict[str, int] = field(default_factory=dict)
    in_flight: int = 0
    marked: list[str] = field(default_factory=list)

    def differences(self, of: dict[str, dict[str, int]]) -> list[Difference]:
        return [
            Difference(what, self.stored[what], of[what])
            for what in sorted(self.stored)
            if self.stored[what] != of[what]
        ]

    def notes(self) -> list[str]:
        out = []
        if self.stranded_votes:
            out.append(
                f"{len(self.stranded_votes)} stored votes not counted: a fix counts those "
                "whose team's voting is open now and removes the others"
            )
        if self.stranded_joins:
            out.append(f"{sum(self.stranded_joins.values())} attendees not counted")
        if self.in_flight:
            out.append(f"{self.in_flight} facts being counted right now")
        if self.marked:
            out.append(f"{len(self.marked)} old per-vote counted markers (a fix drops them)")
        return out


def _old(batch_id: str) -> bool:
    if not ObjectId.is_valid(batch_id):
        return True
    age = utc_now() - ObjectId(batch_id).generation_time
    return age.total_seconds() > STRANDED_AFTER


def _zero(teams: Any) -> dict[str, dict[str, int]]:
    out = {TEAM + t: {"votes": 0, "score_sum": 0} for t in teams}
    out[ATTENDEES] = {ATTENDEES: 0}
    return out


async def _snapshot(repo: EventRepository, event_id: str) -> Snapshot:
    counter = await repo.counter(event_id)
    if counter is None:
        raise NotFound(f"event {event_id!r} not found")
    last, seq = str(counter.get("last_batch") or ""), int(counter.get("batch_seq") or 0)
    records = {str(r["_id"]): r for r in await repo.batches_of(event_id)}
    applied = {b for b, r in records.items() if r["state"] == "applied" and r.get("seq", 0) <= seq}
    applied |= {last} if last else set()
    tally: dict[str, Any] = counter.get("tally") or {}
    teams = set(tally) | set(counter.get("teams") or {})
    snap = Snapshot(last, seq, _zero(teams), _zero(teams), _zero(teams))
    for t, v in tally.items():
        snap.stored[TEAM + t] = {
            "votes": int(v.get("votes", 0)),
            "score_sum": int(v.get("score_sum", 0)),
        }
    snap.stored[ATTENDEES] = {ATTENDEES: int(counter.get("attendees") or 0)}
    marked = set((counter.get("counted") or {}).keys())
    open_team = str(counter.get("voting_team") or "") if counter.get("voting_open") else ""
    voided = {k for k, v in (counter.get("voided") or {}).items() if v}  # integrity.py

    def add(into: dict[str, dict[str, int]], vote: dict[str, Any]) -> None:
        row = into.setdefault(TEAM + vote["team_id"], {"votes": 0, "score_sum": 0})
        row["votes"] += 1
        row["score_sum"] += int(vote["score"])

    async for vote in repo.vote_facts(event_id):
        batch = vote.get("batch")
        record = records.get(batch) if batch else None
        gone = str(vote.get("attendee_id")) in voided  # the host voided its voter: it leaves
        if batch in applied or (batch is None and str(vote["_id"]) in marked):
            if not gone:
                add(snap.counted, vote)
                add(snap.expected, vote)
            if batch is None:
                snap.marked.append(str(vote["_id"]))
        elif batch is not None and _in_flight(batch, record, counter):
            snap.in_flight += 1
            snap.in_flight_votes.append(vote)
        else:
            snap.stranded_votes.append(vote)
            # a pending batch applies if its window is still the open one, else it is refused
            refused = record is not None and record["state"] == "pending"
            refused = refused and not _window_open(record, counter)
            if vote["team_id"] == open_team and not refused and not gone:
                add(snap.expected, vote)
    for batch, n in (await repo.attendee_batches(event_id)).items():
        record = records.get(batch) if batch else None
        if batch is None or batch in applied:
            snap.counted[ATTENDEES][ATTENDEES] += n
        elif _joins_in_flight(batch, record):
            snap.in_flight += n
            continue
        else:
            snap.stranded_joins[batch] = n
        snap.expected[ATTENDEES][ATTENDEES] += n
    for what in snap.counted:  # a team only the votes know (its tally row was lost)
        snap.stored.setdefault(what, {"votes": 0, "score_sum": 0})
        snap.expected.setdefault(what, {"votes": 0, "score_sum": 0})
    for what in snap.expected:
        snap.stored.setdefault(what, {"votes": 0, "score_sum": 0})
        snap.counted.setdefault(what, {"votes": 0, "score_sum": 0})
    return snap


def _joins_in_flight(batch: str, record: Any) -> bool:
    """A join batch that its writer may still count: applied after the snapshot's read, or
    unrecorded or pending for less than STRANDED_AFTER."""
    if record is not None and record["state"] == "applied":
        return True
    return (record is None or record["state"] == "pending") and not _old(batch)


def _in_flight(batch: str, record: Any, counter: Any) -> bool:
    """A vote batch that its writer (or a retry) may still count: like a join batch, and a
    pending one only while its window is still the event's open window."""
    if not _joins_in_flight(batch, record):
        return False
    if record is None or record["state"] == "applied":
        return True
    return _window_open(record, counter)


def _window_open(record: Any, counter: Any) -> bool:
    """Whether a vote batch's voting window (team, generation) is the event's open one."""
    return bool(counter.get("voting_open")) and (
        counter.get("voting_team") == record.get("team")
        and window_of(counter) == int(record.get("gen", -2))
    )


async def _finish(repo: EventRepository, event_id: str, snap: Snapshot) -> None:
    await repo.start_chain(event_id)
    for vote in snap.stranded_votes:  # nobody is counting these: no need to wait
        await votes.settle(repo, event_id, await repo.vote(vote["_id"]), grace=0.0)
    for vote in snap.in_flight_votes:  # as a retry would: waits for a live writer's record
        await votes.settle(repo, event_id, await repo.vote(vote["_id"]))
    for batch, n in snap.stranded_joins.items():  # a missing record is recorded now
        await joins.count_attendees(repo, event_id, batch, n)
    if snap.marked:
        await repo.adopt_marked_votes(event_id, snap.marked)
    if snap.marked or await _has_markers(repo, event_id):
        await repo.drop_markers(event_id)


async def _has_markers(repo: EventRepository, event_id: str) -> bool:
    counter = await repo.counter(event_id)
    return bool(counter and counter.get("counted"))


async def _correct(repo: EventRepository, event_id: str, snap: Snapshot) -> bool:
    """Apply counted − stored as one correcting batch, only at the chain position the
    snapshot was read at. False when the chain moved (read again)."""
    inc: dict[str, int] = {}
    for what, stored in snap.stored.items():
        for name, value in snap.counted[what].items():
            delta = value - stored.get(name, 0)
            if delta:
                inc[name if what == ATTENDEES else f"tally.{what.removeprefix(TEAM)}.{name}"] = (
                    delta
                )
    if not inc:
        return True
    batch = votes.new_batch_id()
    await repo.record_batch(event_id, batch, inc, "correction")
    guard = {"last_batch": snap.last_batch, "batch_seq": snap.batch_seq}
    outcome = await repo.apply_batch(event_id, batch, guard)
    if outcome.state is State.APPLIED:
        return True
    return await repo.void_batch(event_id, batch) is State.APPLIED


async def recount_event(
    repo: EventRepository, event_id: str, *, fix: bool, clock: Clock = utc_now
) -> RecountReport:
    """Recount the event from its stored facts; report differences, repair if `fix`."""
    first = await _snapshot(repo, event_id)
    diffs = first.differences(first.expected)
    consistent = not diffs and not first.stranded_votes and not first.stranded_joins
    report = RecountReport(DOMAIN, event_id, consistent, differences=diffs, notes=first.notes())
    # In-flight votes are finished too (as a retry would): their writer may have died with
    # the request, and a fix that returned here left them stored but uncounted.
    settled = consistent and not first.in_flight_votes and not first.marked
    if not fix or (settled and not await _has_markers(repo, event_id)):
        return report
    await _finish(repo, event_id, first)
    for _ in range(ATTEMPTS):
        if await _correct(repo, event_id, await _snapshot(repo, event_id)):
            break
    else:
        raise ServiceUnavailable("votes keep arriving; recount again when voting is closed")
    if not consistent:
        metrics.business("event_recount", "fixed")
        report.fixed = True
    return report


async def recount(db: Database, *, scope_id: str | None, fix: bool) -> list[RecountReport]:
    """The recount contract (infra/recount.py): one report per event (or for `scope_id`)."""
    repo = EventRepository(db)
    ids = [scope_id] if scope_id else await repo.all_ids()
    return [
        await with_jury(repo, await recount_event(repo, event_id, fix=fix), fix=fix)
        for event_id in ids
    ]


def add_recount(domains: Any) -> None:
    """Add `events` under the `livevote recount` subparsers."""
    add_recount_command(domains, DOMAIN, "recount live-event tallies from stored votes", recount)
