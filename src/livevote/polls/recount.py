"""`livevote recount polls [--id ID] [--fix] [--json]`: rebuild every poll's counters from the
stored votes and compare them with the live ones (one `RecountReport` per poll).

A vote is counted when its batch is applied (counting.py), so the counters must equal the votes
whose batch is applied (plus votes stored before batches existed, which the old `$inc`
counted). Two kinds of difference are reported:
- "votes stored but not counted": votes whose batch is not applied (a crash between the two
  writes, or a write still in flight); `--fix` finishes counting them exactly as a retry would.
- a counter that the applied votes do not support (an option or the total); `--fix` writes the
  recount, with a check-and-set on the poll's `last_batch` so that no batch applied meanwhile
  is overwritten (the recount is then taken again).
"""

from __future__ import annotations

from typing import Any

from livevote.errors import NotFound, ServiceUnavailable
from livevote.infra.mongo import Doc
from livevote.infra.recount import Difference, RecountReport, add_recount_command
from livevote.infra.validation import object_id
from livevote.polls.counting import VoteCounting
from livevote.polls.repository import PollRepository, StoredResponse

FIX_ATTEMPTS = 20
UNCOUNTED = "votes stored but not counted"


class Tally:
    """One poll's votes: per option those counted (batch applied), and those not yet."""

    def __init__(self, doc: Doc, applied: set[str]) -> None:
        self.doc = doc
        self.applied = applied
        self.counted = {str(i): 0 for i in range(len(doc["options"]))}
        self.uncounted: list[StoredResponse] = []

    def add(self, vote: StoredResponse) -> None:
        if vote.batch is None or vote.batch in self.applied:
            option = str(vote.option_index)
            self.counted[option] = self.counted.get(option, 0) + 1
        else:
            self.uncounted.append(vote)

    def differences(self) -> list[Difference]:
        out = self.counter_differences()
        if self.uncounted:
            counted = sum(self.counted.values())
            stored = counted + len(self.uncounted)
            out.append(Difference(UNCOUNTED, {"votes": counted}, {"votes": stored}))
        return out

    def counter_differences(self) -> list[Difference]:
        """The counters that the counted votes do not support."""
        stored_votes = self.doc.get("votes") or {}
        out = [
            Difference(
                f"option {option}", {"votes": int(stored_votes.get(option, 0))}, {"votes": n}
            )
            for option, n in self.counted.items()
            if int(stored_votes.get(option, 0)) != n
        ]
        total, counted = int(self.doc.get("total", 0)), sum(self.counted.values())
        if total != counted:
            out.append(Difference("total", {"votes": total}, {"votes": counted}))
        return out


async def _tallies(repo: PollRepository, key: str | None) -> list[Tally]:
    docs = await repo.all_counters(key)  # read before the batches: see _fix's check-and-set
    sealed = await repo.sealed_batches(key)
    tallies = {}
    for doc in docs:
        applied = set(sealed.get(doc["key"], set()))
        if doc.get("last_batch"):
            applied.add(str(doc["last_batch"]))
        tallies[doc["key"]] = Tally(doc, applied)
    async for poll, vote in repo.votes(key):
        if poll in tallies:
            tallies[poll].add(vote)
    return list(tallies.values())


async def _fix(repo: PollRepository, tally: Tally) -> list[str]:
    """Finish the uncounted votes, then make the counters equal the applied votes."""
    key, notes = tally.doc["key"], []
    counting = VoteCounting(repo)
    for vote in tally.uncounted:
        await counting.finish(key, vote)
    if tally.uncounted:
        notes.append(f"counted {len(tally.uncounted)} stored vote(s) left uncounted")
    for _ in range(FIX_ATTEMPTS):
        (again,) = await _tallies(repo, key)
        if not again.counter_differences():
            return notes
        last = again.doc.get("last_batch") if "last_batch" in again.doc else None
        if await repo.replace_counters(key, again.counted, last_batch=last):
            return [*notes, "counters replaced by the recount"]
    raise ServiceUnavailable(f"poll {key} kept counting while it was being fixed; retry")


async def recount(db: Any, *, scope_id: str | None, fix: bool) -> list[RecountReport]:
    """One report per poll (only `scope_id` when given; an unknown id is NotFound): its stored
    counters against its counted votes, and its votes not counted yet. With `fix`, the
    uncounted votes are counted, differing counters replaced, and the report marked fixed."""
    repo = PollRepository(db)
    key = str(object_id(scope_id, "poll")) if scope_id is not None else None
    tallies = await _tallies(repo, key)
    if key is not None and not tallies:
        raise NotFound(f"poll {key!r} not found")
    reports = []
    for tally in tallies:
        differences = tally.differences()
        report = RecountReport(
            "polls", tally.doc["key"], consistent=not differences, differences=differences
        )
        if fix and differences:
            report.notes = await _fix(repo, tally)
            report.fixed = True
        reports.append(report)
    return reports


def add_recount(domains: Any) -> None:
    """Add `polls` under the `livevote recount` subparsers."""
    add_recount_command(
        domains, "polls", "recount poll vote counters from the stored votes", recount
    )
