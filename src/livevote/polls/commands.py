"""`livevote recount polls [--poll ID] [--fix]`: rebuild every poll's counters from the stored
votes and compare with the live ones (exit 1 on any difference; --fix writes the recount).

The vote path stores the response first and then `$inc`s the counters; a process that dies in
between leaves a counter one short. This command is the proof (and the repair) that every
counter can be rebuilt from `poll_responses`.
"""

from __future__ import annotations

import argparse
from typing import Any

from livevote.config import Settings
from livevote.infra.backing import with_database
from livevote.polls.repository import PollRepository


async def recount_polls(db: Any, *, poll: str | None = None, fix: bool = False) -> list[str]:
    """Return one line per poll whose counters differ from its votes (after fixing, if asked)."""
    repo = PollRepository(db)
    counted = await repo.recount_all(poll)
    differences = []
    for doc in await repo.counter_docs(poll):
        options = len(doc["options"])
        expected = {str(i): counted.get((doc["key"], i), 0) for i in range(options)}
        stored = {str(i): int(doc.get("votes", {}).get(str(i), 0)) for i in range(options)}
        total = int(doc.get("total", 0))
        if stored != expected or total != sum(expected.values()):
            differences.append(
                f"poll {doc['key']}: stored {stored} (total {total}), "
                f"recounted {expected} (total {sum(expected.values())})"
            )
            if fix:
                await repo.set_counters(doc["key"], expected)
    return differences


def add_recount(domains: Any) -> None:
    """Add `polls` under the `livevote recount` subparsers."""
    p = domains.add_parser("polls", help="recount poll vote counters from stored votes")
    p.add_argument("--poll", help="only this poll id (default: every poll)")
    p.add_argument("--fix", action="store_true", help="write the recounted counters")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    async def run(db: Any) -> int:
        from bson import ObjectId

        if args.poll and not ObjectId.is_valid(args.poll):
            print(f"poll {args.poll}: not a valid id")
            return 2
        differences = await recount_polls(db, poll=args.poll, fix=args.fix)
        for line in differences:
            print(line)
        if differences and args.fix:
            print(f"{len(differences)} poll(s) fixed")
            return 0
        print("polls consistent" if not differences else f"{len(differences)} poll(s) differ")
        return 1 if differences else 0

    return with_database(Settings.from_env(), run)
