"""Casting a vote: one vote per attendee per team, counted exactly once, only while voting is
open for that team, at a flat cost per vote.

Where each rule lives:
- one vote per attendee per team: the unique index (event_id, team_id, attendee_id) on
  event_votes (indexes/event_votes.json); a second vote → 409 already-voted.
- counted exactly once, only while open: votes are counted in batches on the event document
  through infra/batchcount.py (repository.record_batch / apply_batch). A vote document names
  its batch (`batch`), the batch record holds the increments (`tally.<team>.votes`,
  `tally.<team>.score_sum`, `vote_seq`), and a batch applies only under the guard
  `{voting_open: true, voting_team: T, voting_gen: G}` (repository.voting_guard), G being the
  voting window the votes were admitted in. Every open, close, stage switch and end bumps
  `voting_gen` in the same single-document write, so a guard that fails once fails for ever:
  the refused batch is voided (it can never apply) and its votes are deleted → 409
  voting-closed.
- flat: nothing per vote is written to the event document; a batch costs the same few
  operations (insert_many, record, then read, seal and one check-and-set in `apply`) whatever
  its size and however many votes the event has seen.

Batches: `count_ballots` is the group commit flush of event votes (service.EventService wires
infra/groupcommit.py, key = the event): the votes that arrive while the event's previous batch
is being written form the next batch; without group commit each vote is a batch of one. A
duplicate fails alone in the batch (DUPLICATE) and its own request settles the stored vote
before answering 409 already-voted (or voting-closed if that vote was refused meanwhile).

The order of a batch, and why it is exact:
  1. insert the votes with their batch id (one unordered insert: a duplicate fails alone);
  2. record the batch (pending, with its increments, team and window);
  3. apply it: one check-and-set on the event document, atomic with the host's close (a
     single write of the same document). The votes are accepted at that instant, or refused.
A crash or an outage between two steps leaves votes in a batch that is missing, pending or
void. `settle` brings such a vote to its end exactly once; a client's retry runs it (its
duplicate insert finds the stored vote), and so does `recount --fix` for votes nobody retried:
- batch applied → counted;
- batch pending → apply it (any number of appliers apply a batch once);
- batch record missing → wait GRACE_SECONDS for its writer, then void it (the record's unique
  `_id` decides between a late writer and the voider);
- batch void, or no batch (a vote stored before batches existed that no `counted.<id>`
  marker shows as counted) → move the vote into a batch of its own with a check-and-set on
  its `batch` field (one mover wins) and count that batch under the window open now.
So every 201 was counted while voting was open for its team, once the host's close has
returned no tally changes, and a retry finishes a stored vote exactly once however many
retries race. The alternative (check first, then insert, then `$inc`) lets votes admitted
just before the close land after it.
"""

from __future__ import annotations

import asyncio
import functools
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from bson import ObjectId

from livevote.errors import Conflict, Forbidden, NotFound, ServiceUnavailable
from livevote.events.jury_rules import vote_points
from livevote.events.repository import EventRepository, voting_guard, window_of
from livevote.infra import metrics
from livevote.infra.auth import Principal
from livevote.infra.batchcount import State
from livevote.infra.mongo import Doc

# Vote pre-checks read the event through this short cache (see _event_for_vote).
VOTE_CACHE_SECONDS = 2.0
_vote_cache: dict[str, tuple[float, Doc]] = {}
_vote_reads: dict[str, asyncio.Task[Doc | None]] = {}  # the read in flight per event
# How long a vote's batch may stay unrecorded before a retry gives up on its writer.
GRACE_SECONDS = 2.0
SETTLE_STEPS = 400


class Fate(StrEnum):
    COUNTED = "counted"
    ALREADY_VOTED = "already-voted"
    VOTING_CLOSED = "voting-closed"
    DUPLICATE = "duplicate"  # stored already: the submitter settles the stored vote


