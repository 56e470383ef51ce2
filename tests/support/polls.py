"""Polls through the API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from livevote.polls.repository import NewVote, PollRepository, new_batch_id, vote_increments

CUTS = ("before_record", "before_apply")  # where a crash can cut a vote's count short


async def new_poll(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    title: str = "Favourite language?",
    options: list[str] | None = None,
    tags: list[str] | None = None,
) -> dict[str, Any]:
    body = {"title": title, "options": options or ["Go", "Python", "Rust"], "tags": tags or []}
    r = await client.post("/api/polls", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def feed(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    r = await client.get("/api/polls", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def stored_but_uncounted_poll_vote(
    db: Any, poll_id: str, user_id: str, option_index: int, cut: str
) -> str:
    """What a crash leaves of a vote, through the real repository writes: the response stored
    in its batch and the process gone `before_record` (no batch record) or `before_apply`
    (the batch recorded, pending). Returns the batch id."""
    repo = PollRepository(db)
    batch = new_batch_id()
    (earlier,) = await repo.store_votes(
        poll_key=poll_id, votes=[NewVote(user_id, option_index)], batch=batch, now=datetime.now(UTC)
    )
    assert earlier is None
    if cut == "before_apply":
        await repo.record_batch(poll_id, batch, vote_increments([option_index]))
    else:
        assert cut == "before_record", cut
    return batch
