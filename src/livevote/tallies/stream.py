"""Live election results over SSE, through the shared broadcaster (infra/broadcaster.py).

Channel `election:<id>`: the broadcaster watches `election_totals` (one change stream per
process); a change to shard `<election_id>:<city>:<bucket>` marks that election's channel
dirty, and the builder sums the shards into the snapshot below (coalesced to at most
`sse.max_updates_per_second` rebuilds, whatever the report rate). Payload (`event: state`):

    {election_id, name, parties, colours: {party: "#rrggbb"}, national: {votes: {party: n},
     reported_boxes, expected_boxes}, cities: [{name, votes, reported_boxes, expected_boxes}],
     latest: [{report_id, ballot_box_id, city, votes, kind, received_at, status, corrects?}]}

Each rebuild reads fresh (not the read cache: it runs right after a change, possibly before
the change counter moved); the shards exist only for boxes that reported.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bson import ObjectId

from livevote.infra.broadcaster import Broadcaster, Doc, document_id
from livevote.tallies.reads import ElectionReads
from livevote.tallies.repository import ElectionRepository

PREFIX = "election:"


def channel_key(election_id: str) -> str:
    return f"{PREFIX}{election_id}"


def install(b: Broadcaster) -> None:
    repo = ElectionRepository(b.db)
    reads = ElectionReads(b.db, repo)

    async def keys_for(change: Doc) -> Iterable[str] | None:
        shard = document_id(change)
        if not shard or ":" not in shard:
            return None
        return (channel_key(shard.split(":", 1)[0]),)

    async def build(key: str) -> dict[str, Any] | None:
        election_id = key[len(PREFIX) :]
        if not ObjectId.is_valid(election_id):
            return None
        election = await repo.election(ObjectId(election_id))
        if election is None:
            return None
        return await reads.snapshot(election, fresh=True)

    b.watch("election_totals", keys_for)
    b.channel(PREFIX, build)
