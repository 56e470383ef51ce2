"""`livevote recount polls`: counters rebuilt from the stored votes (report by default, --fix
repairs)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from bson import ObjectId

from livevote.errors import NotFound
from livevote.infra.recount import Difference
from livevote.polls.recount import UNCOUNTED, recount
from tests.support.polls import CUTS, new_poll, stored_but_uncounted_poll_vote
from tests.support.servers import RunningServer, run_livevote
from tests.support.users import register_user


async def _voted_polls(client: httpx.AsyncClient) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two polls, four voters each: votes 2/2 (a: x, y) and 2/2/0 (b: x, y, z)."""
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
    return a, b


async def _drift(server_db: Any, poll_id: str) -> None:
    """What a crash between storing the response and the $inc leaves: a counter one short."""
    await server_db["polls"].update_one({"key": poll_id}, {"$inc": {"votes.1": -1, "total": -1}})


async def test_recount_finds_and_fixes_a_drifted_counter(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    a, b = await _voted_polls(client)
    for poll in (a, b):
        (report,) = await recount(server_db, scope_id=poll["id"], fix=False)
        assert (report.domain, report.id, report.consistent) == ("polls", poll["id"], True)
    await _drift(server_db, b["id"])
    (found,) = await recount(server_db, scope_id=b["id"], fix=False)
    assert (found.consistent, found.fixed) == (False, False)
    assert found.differences == [
        Difference("option 1", {"votes": 1}, {"votes": 2}),
        Difference("total", {"votes": 3}, {"votes": 4}),
    ]
    assert (await server_db["polls"].find_one({"key": b["id"]}))["total"] == 3  # report only
    (fixed,) = await recount(server_db, scope_id=b["id"], fix=True)
    assert (fixed.consistent, fixed.fixed) == (False, True)
    assert fixed.differences == found.differences
    (again,) = await recount(server_db, scope_id=b["id"], fix=False)
    assert again.consistent
    stored = await server_db["polls"].find_one({"key": b["id"]})
    assert stored["votes"] == {"0": 2, "1": 2, "2": 0} and stored["total"] == 4
    every = {r.id: r.consistent for r in await recount(server_db, scope_id=None, fix=False)}
    assert every[a["id"]] is True and every[b["id"]] is True


async def test_recount_reports_votes_left_uncounted_and_fix_counts_them_once(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    """A crash at either cut leaves votes stored but not counted: the report says so, --fix
    finishes them as a retry would (once, however often it runs); a vote stored before
    batches existed (no `batch`) was counted by the old path and counts as counted."""
    a, _ = await _voted_polls(client)  # 2 / 2
    for cut in CUTS:
        await stored_but_uncounted_poll_vote(server_db, a["id"], str(ObjectId()), 1, cut)
    (found,) = await recount(server_db, scope_id=a["id"], fix=False)
    assert found.differences == [Difference(UNCOUNTED, {"votes": 4}, {"votes": 6})]
    fixes = await asyncio.gather(
        *(recount(server_db, scope_id=a["id"], fix=True) for _ in range(3))
    )
    assert any(r.fixed for (r,) in fixes)
    (again,) = await recount(server_db, scope_id=a["id"], fix=False)
    assert again.consistent and not again.differences, again.lines()
    stored = await server_db["polls"].find_one({"key": a["id"]})
    assert stored["votes"] == {"0": 2, "1": 4} and stored["total"] == 6
    # a vote stored by the old path (counted by its $inc, no batch) counts as counted
    await server_db["poll_responses"].insert_one(
        {"poll_id": a["id"], "user_id": "legacy", "kind": "vote", "option_index": 0}
    )
    await server_db["polls"].update_one({"key": a["id"]}, {"$inc": {"votes.0": 1, "total": 1}})
    (legacy,) = await recount(server_db, scope_id=a["id"], fix=False)
    assert legacy.consistent, legacy.lines()


async def test_recount_of_an_unknown_poll_is_not_found(server_db: Any) -> None:
    with pytest.raises(NotFound):
        await recount(server_db, scope_id=str(ObjectId()), fix=False)
    with pytest.raises(NotFound):
        await recount(server_db, scope_id="not-a-poll-id", fix=False)


async def _cli(server: RunningServer, *args: str) -> tuple[int, str]:
    done = await asyncio.to_thread(run_livevote, server.settings, "recount", "polls", *args)
    return done.returncode, done.stdout + done.stderr


async def test_recount_cli_reports_then_fixes(
    client: httpx.AsyncClient, server: RunningServer, server_db: Any
) -> None:
    _, b = await _voted_polls(client)
    await _drift(server_db, b["id"])
    code, out = await _cli(server, "--id", b["id"], "--json")
    assert code == 1, out
    report = json.loads(out.splitlines()[0])
    assert (report["id"], report["consistent"], report["fixed"]) == (b["id"], False, False)
    code, out = await _cli(server, "--id", b["id"], "--fix")
    assert code == 0, out
    assert f"polls {b['id']}: FIXED" in out and "option 1: stored {'votes': 1}" in out
    code, out = await _cli(server, "--id", b["id"])
    assert code == 0 and f"polls {b['id']}: consistent" in out, out
    code, out = await _cli(server, "--id", str(ObjectId()))
    assert code == 2 and "not found" in out, out
