"""Poll votes counted exactly once, at a flat cost: infra/batchcount.py applied to polls.

A vote is stored by one write and counted by another; a crash or an outage in between leaves
it stored but not counted, and whoever meets it next (the client's retry, `livevote recount
polls --fix`) finishes the count, never twice. No per-vote marker goes into the hot poll
document: the markers live in bounded documents.

    store   the votes go into poll_responses in one unordered write, each carrying the id of
            its counting batch (`batch`, a fresh id per write)
    record  one poll_batches record of the batch: its increments (`votes.<i>`, `total`)
    apply   one check-and-set on the poll document moves its chain (`last_batch`, `batch_seq`)
            and `$inc`s the counters: infra/batchcount.py says why it can only happen once

A vote is counted ⟺ its batch is applied. Finishing a stored vote (`finish`) looks at its
batch: applied → done; pending (recorded) → apply it; missing (its writer died, or is slow,
between store and record) → after a short grace, void it so that a late writer's record is
refused; void → move the vote alone into a new batch. The new batch is recorded *before* the
vote points at it (a check-and-set on the vote's `batch`), so a batch that a vote points at is
never missing for that reason, and a batch that lost the race (no vote points at it) is
voided. A batch is only ever applied by someone holding a vote that points at it.

Cost per write: store + record + apply (batchcount: ~5 operations) + one read of the counters
for the stats cache, whatever the number of votes in the write and in the poll.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

from livevote.errors import ServiceUnavailable
from livevote.infra.batchcount import State
from livevote.infra.hooks import NO_HOOKS, Hooks
from livevote.infra.mongo import Doc
from livevote.infra.resources import utc_now
from livevote.polls.repository import (
    NewVote,
    PollRepository,
    StoredResponse,
    new_batch_id,
    vote_increments,
)

MISSING_GRACE_S = 0.25  # how long a finisher waits for a live writer to record its batch
GRACE_STEP_S = 0.025
FINISH_ATTEMPTS = 50  # each failed attempt means another finisher moved the vote: progress


@dataclass(frozen=True)
class VoteOutcome:
    """One vote's outcome: `earlier` is the user's earlier response when the vote was refused
    (a 409), else None (stored and counted); `counters` are the poll's counters read after its
    batch was counted (None when nothing was counted)."""

    earlier: StoredResponse | None
    counters: Doc | None


class VoteWriter(Protocol):
    """What the service submits a vote to: `VoteCounting` itself (one write per vote), or a
    group commit over `VoteCounting.store_and_count` (one write per batch of concurrent
    votes of a poll: infra/groupcommit.py)."""

    async def submit(self, key: str, item: NewVote) -> VoteOutcome: ...


class VoteCounting:
    """Hook points (infra/hooks.py): `poll.vote.before_store`, `poll.vote.after_store`,
    `poll.vote.after_record`, and batchcount's `batch.after_seal`, `batch.after_apply`."""

    def __init__(self, repo: PollRepository, hooks: Hooks = NO_HOOKS) -> None:
        self.repo = repo
        self.hooks = hooks

    async def submit(self, key: str, item: NewVote) -> VoteOutcome:
        """One vote, written alone."""
        (outcome,) = await self.store_and_count(key, [item])
        return outcome

    async def store_and_count(self, key: str, votes: list[NewVote]) -> list[VoteOutcome]:
        """Store the votes of one poll (the group commit's flush) as one batch and count it:
        one unordered insert (a duplicate fails alone), one record, one apply, one read."""
        self.hooks.reached("poll.vote.before_store")
        batch = new_batch_id()
        earlier = await self.repo.store_votes(poll_key=key, votes=votes, batch=batch, now=utc_now())
        stored = [v for v, e in zip(votes, earlier, strict=True) if e is None]
        counters = None
        if stored:
            self.hooks.reached("poll.vote.after_store")
            await self.count_batch(key, batch, stored)
            counters = await self.repo.counters(key)
        return [VoteOutcome(e, None if e else counters) for e in earlier]

    async def count_batch(self, key: str, batch: str, stored: list[NewVote]) -> None:
        """The writer's count of the votes it stored in `batch`: record, then apply."""
        inc = vote_increments(v.option_index for v in stored)
        state = await self.repo.record_batch(key, batch, inc)
        self.hooks.reached("poll.vote.after_record")
        if state is State.PENDING:
            state = (await self.repo.apply_batch(key, batch)).state
        if state is not State.APPLIED:
            # A finisher voided the batch while this writer was slow: each vote is moved
            # into a batch of its own (the finisher may have moved some already).
            for vote in stored:
                response = await self.repo.response(poll_key=key, user_id=vote.user_id)
                if response is not None:
                    await self.finish(key, response)

    async def finish(self, key: str, response: StoredResponse) -> None:
        """Make sure a stored vote is counted, exactly once (see the module docstring)."""
        if response.kind != "vote" or response.batch is None or response.option_index is None:
            return  # a skip, or a vote stored before batches (the old $inc counted it)
        batch, waited = response.batch, 0.0
        for _ in range(FINISH_ATTEMPTS):
            state = await self.repo.batch_state(key, batch)
            while state is State.MISSING and waited < MISSING_GRACE_S:
                await asyncio.sleep(GRACE_STEP_S)
                waited += GRACE_STEP_S
                state = await self.repo.batch_state(key, batch)
            if state is State.MISSING:
                state = await self.repo.void_missing_batch(key, batch)
            if state is State.PENDING:
                state = (await self.repo.apply_batch(key, batch)).state
            if state is State.APPLIED:
                return
            if state is State.PENDING:  # refused: the poll is gone
                return
            # void: this batch never applies, so the vote moves to a new one
            moved = await self._rebatch(key, response, batch)
            if moved is None:  # another finisher moved it first: follow the vote
                moved = await self.repo.response_batch(response.id)
                if moved is None:
                    return
            batch = moved
        raise ServiceUnavailable("counting is very busy; retry")

    async def _rebatch(self, key: str, response: StoredResponse, old: str) -> str | None:
        """Move the vote from `old` to a new batch recorded first; None if it was moved away."""
        assert response.option_index is not None
        new = new_batch_id()
        await self.repo.record_batch(key, new, vote_increments([response.option_index]))
        if await self.repo.move_vote(response.id, from_batch=old, to_batch=new):
            return new
        await self.repo.void_unused_batch(key, new)
        return None
