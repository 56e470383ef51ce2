"""`livevote recount polls [--id ID] [--fix] [--json]`: rebuild every poll's counters from the
stored votes and compare them with the live ones (one `RecountReport` per poll; `--fix` writes
the recount).

The vote path stores the response first and then `$inc`s the counters; a process that dies in
between leaves a counter one short. This is the proof (and the repair) that every counter can
be rebuilt from `poll_responses`.
"""

from __future__ import annotations

from typing import Any

from livevote.errors import NotFound
from livevote.infra.mongo import Doc
from livevote.infra.recount import Difference, RecountReport, add_recount_command
from livevote.infra.validation import object_id
from livevote.polls.repository import PollRepository


def _recounted(doc: Doc, counted: dict[tuple[str, int], int]) -> dict[str, int]:
    """The poll's votes per option ("0", "1", ...) as its stored votes say."""
    return {str(i): counted.get((doc["key"], i), 0) for i in range(len(doc["options"]))}


def _compare(doc: Doc, recounted: dict[str, int]) -> RecountReport:
    stored_votes = doc.get("votes") or {}
    differences = []
    for option, votes in recounted.items():
        stored = int(stored_votes.get(option, 0))
        if stored != votes:
            differences.append(Difference(f"option {option}", {"votes": stored}, {"votes": votes}))
    total = int(doc.get("total", 0))
    if total != sum(recounted.values()):
        differences.append(
            Difference("total", {"votes": total}, {"votes": sum(recounted.values())})
        )
    return RecountReport("polls", doc["key"], consistent=not differences, differences=differences)


async def recount(db: Any, *, scope_id: str | None, fix: bool) -> list[RecountReport]:
    """One report per poll (only `scope_id` when given; an unknown id is NotFound): its stored
    counters against the votes in `poll_responses`. With `fix`, differing counters are
    replaced by the recount and the report is marked fixed."""
    repo = PollRepository(db)
    key = str(object_id(scope_id, "poll")) if scope_id is not None else None
    docs = await repo.all_counters(key)
    if key is not None and not docs:
        raise NotFound(f"poll {key!r} not found")
    counted = await repo.votes_per_option(key)
    reports = []
    for doc in docs:
        recounted = _recounted(doc, counted)
        report = _compare(doc, recounted)
        if fix and not report.consistent:
            await repo.replace_counters(doc["key"], recounted)
            report.fixed = True
        reports.append(report)
    return reports


def add_recount(domains: Any) -> None:
    """Add `polls` under the `livevote recount` subparsers."""
    add_recount_command(
        domains, "polls", "recount poll vote counters from the stored votes", recount
    )
