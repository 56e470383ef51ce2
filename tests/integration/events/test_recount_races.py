"""`recount --fix` racing votes that are between the steps of their batch (events/recount.py,
votes.py, infra/batchcount.py). The chaos votes run once ended with one team tally differing
from its stored votes right after the host's recount (`event_tally_drift_after_recount == 1`).

Found: a fix whose first read showed no difference returned at once, leaving a vote whose
batch was still "in flight" (record missing or pending for less than STRANDED_AFTER, 30 s)
to its writer — and when that writer had died (an outage or a crash between the steps, and no
client retry) the vote stayed stored but uncounted after the fix, although the recount's
contract is to finish it "as a client's retry would". Now the fix settles in-flight votes
whenever it runs.

Found too: the report (with or without --fix) took every stranded pending batch for refused,
so it promised no difference for a batch whose window was still open, which the fix then
applied.

Pinned: a fix racing a vote held at every step of its batch corrects by the exact amount and
the vote is counted once (the correcting batch is guarded by the chain position it read)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from bson import ObjectId
from pymongo import AsyncMongoClient

from livevote.events import recount as recounting
from livevote.events.recount import recount_event
from livevote.events.repository import EventRepository
from livevote.events.votes import CRASH_POINTS
from tests.support.events import join, live_event, new_event, open_voting_for
from tests.support.faults import FaultInjector, PauseAt
from tests.support.http import assert_problem, http_client
from tests.support.servers import RunningServer, ServerFactory


async def tally(db: Any, eid: str, team: str) -> tuple[int, int]:
    doc = await db["events"].find_one({"_id": ObjectId(eid)})
    row = doc["tally"][team]
    return int(row["votes"]), int(row["score_sum"])


async def stored(db: Any, eid: str, team: str) -> tuple[int, int]:
    scores = [
        int(v["score"]) async for v in db["event_votes"].find({"event_id": eid, "team_id": team})
    ]
    return len(scores), sum(scores)


async def first_vote_counted(
    client: httpx.AsyncClient,
) -> tuple[dict[str, Any], str, str, dict[str, Any]]:
    """A live event with one team whose first vote (2 points) is counted — so that the next
    apply seals a batch — and a second attendee: (host, event id, team id, second)."""
    host, ev, team = await live_event(client)
    first, second = await join(client, ev["code"]), await join(client, ev["code"])
    r = await client.post(
        f"/api/events/{ev['id']}/votes",
        json={"team_id": team, "score": 2},
        headers=first["headers"],
    )
    assert r.status_code == 201
    return host, ev["id"], team, second


@pytest.fixture
async def db_of() -> AsyncIterator[Any]:
    clients: list[AsyncMongoClient[Any]] = []

    def open_db(running: RunningServer) -> Any:
        mc: AsyncMongoClient[Any] = AsyncMongoClient(running.settings.mongo.uri, tz_aware=True)
        clients.append(mc)
        return mc[running.settings.mongo.database]

    yield open_db
    for mc in clients:
        await mc.close()


@pytest.mark.parametrize("point", ["events.vote.after_insert", "events.vote.after_record"])
async def test_fix_finishes_a_young_vote_whose_writer_died(
    make_server: ServerFactory, db_of: Any, point: str
) -> None:
    """The writer dies between the steps (no client retry follows) and the host recounts at
    once: before, the fix saw no difference (the vote was "in flight") and left it stored
    but uncounted; now it finishes it as a retry would."""
    faults = FaultInjector(CRASH_POINTS)
    running = make_server(hooks=faults)
    db = db_of(running)
    async with http_client(running.url) as client:
        host, eid, t0, b = await first_vote_counted(client)
        url = f"/api/events/{eid}/votes"
        faults.arm(point, times=1)
        r = await client.post(url, json={"team_id": t0, "score": 5}, headers=b["headers"])
        assert_problem(r, 500, "simulated-crash")
        assert await stored(db, eid, t0) == (2, 7) and await tally(db, eid, t0) == (1, 2)

        r = await client.post(f"/api/events/{eid}/recount", headers=host["headers"])
        assert r.status_code == 200, r.text
        assert await tally(db, eid, t0) == await stored(db, eid, t0) == (2, 7)
        again = await recount_event(EventRepository(db), eid, fix=False)
        assert again.consistent and again.notes == [], again
        # the client's late retry finds it counted
        r = await client.post(url, json={"team_id": t0, "score": 5}, headers=b["headers"])
        assert_problem(r, 409, "already-voted")
        assert await tally(db, eid, t0) == (2, 7)


async def test_report_counts_a_stranded_batch_whose_window_is_still_open(
    make_server: ServerFactory, db_of: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A recorded batch left pending (its writer died) while its window is still open: the
    fix applies it, so the report (fix or not) must say the vote will count. It counted every
    stranded pending batch as refused, so the report promised no difference."""
    monkeypatch.setattr(recounting, "STRANDED_AFTER", -1.0)  # every unfinished batch is old
    faults = FaultInjector(CRASH_POINTS)
    running = make_server(hooks=faults)
    db = db_of(running)
    async with http_client(running.url) as client:
        _, eid, t0, b = await first_vote_counted(client)
        faults.arm("events.vote.after_record", times=1)
        r = await client.post(
            f"/api/events/{eid}/votes", json={"team_id": t0, "score": 5}, headers=b["headers"]
        )
        assert_problem(r, 500, "simulated-crash")
    repo = EventRepository(db)
    report = await recount_event(repo, eid, fix=False)
    want = [(f"team {t0}", {"votes": 1, "score_sum": 2}, {"votes": 2, "score_sum": 7})]
    assert [(d.what, d.stored, d.counted) for d in report.differences] == want
    fixed = await recount_event(repo, eid, fix=True)
    assert fixed.fixed and fixed.differences == report.differences
    assert await tally(db, eid, t0) == await stored(db, eid, t0) == (2, 7)


