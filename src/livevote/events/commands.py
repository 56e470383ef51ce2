"""`livevote recount events [--event ID] [--dry-run]`: rebuild event tallies from the votes."""

from __future__ import annotations

import argparse
from typing import Any

from livevote.config import Settings
from livevote.errors import AppError
from livevote.infra.backing import with_database
from livevote.infra.resources import utc_now


def add_recount(domains: Any) -> None:
    """Add `events` under the `livevote recount` subparsers."""
    p = domains.add_parser("events", help="recount live-event tallies from stored votes")
    p.add_argument("--event", help="only this event id (default: every event)")
    p.add_argument("--dry-run", action="store_true", help="report differences, change nothing")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    async def recount_all(db: Any) -> int:
        from livevote.events import service
        from livevote.events.repository import EventRepository

        repo = EventRepository(db)
        ids = [args.event] if args.event else await repo.all_ids()
        differing = 0
        for event_id in ids:
            try:
                out = await service.recount(
                    repo, event_id=event_id, fix=not args.dry_run, clock=utc_now
                )
            except AppError as exc:
                print(f"event {event_id}: {exc.detail}")
                return 2
            if out.consistent:
                print(f"event {event_id}: consistent")
                continue
            differing += 1
            for d in out.differences:
                print(
                    f"event {event_id} team {d.team_id}: stored {d.stored_votes} votes / "
                    f"{d.stored_score_sum} points, counted {d.counted_votes} / "
                    f"{d.counted_score_sum}"
                )
            print(f"event {event_id}: {'FIXED' if out.fixed else 'DIFFERS'}")
        print(f"{len(ids)} event(s) checked, {differing} with differences")
        return 1 if differing and args.dry_run else 0

    return with_database(Settings.from_env(), recount_all)
