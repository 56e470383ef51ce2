"""Recount live events: rebuild every team's tally from the stored votes and compare.

`livevote recount events [--id EVENT] [--fix] [--json]` (infra/recount.py): one report per
event, report only by default (exit 1 on a difference), `--fix` writes the recounted
tallies. The host's `POST /api/events/{id}/recount` always fixes (controllers map the report
to the `RecountOut` view it has always answered).

A fix writes the tallies together with the `counted.<vote id>` markers of the votes they
include, and only if no vote was counted since the tallies were read (`vote_seq`), so it
never loses a vote counted meanwhile and a vote it counted is never counted again by a
retry (see votes.cast_vote).
"""

from __future__ import annotations

from typing import Any

from livevote.errors import NotFound, ServiceUnavailable
from livevote.events.jury_recount import with_jury
from livevote.events.repository import Database, EventRepository
from livevote.events.views import TEAM_DIFFERENCE as TEAM
from livevote.infra import metrics
from livevote.infra.recount import Difference, RecountReport, add_recount_command
from livevote.infra.resources import Clock, utc_now

DOMAIN = "events"


async def recount_event(
    repo: EventRepository, event_id: str, *, fix: bool, clock: Clock = utc_now
) -> RecountReport:
    """Recompute the event's tallies from event_votes; report differences, write if `fix`."""
    for _ in range(20):
        event = await repo.get(event_id)
        if event is None:
            raise NotFound(f"event {event_id!r} not found")
        event_id = str(event["_id"])
        stored: dict[str, Any] = event.get("tally") or {}
        counted = await repo.count_votes(event_id)
        diffs: list[Difference] = []
        for tid in sorted(set(stored) | set(counted) | set(event.get("teams") or {})):
            s = stored.get(tid) or {}
            live = {"votes": int(s.get("votes", 0)), "score_sum": int(s.get("score_sum", 0))}
            rebuilt = counted.get(tid) or {"votes": 0, "score_sum": 0}
            if live != rebuilt:
                diffs.append(Difference(TEAM + tid, live, rebuilt))
        if not diffs or not fix:
            return RecountReport(DOMAIN, event_id, consistent=not diffs, differences=diffs)
        fixed = {d.what.removeprefix(TEAM): d.counted for d in diffs}
        vote_ids = await repo.vote_ids(event_id)
        if await repo.replace_tallies_if_unchanged(
            event_id, int(event.get("vote_seq", 0)), fixed, vote_ids, clock()
        ):
            metrics.business("event_recount", "fixed")
            return RecountReport(DOMAIN, event_id, consistent=False, fixed=True, differences=diffs)
    raise ServiceUnavailable("votes keep arriving; recount again when voting is closed")


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