# Named points where a crash leaves interesting state (infra/hooks.py; tests and chaos runs).
CRASH_POINTS = (
    "events.vote.after_insert",  # votes stored, their batch not recorded
    "events.vote.after_record",  # batch recorded, not applied
    "events.join.after_insert",  # attendees stored, their batch not recorded
    "batch.after_seal",  # infra/batchcount: the previous batch sealed, this one not applied
    "batch.after_apply",  # infra/batchcount: applied, the answer not given
)


@dataclass(frozen=True)
class Ballot:
    """A vote that passed the pre-checks, admitted in voting window `gen`."""

    team_id: str
    attendee_id: str
    score: int
    gen: int
    at: datetime
    receipt_hash: str = ""  # sha-256 of the voter's receipt, for the ledger (ledger.py)


# How cast_vote hands a ballot over: group commit (a batch per event) or a batch of its own.
SubmitVote = Callable[[str, Ballot], Awaitable[Fate]]


def new_batch_id() -> str:
    return str(ObjectId())


def check_attendee(event: Doc, attendee: Principal) -> None:
    if attendee.event_id != str(event["_id"]):
        raise Forbidden("this attendee credential belongs to another event")


def _open_for(event: Doc, team_id: str) -> bool:
    return bool(event.get("voting_open")) and event.get("voting_team") == team_id


async def _event_for_vote(repo: EventRepository, event_id: str, *, fresh: bool) -> Doc:
    """The event as seen by the vote pre-checks, cached for a moment: the pre-checks only
    save work (the batch's guarded check-and-set is authoritative), and a "not open"/"unknown
    team" answer is always re-read fresh before it is given. When the entry expires, the
    votes arriving meanwhile share ONE read (not one each: at 200 in flight that was ~5 % of
    a vote's CPU); a fresh read never joins a read that started before it was asked for."""
    now = time.monotonic()
    hit = None if fresh else _vote_cache.get(event_id)
    if hit is not None and hit[0] > now:
        return hit[1]
    loop = asyncio.get_running_loop()
    read = None if fresh else _vote_reads.get(event_id)
    if read is None or read.get_loop() is not loop:
        read = loop.create_task(repo.get(event_id))
        read.add_done_callback(functools.partial(_read_done, event_id, now))
        _vote_reads[event_id] = read
    event = await asyncio.shield(read)
    if event is None:
        raise NotFound(f"event {event_id!r} not found")
    return event


def _read_done(event_id: str, started: float, read: asyncio.Task[Doc | None]) -> None:
    """The read in flight ends: cached (if it is the latest read of the event) and forgotten."""
    if _vote_reads.get(event_id) is not read:
        return
    del _vote_reads[event_id]
    if read.cancelled() or read.exception() is not None:  # exception(): seen, each waiter raises it
        return
    event = read.result()
    if event is not None:
        if len(_vote_cache) > 10_000:
            _vote_cache.clear()
        _vote_cache[event_id] = (started + VOTE_CACHE_SECONDS, event)


