"""The cost of a poll vote in MongoDB commands (a CommandListener on a real client): flat in
the number of votes the poll has, and flat per batch in the batch's size (group commit)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from bson import ObjectId
from pymongo import AsyncMongoClient, monitoring

from livevote.polls.counting import VoteCounting
from livevote.polls.repository import NewVote, PollRepository
from tests.support.servers import Backing


class Commands(monitoring.CommandListener):
    def __init__(self) -> None:
        self.names: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.names.append(event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        return None

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        return None


@pytest.fixture
async def counted(stack: Backing) -> AsyncIterator[tuple[Any, Commands]]:
    commands = Commands()
    client: AsyncMongoClient[Any] = AsyncMongoClient(stack.mongo_uri, event_listeners=[commands])
    db = client[f"cost_{uuid.uuid4().hex[:8]}"]
    try:
        yield db, commands
    finally:
        await client.drop_database(db.name)
        await client.close()


async def test_a_flush_costs_the_same_whatever_its_size_and_the_poll_size(
    counted: tuple[Any, Commands],
) -> None:
    db, commands = counted
    repo = PollRepository(db)
    counting = VoteCounting(repo)
    poll = await repo.insert_poll(
        title="cost", options=["a", "b", "c"], tags=[], user_id="o", now=datetime.now(UTC)
    )
    costs: dict[int, set[int]] = {}
    for size in (1, 1, 10, 100, 1, 200, 1):
        votes = [NewVote(str(ObjectId()), i % 3) for i in range(size)]
        commands.names.clear()
        outcomes = await counting.store_and_count(poll["key"], votes)
        assert all(o.earlier is None for o in outcomes)
        costs.setdefault(size, set()).add(len(commands.names))
    # insert_many, record, apply (read batch, read chain, seal, read own state, check-and-set),
    # read the counters: the first batch has nothing to seal
    assert costs == {1: {7, 8}, 10: {8}, 100: {8}, 200: {8}}, costs
    doc = await db["polls"].find_one({"key": poll["key"]})
    assert doc["total"] == 4 + 10 + 100 + 200
