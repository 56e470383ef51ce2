"""`livevote recount activities --fix` beside live upvotes: the question's counter ends exact.

An upvote is two writes (its question_votes document, then the counter); a fix that counted
the votes between them, or wrote the counter while increments landed, left it off by one.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from bson import ObjectId

from livevote.activities import recount as recount_module
from livevote.activities.recount import recount
from tests.support.activities import room

UPVOTES = 50


async def test_fix_beside_50_concurrent_upvotes_leaves_the_exact_count(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    r = await room(client, attendees=UPVOTES + 1)
    asker, *voters = r.attendees
    q = await client.post(
        f"/api/events/{r.id}/questions", json={"text": "Race?"}, headers=asker["headers"]
    )
    assert q.status_code == 201
    qid = q.json()["id"]
    # a counter gone wrong (e.g. a writer died between its two writes): the fix repairs it
    await server_db["questions"].update_one({"_id": ObjectId(qid)}, {"$set": {"votes": 7}})
    done = asyncio.Event()
    fixes: list[Any] = []

    async def upvote(voter: dict[str, Any]) -> int:
        resp = await client.post(
            f"/api/events/{r.id}/questions/{qid}/upvote", headers=voter["headers"]
        )
        return resp.status_code

    async def upvotes() -> list[int]:
        try:
            return list(await asyncio.gather(*(upvote(v) for v in voters)))
        finally:
            done.set()

    async def fix_until_done() -> None:
        while not done.is_set():
            fixes.extend(await recount(server_db, scope_id=r.id, fix=True))
            await asyncio.sleep(0)

    statuses, _ = await asyncio.gather(upvotes(), fix_until_done())
    assert statuses == [201] * UPVOTES
    assert any(report.fixed for report in fixes)  # the wrong counter was repaired meanwhile
    stored = await server_db["questions"].find_one({"_id": ObjectId(qid)})
    assert await server_db["question_votes"].count_documents({"question_id": qid}) == UPVOTES
    assert stored["votes"] == UPVOTES, f"{len(fixes)} fixes ran beside the upvotes"
    (report,) = await recount(server_db, scope_id=r.id, fix=False)
    assert report.consistent, report


async def test_an_upvote_in_flight_is_waited_for_and_a_dead_writers_is_settled(
    client: httpx.AsyncClient, server_db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = await room(client, attendees=2)
    asker, voter = r.attendees
    q = await client.post(
        f"/api/events/{r.id}/questions", json={"text": "Ghost?"}, headers=asker["headers"]
    )
    qid = q.json()["id"]
    up = await client.post(f"/api/events/{r.id}/questions/{qid}/upvote", headers=voter["headers"])
    assert up.status_code == 201 and up.json()["votes"] == 1
    # a writer claimed an upvote and stored its vote, but has not counted it (yet)
    await server_db["question_votes"].insert_one({"question_id": qid, "attendee_id": "ghost"})
    now_ms = int(time.time() * 1000)
    claim = {"$inc": {"upvoting": 1, "vote_seq": 1}, "$set": {"upvoting_ms": now_ms}}
    await server_db["questions"].update_one({"_id": ObjectId(qid)}, claim)
    monkeypatch.setattr(recount_module, "SETTLE_SECONDS", 0.3)
    (waiting,) = await recount(server_db, scope_id=r.id, fix=True)
    assert waiting.consistent and not waiting.fixed  # nothing written while it may land
    assert any("in flight" in note for note in waiting.notes)
    # ... it never lands: after STALE_UPVOTE_MS its writer is taken for dead, the vote counts
    old = now_ms - recount_module.STALE_UPVOTE_MS - 1000
    await server_db["questions"].update_one({"_id": ObjectId(qid)}, {"$set": {"upvoting_ms": old}})
    (report,) = await recount(server_db, scope_id=r.id, fix=True)
    assert report.fixed
    (diff,) = report.differences
    assert diff.stored == {"votes": 1, "in_flight": 1} and diff.counted == {"votes": 2}
    stored = await server_db["questions"].find_one({"_id": ObjectId(qid)})
    assert (stored["votes"], stored["upvoting"]) == (2, 0)