@pytest.mark.parametrize(
    "point",
    [
        "events.vote.after_insert",
        "events.vote.after_record",
        "batch.after_seal",
        "batch.after_apply",
    ],
)
async def test_fix_racing_a_vote_held_between_its_steps_corrects_exactly(
    make_server: ServerFactory, db_of: Any, point: str
) -> None:
    """A tally off by +3 votes (as a lost or doubled count would leave it) is fixed while
    another vote is held at `point`: the correcting batch takes off exactly the 3, the held
    vote is counted once whoever finishes it (the fix or its writer, released after)."""
    pause = PauseAt()
    running = make_server(hooks=pause)
    db = db_of(running)
    async with http_client(running.url) as client:
        _, eid, t0, b = await first_vote_counted(client)
        url = f"/api/events/{eid}/votes"
        await db["events"].update_one(
            {"_id": ObjectId(eid)}, {"$inc": {f"tally.{t0}.votes": 3, f"tally.{t0}.score_sum": 9}}
        )
        pause.arm(point)
        held = asyncio.create_task(
            client.post(url, json={"team_id": t0, "score": 4}, headers=b["headers"])
        )
        try:
            await pause.held()  # the whole server waits at `point`
            report = await recount_event(EventRepository(db), eid, fix=True)
            assert report.fixed
        finally:
            pause.release()
        r = await held
        assert r.status_code == 201, r.text
        assert await tally(db, eid, t0) == await stored(db, eid, t0) == (2, 6)
        again = await recount_event(EventRepository(db), eid, fix=False)
        assert again.consistent and again.notes == [], again


async def test_host_recount_answers_while_votes_keep_coming(
    client: httpx.AsyncClient, server: RunningServer, server_db: Any
) -> None:
    """Recounts interleaved with a stream of votes (each fix settles whatever is in flight):
    every vote acknowledged, counted once, and the tally equals the stored votes."""
    host, ev = await new_event(client, teams=1)
    eid, t0 = ev["id"], ev["teams"][0]["id"]
    async with http_client(server.url) as burst:
        voters = await asyncio.gather(*(join(burst, ev["code"]) for _ in range(60)))
    await open_voting_for(client, host, eid, t0)
    async with http_client(server.url) as burst:
        votes = [
            burst.post(
                f"/api/events/{eid}/votes",
                json={"team_id": t0, "score": 1 + i % 5},
                headers=v["headers"],
            )
            for i, v in enumerate(voters)
        ]
        recounts = [
            client.post(f"/api/events/{eid}/recount", headers=host["headers"]) for _ in range(6)
        ]
        answers = await asyncio.gather(*votes, *recounts)
    assert [r.status_code for r in answers[:60]] == [201] * 60
    assert {r.status_code for r in answers[60:]} <= {200, 503}
    assert await tally(server_db, eid, t0) == await stored(server_db, eid, t0) == (60, 180)
