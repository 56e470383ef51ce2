"""Joining: new attendees stored in batches and counted on the event's `attendees` counter
through the same exactly-once chain as the votes (infra/batchcount.py).

Why the chain and not a plain `$inc` per batch: the recount can then tell counted attendees
(their batch applied) from attendees whose count is in flight or was lost with a crash, so
`recount --fix` corrects the counter with a correcting batch that cannot race a join, and a
batch is never counted twice. A join carries no guard (an attendee who is stored is counted;
whether the event has ended is checked before, as it always was), so a recorded join batch
always applies. Its cost is the votes' cost per batch, shared by every join of the batch.
"""

from __future__ import annotations

from datetime import datetime

from livevote.errors import ServiceUnavailable
from livevote.events.repository import EventRepository
from livevote.events.votes import new_batch_id
from livevote.infra.batchcount import State
from livevote.infra.mongo import Doc

MOVES = 20


# (name, joined_at, fields): `fields` are admission.py's (the keyed hash of the address)
Joiner = tuple[str | None, datetime, Doc]


async def admit(repo: EventRepository, event_id: str, joiners: list[Joiner]) -> list[str]:
    """Store the joiners as attendees in one batch (one insert_many) and count the batch
    (the group commit flush of joins); their attendee ids, in order."""
    batch = new_batch_id()
    ids = await repo.insert_attendees(event_id, batch, joiners)
    repo.hooks.reached("events.join.after_insert")
    await count_attendees(repo, event_id, batch, len(ids))
    return ids


async def count_attendees(repo: EventRepository, event_id: str, batch: str, n: int) -> None:
    """Record and apply a batch of `n` stored attendees exactly once. A batch voided because
    its record went missing for long (recount.py) hands its attendees to a new batch."""
    for _ in range(MOVES):
        if n == 0:
            return
        inc = {"attendees": n}
        if await repo.record_batch(event_id, batch, inc, "joins") is not State.VOID:
            await repo.apply_batch(event_id, batch, inc=inc)
            return
        moved_to = new_batch_id()
        n = await repo.move_attendees(event_id, batch, moved_to)
        batch = moved_to
    raise ServiceUnavailable("joins keep being moved; retry")
