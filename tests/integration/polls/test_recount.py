"""`livevote recount polls`: counters rebuilt from the stored votes."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from livevote.polls.commands import recount_polls
from tests.support.polls import new_poll
from tests.support.users import register_user


async def test_recount_finds_and_fixes_a_drifted_counter(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    owner = await register_user(client)
    a = await new_poll(client, owner["headers"], "recount a", ["x", "y"])
    b = await new_poll(client, owner["headers"], "recount b", ["x", "y", "z"])
    voters = await asyncio.gather(*(register_user(client) for _ in range(4)))
    for i, v in enumerate(voters):
        for poll in (a, b):
            r = await client.post(
                f"/api/polls/{poll['id']}/vote", json={"optionIndex": i % 2}, headers=v["headers"]
            )
            assert r.status_code == 201
    assert await recount_polls(server_db, poll=a["id"]) == []
    assert await recount_polls(server_db, poll=b["id"]) == []
    # a crash between storing the response and the $inc leaves a counter short
    await server_db["polls"].update_one({"key": b["id"]}, {"$inc": {"votes.1": -1, "total": -1}})
    differences = await recount_polls(server_db, poll=b["id"], fix=True)
    assert len(differences) == 1 and b["id"] in differences[0]
    assert await recount_polls(server_db, poll=b["id"]) == []
    fixed = await server_db["polls"].find_one({"key": b["id"]})
    assert fixed["votes"] == {"0": 2, "1": 2, "2": 0} and fixed["total"] == 4