async def cast_vote(
    repo: EventRepository,
    *,
    event_id: str,
    attendee: Principal,
    team_id: str,
    score: int | None,
    now: datetime,
    submit: SubmitVote | None = None,
    scores: dict[str, int] | None = None,
    receipt_hash: str = "",
) -> int:
    """Record one vote (counted in a batch: see the module docstring), or raise 404/422/409;
    returns its points (jury_rules.vote_points). `receipt_hash` is stored with it for the
    ledger (ledger.py)."""
    event = await _event_for_vote(repo, event_id, fresh=False)
    event_id = str(event["_id"])  # canonical form, as stored in the votes
    check_attendee(event, attendee)
    if (event.get("voided") or {}).get(attendee.subject):  # the host voided them: integrity.py
        raise Forbidden("the host has voided this attendee's votes", type="attendee-voided")
    fresh = False
    if team_id not in (event.get("teams") or {}) or not _open_for(event, team_id):
        event, fresh = await _event_for_vote(repo, event_id, fresh=True), True
    if team_id not in (event.get("teams") or {}):
        raise NotFound(f"team {team_id!r} is not part of this event")
    score = vote_points(event, score, scores)  # criteria and bounds (jury_rules.py): 422
    if not _open_for(event, team_id):
        metrics.business("event_vote", "closed")
        raise Conflict("voting for this team is not open", type="voting-closed")
    send = submit or (lambda key, ballot: count_one(repo, key, ballot))
    ballot = Ballot(team_id, attendee.subject, score, window_of(event), now, receipt_hash)
    fate = await send(event_id, ballot)
    if fate is Fate.VOTING_CLOSED and not fresh:
        # The cached window may have closed while a new one opened for this team.
        event = await _event_for_vote(repo, event_id, fresh=True)
        if _open_for(event, team_id) and window_of(event) != ballot.gen:
            fate = await send(event_id, replace(ballot, gen=window_of(event)))
    if fate is Fate.DUPLICATE:  # maybe the retry of a vote whose first attempt was cut short
        fate = await _settle_stored(repo, event_id, ballot)
    if fate is Fate.ALREADY_VOTED:
        metrics.business("event_vote", "duplicate")
        raise Conflict("you already voted for this team", type="already-voted")
    if fate is Fate.VOTING_CLOSED:
        metrics.business("event_vote", "closed")
        raise Conflict("voting for this team is not open", type="voting-closed")
    metrics.business("event_vote")
    return score


async def count_one(repo: EventRepository, event_id: str, ballot: Ballot) -> Fate:
    """A batch of one ballot (when no group commit gathers them)."""
    return (await count_ballots(repo, event_id, [ballot]))[0]


async def count_ballots(repo: EventRepository, event_id: str, ballots: list[Ballot]) -> list[Fate]:
    """Store and count concurrent ballots of one event (the group commit flush of event
    votes): one batch per (team, window), in practice one. One fate per ballot, in order;
    DUPLICATE where this attendee's vote for this team is stored already."""
    fates = [Fate.ALREADY_VOTED] * len(ballots)
    groups: dict[tuple[str, int], list[int]] = {}
    for i, b in enumerate(ballots):
        groups.setdefault((b.team_id, b.gen), []).append(i)
    for (team, gen), places in groups.items():
        group = [ballots[i] for i in places]
        for i, fate in zip(
            places, await _count_group(repo, event_id, team, gen, group), strict=True
        ):
            fates[i] = fate
    return fates


async def _count_group(
    repo: EventRepository, event_id: str, team: str, gen: int, ballots: list[Ballot]
) -> list[Fate]:
    batch = new_batch_id()
    docs = [
        {
            "team_id": b.team_id,
            "attendee_id": b.attendee_id,
            "score": b.score,
            "at": b.at,
            "receipt_hash": b.receipt_hash,
        }
        for b in ballots
    ]
    ids = await repo.insert_votes(event_id, batch, docs)
    stored = [i for i in ids if i is not None]
    fates: dict[ObjectId, Fate] = {}
    if stored:
        repo.hooks.reached("events.vote.after_insert")
        score_sum = sum(b.score for b, i in zip(ballots, ids, strict=True) if i is not None)
        fates = await _count_batch(repo, event_id, batch, team, gen, stored, score_sum)
    return [fates[i] if i is not None else Fate.DUPLICATE for i in ids]


async def _settle_stored(repo: EventRepository, event_id: str, ballot: Ballot) -> Fate:
    """A duplicate's answer, once the stored vote is settled (outside any batch, so that a
    vote waiting for a dead writer never holds up the event's other votes)."""
    doc = await repo.stored_vote(event_id, ballot.team_id, ballot.attendee_id)
    fate = await settle(repo, event_id, doc) if doc is not None else Fate.COUNTED
    return Fate.ALREADY_VOTED if fate is Fate.COUNTED else fate


