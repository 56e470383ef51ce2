"""Recount activities: rebuild every activity's counters from the stored responses, and every
question's upvotes from the stored upvotes.

`livevote recount activities [--id EVENT|ACTIVITY] [--fix] [--json]` (infra/recount.py): one report
per event, report only by default (exit 1 on a difference), `--fix` writes the recount.

Counted responses are those whose batch was applied (infra/batchcount.py): a response of a
batch still pending (its writer died mid-way; the attendee's retry finishes it) is named in
the notes, never counted here. A fix writes an activity's counters only if no batch was
applied since they were read (`batch_seq`), so it never loses a concurrent answer. A
question's `votes` is compared and fixed only with no upvote in flight and only if no
upvote was claimed since the counter was read (`_recount_question`, qa.py), so a fix beside
live upvotes leaves the counter exact.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

from livevote.activities import kinds
from livevote.activities.repository import ActivityRepository, Database, epoch_ms
from livevote.errors import ServiceUnavailable
from livevote.infra import metrics
from livevote.infra.mongo import Doc
from livevote.infra.recount import Difference, RecountReport, add_recount_command
from livevote.infra.resources import Clock, utc_now

DOMAIN = "activities"
SETTLE_SECONDS = 10.0  # how long a question's recount waits for upvotes in flight
STALE_UPVOTE_MS = 60_000  # an upvote in flight this long: its writer died


def _nonzero(tally: dict[str, Any]) -> dict[str, int]:
    return {k: int(v) for k, v in tally.items() if int(v)}


async def _recount_activity(
    repo: ActivityRepository, activity: Doc, fix: bool, clock: Clock, notes: list[str]
) -> tuple[Difference | None, bool]:
    aid = str(activity["_id"])
    for _ in range(20):
        applied = await repo.applied_batches(activity)
        stored = _nonzero(activity.get("tally") or {})
        counted: dict[str, int] = {}
        for response in await repo.responses_of(aid, applied):
            kinds.add(counted, kinds.counters_of(activity, response))
        counted = _nonzero(counted)
        pending = len(await repo.responses_of(aid)) - int(counted.get("n", 0))
        if pending > 0:
            notes.append(f"activity {aid}: {pending} response(s) in batches not applied")
        if stored == counted:
            return None, False
        diff = Difference(f"activity {aid}", stored, counted)
        if not fix:
            return diff, False
        if await repo.replace_tally_if_unchanged(
            aid, int(activity.get("batch_seq") or 0), counted, clock()
        ):
            metrics.business("activity_recount", "fixed")
            return diff, True
        fresh = await repo.activity(activity["event_id"], aid)
        if fresh is None:
            return None, False
        activity = fresh
        notes.clear()
    raise ServiceUnavailable("answers keep arriving; recount again when the activity is closed")


async def _recount_question(
    repo: ActivityRepository, qid: str, fix: bool, clock: Clock, notes: list[str]
) -> tuple[Difference | None, bool]:
    """Stored `votes` against the stored upvotes. The counter is read before the votes are
    counted; with an upvote in flight (`upvoting` > 0: claimed, its vote or its increment
    not yet written) the two cannot be compared, so this waits (a writer that died leaves
    it in flight: after STALE_UPVOTE_MS the stored votes are the truth). A fix writes only if
    `votes`, `upvoting` and `vote_seq` are still what was read: an upvote claimed meanwhile
    makes it read again, one claimed after it is counted on top of the fix."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        seen = await repo.vote_counter(qid)
        if seen is None:
            return None, False
        counted = (await repo.count_upvotes([qid])).get(qid, 0)
        stored, in_flight = int(seen.get("votes") or 0), int(seen.get("upvoting") or 0)
        if in_flight and not _stale(seen.get("upvoting_ms"), clock()):
            if time.monotonic() < deadline:
                await asyncio.sleep(0.02)
                continue
            notes.append(f"question {qid}: {in_flight} upvote(s) in flight; recount again")
            return None, False
        if stored == counted and not in_flight:
            return None, False
        diff = Difference(
            f"question {qid}",
            {"votes": stored, **({"in_flight": in_flight} if in_flight else {})},
            {"votes": counted},
        )
        if not fix:
            return diff, False
        if await repo.set_votes_if_unchanged(qid, seen, counted):
            metrics.business("question_recount", "fixed")
            return diff, True
        if time.monotonic() >= deadline:
            raise ServiceUnavailable("upvotes keep arriving; recount again later")


def _stale(claimed_ms: Any, now: datetime) -> bool:
    if not isinstance(claimed_ms, int):
        return True
    return epoch_ms(now) - claimed_ms > STALE_UPVOTE_MS


async def recount_event(
    repo: ActivityRepository, event_id: str, *, fix: bool, clock: Clock = utc_now
) -> RecountReport:
    diffs: list[Difference] = []
    notes: list[str] = []
    fixed = False
    for activity in await repo.activities_of(event_id):
        diff, wrote = await _recount_activity(repo, activity, fix, clock, notes)
        if diff is not None:
            diffs.append(diff)
        fixed = fixed or wrote
    for q in await repo.question_ids(event_id):
        diff, wrote = await _recount_question(repo, str(q["_id"]), fix, clock, notes)
        if diff is not None:
            diffs.append(diff)
        fixed = fixed or wrote
    return RecountReport(
        DOMAIN,
        event_id,
        consistent=not diffs,
        fixed=fixed and bool(diffs),
        differences=diffs,
        notes=notes,
    )


async def recount(db: Database, *, scope_id: str | None, fix: bool) -> list[RecountReport]:
    """The recount contract (infra/recount.py): one report per event with activities."""
    repo = ActivityRepository(db)
    if scope_id:  # an event id, or an activity id standing for its event
        activity = await repo.activity_by_id(scope_id)
        ids = [str(activity["event_id"]) if activity else scope_id]
    else:
        ids = await repo.event_ids_with_activities()
    return [await recount_event(repo, event_id, fix=fix) for event_id in ids]


def add_recount(domains: Any) -> None:
    """Add `activities` under the `livevote recount` subparsers."""
    add_recount_command(domains, DOMAIN, "recount activity results and question upvotes", recount)
