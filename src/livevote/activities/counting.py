"""Counting responses: admitted once, counted exactly once, only while the activity is live.

Concurrent responses to one activity are written together (infra/groupcommit.py, keyed by
activity) and counted as ONE batch (infra/batchcount.py) whose counter is the activity
document itself:

1. `insert_many(ordered=False)` of the batch's responses, each marked with the batch id; the
   unique index (activity_id, attendee_id) refuses a second response → 409 already-answered
   for that request alone;
2. the batch is recorded with the sum of its increments (`tally.*`);
3. it is applied by ONE check-and-set on the activity document guarded by
   `{live: <present>, live_gen: G}` — the same document the host's "make live"/"close" writes,
   so a batch is counted only while its activity is live, and once the close has returned
   no counter moves any more;
4. a refused batch is voided and its responses deleted → 409 activity-closed.

A response stored by a request whose answer was lost (crash, outage) is finished by the
attendee's retry: its batch is applied if still pending (exactly once, batchcount's chain),
or, if it was voided or never recorded, the stale response is removed and the retry is
counted afresh. `recount` counts only responses whose batch was applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId

from livevote.activities import kinds
from livevote.activities.repository import ActivityRepository
from livevote.errors import Conflict
from livevote.infra.batchcount import State
from livevote.infra.groupcommit import GroupCommit, GroupCommits
from livevote.infra.mongo import Doc

KIND = "activity_responses"


@dataclass(frozen=True)
class Answer:
    """One attendee's checked answer, waiting for its batch."""

    event_id: str
    attendee_id: str
    kind: str
    live_gen: int
    fields: dict[str, Any]
    inc: dict[str, int]
    words: dict[str, str]  # word key -> spelling shown (wordcloud)
    at: datetime


class Again(Exception):
    """A stale response of this attendee was removed: submit the answer once more."""


def closed() -> Conflict:
    return Conflict("this activity is not live", type="activity-closed")


def already() -> Conflict:
    return Conflict("you already answered this activity", type="already-answered")


def _guard(live_gen: int) -> Doc:
    return {"live": {"$exists": True}, "live_gen": live_gen}


def responses_commit(
    commits: GroupCommits, repo: ActivityRepository
) -> GroupCommit[str, Answer, bool]:
    """The app's group commit for responses (one per app, made on first use)."""

    async def flush(activity_id: str, answers: list[Answer]) -> list[bool | BaseException]:
        return await write_batch(repo, activity_id, answers)

    return commits.get(KIND, lambda: GroupCommit(KIND, flush, max_batch=256))


async def write_batch(
    repo: ActivityRepository, activity_id: str, answers: list[Answer]
) -> list[bool | BaseException]:
    results: list[bool | BaseException] = [closed()] * len(answers)
    by_gen: dict[int, list[int]] = {}
    for i, a in enumerate(answers):
        by_gen.setdefault(a.live_gen, []).append(i)
    for gen, positions in by_gen.items():
        outcome = await _write_generation(repo, activity_id, gen, [answers[i] for i in positions])
        for i, result in zip(positions, outcome, strict=True):
            results[i] = result
    return results


async def _write_generation(
    repo: ActivityRepository, activity_id: str, gen: int, answers: list[Answer]
) -> list[bool | BaseException]:
    batch_id = str(ObjectId())
    docs = [
        {
            "_id": ObjectId(),
            "activity_id": activity_id,
            "event_id": a.event_id,
            "attendee_id": a.attendee_id,
            "kind": a.kind,
            **a.fields,
            "batch": batch_id,
            "at": a.at,
        }
        for a in answers
    ]
    duplicates = await repo.insert_responses(docs)
    results: list[bool | BaseException] = [True] * len(answers)
    inserted = [i for i in range(len(answers)) if i not in duplicates]
    if inserted:
        accepted = await _count(repo, activity_id, batch_id, gen, [answers[i] for i in inserted])
        for i in inserted:
            results[i] = True if accepted else closed()
    for i in duplicates:
        results[i] = await _resolve_duplicate(repo, activity_id, answers[i])
    return results


async def _count(
    repo: ActivityRepository, activity_id: str, batch_id: str, gen: int, answers: list[Answer]
) -> bool:
    inc: dict[str, int] = {}
    words: dict[str, str] = {}
    for a in answers:
        kinds.add(inc, a.inc)
        for key, word in a.words.items():
            words.setdefault(key, word)
    await repo.remember_words(activity_id, words)
    counter = repo.counter
    state = await counter.record(
        ObjectId(activity_id), batch_id, {f"tally.{k}": v for k, v in inc.items()}
    )
    if state is State.PENDING:
        outcome = await counter.apply(ObjectId(activity_id), batch_id, _guard(gen))
        if outcome.state is State.APPLIED:
            return True
        state = await counter.void(ObjectId(activity_id), batch_id)
        if state is State.APPLIED:
            return True
    await repo.delete_batch_responses(batch_id)  # refused or voided: never counted
    return False


async def _resolve_duplicate(
    repo: ActivityRepository, activity_id: str, answer: Answer
) -> bool | BaseException:
    """A response of this attendee is stored already: answer 409 already-answered once it is
    counted (finishing its batch if need be), or clear it away for a retry if it never will."""
    stored = await repo.response_of(activity_id, answer.attendee_id)
    if stored is None:
        return Again()  # removed meanwhile (its batch was refused)
    counter, key, batch = repo.counter, ObjectId(activity_id), str(stored.get("batch") or "")
    state = await counter.state(key, batch)
    if state is State.PENDING:
        outcome = await counter.apply(key, batch, _guard(answer.live_gen))
        state = outcome.state if not outcome.refused else await counter.void(key, batch)
    elif state is State.MISSING:
        state = await counter.void(key, batch)
    if state is State.APPLIED:
        return already()
    await repo.delete_response(stored["_id"])
    return Again()
