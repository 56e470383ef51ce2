"""Recount activities: rebuild every activity's counters from the stored responses, and every
question's upvotes from the stored upvotes.

`livevote recount activities [--id EVENT|ACTIVITY] [--fix] [--json]` (infra/recount.py): one report
per event, report only by default (exit 1 on a difference), `--fix` writes the recount.

Counted responses are those whose batch was applied (infra/batchcount.py): a response of a
batch still pending (its writer died mid-way; the attendee's retry finishes it) is named in
the notes, never counted here. A fix writes an activity's counters only if no batch was
applied since they were read (`batch_seq`), so it never loses a concurrent answer.
"""

from __future__ import annotations

from typing import Any

from livevote.activities import kinds
from livevote.activities.repository import ActivityRepository, Database
from livevote.errors import ServiceUnavailable
from livevote.infra import metrics
from livevote.infra.mongo import Doc
from livevote.infra.recount import Difference, RecountReport, add_recount_command
from livevote.infra.resources import Clock, utc_now

DOMAIN = "activities"


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
    questions = await repo.question_ids(event_id)
    upvotes = await repo.count_upvotes([str(q["_id"]) for q in questions])
    for q in questions:
        qid = str(q["_id"])
        stored, counted = int(q.get("votes") or 0), upvotes.get(qid, 0)
        if stored != counted:
            diffs.append(Difference(f"question {qid}", {"votes": stored}, {"votes": counted}))
            if fix:
                await repo.set_votes(qid, counted)
                fixed = True
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