async def _count_batch(
    repo: EventRepository,
    event_id: str,
    batch: str,
    team: str,
    gen: int,
    vote_ids: list[ObjectId],
    score_sum: int,
) -> dict[ObjectId, Fate]:
    n = len(vote_ids)
    inc = {f"tally.{team}.votes": n, f"tally.{team}.score_sum": score_sum, "vote_seq": n}
    if await repo.record_batch(event_id, batch, inc, "votes", team=team, gen=gen) is State.VOID:
        # A retry gave up waiting for this record and voided the batch: settle each vote.
        return {v: await settle(repo, event_id, await repo.vote(v)) for v in vote_ids}
    repo.hooks.reached("events.vote.after_record")
    return await _apply(repo, event_id, batch, team, gen, vote_ids, inc)


async def _apply(
    repo: EventRepository,
    event_id: str,
    batch: str,
    team: str,
    gen: int,
    vote_ids: list[ObjectId],
    inc: dict[str, int] | None = None,
) -> dict[ObjectId, Fate]:
    """Apply a recorded vote batch under its window; a refused batch is voided (its window
    has passed for ever) and its votes leave, except any that a retry meanwhile moved into a
    batch of its own (those are settled where they are). `inc`: as its writer recorded it."""
    outcome = await repo.apply_batch(event_id, batch, voting_guard(team, gen), inc)
    if outcome.state is State.APPLIED:
        return dict.fromkeys(vote_ids, Fate.COUNTED)
    if outcome.refused and await repo.void_batch(event_id, batch) is State.APPLIED:
        return dict.fromkeys(vote_ids, Fate.COUNTED)
    await repo.delete_batch_votes(event_id, batch)
    fates = dict.fromkeys(vote_ids, Fate.VOTING_CLOSED)
    for doc in await repo.votes_by_id(vote_ids):
        fates[doc["_id"]] = await settle(repo, event_id, doc)
    return fates


async def settle(
    repo: EventRepository, event_id: str, vote: Doc | None, *, grace: float = GRACE_SECONDS
) -> Fate:
    """Bring a stored vote to its end exactly once: COUNTED, or VOTING_CLOSED (deleted)."""
    missing_since: float | None = None
    for step in range(SETTLE_STEPS):
        if vote is None:
            return Fate.VOTING_CLOSED
        vote_id: ObjectId = vote["_id"]
        batch = vote.get("batch")
        fate: Fate | None = None
        if batch is None:  # stored before batches: counted if the old marker says so
            if await repo.has_marker(event_id, vote_id):
                return Fate.COUNTED
            fate = await _rebatch(repo, event_id, vote, None)
        else:
            state = await repo.batch_state(event_id, batch)
            if state is State.APPLIED:
                return Fate.COUNTED
            if state is State.PENDING:
                record = await repo.batch(batch) or {}
                team, gen = str(record.get("team", vote["team_id"])), int(record.get("gen", -1))
                return (await _apply(repo, event_id, batch, team, gen, [vote_id]))[vote_id]
            if state is State.VOID:
                fate = await _rebatch(repo, event_id, vote, batch)
            else:  # MISSING: its writer is between insert and record, or died there
                missing_since = missing_since or time.monotonic()
                if time.monotonic() - missing_since < grace:
                    await asyncio.sleep(random.uniform(0.005, 0.01 * min(step + 1, 10)))
                else:  # a record written meanwhile is left to its writer (it may be applying)
                    await repo.void_batch(event_id, batch, missing_only=True)
        if fate is not None:
            return fate
        vote = await repo.vote(vote_id)
    raise ServiceUnavailable("this vote is still being counted; retry")


async def _rebatch(
    repo: EventRepository, event_id: str, vote: Doc, from_batch: str | None
) -> Fate | None:
    """Move a vote whose batch will never apply into a batch of its own and count it under
    the voting window open now (refused if voting is not open for its team). None when
    another mover won the check-and-set: read the vote again."""
    batch = new_batch_id()
    if not await repo.move_vote(vote["_id"], from_batch, batch):
        return None
    event = await repo.get(event_id)
    gen = window_of(event) if event is not None else -1
    team, score = str(vote["team_id"]), int(vote["score"])
    fates = await _count_batch(repo, event_id, batch, team, gen, [vote["_id"]], score)
    return fates[vote["_id"]]
