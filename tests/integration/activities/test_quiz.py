"""Quiz scoring against a hand-worked example, on the server's injected clock.

Points: a wrong answer 0; a right one 500 + floor(500 × time left / time limit).

Question 1 (limit 20 s, correct "Paris"):
    Ana  right at  5.0 s  → 500 + 500 × 15.0/20 = 875
    Ben  right at 12.5 s  → 500 + 500 ×  7.5/20 = 687.5 → 687
    Cy   wrong at  1.0 s  → 0
Question 2 (limit 10 s, correct "4"):
    Ana  wrong at  2.0 s  → 0
    Ben  right at  0.0 s  → 1000
    Cy   right at 10.0 s  → 500
    Dee  at 10.001 s      → too late: 409 activity-closed
Leaderboard after Q1: Ana 875, Ben 687, Cy 0. At the end: Ben 1687, Ana 875, Cy 500.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from livevote.activities.kinds import score
from tests.support.activities import Room, join, new_event
from tests.support.http import http_client
from tests.support.servers import FakeClock, RunningServer


def test_score_formula() -> None:
    assert score(correct=True, elapsed_ms=0, limit_ms=20_000) == 1000
    assert score(correct=True, elapsed_ms=5_000, limit_ms=20_000) == 875
    assert score(correct=True, elapsed_ms=12_500, limit_ms=20_000) == 687
    assert score(correct=True, elapsed_ms=20_000, limit_ms=20_000) == 500
    assert score(correct=False, elapsed_ms=0, limit_ms=20_000) == 0


@pytest.fixture(scope="module")
def clocked(make_server: Callable[..., RunningServer]) -> RunningServer:
    return make_server(clock=FakeClock())


@pytest.fixture
async def qclient(clocked: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(clocked.url) as c:
        yield c


async def test_quiz_points_and_leaderboard(
    qclient: httpx.AsyncClient, clocked: RunningServer
) -> None:
    clock: FakeClock = clocked.clock
    host, event = await new_event(qclient, teams=1)
    r = Room(qclient, host, event)
    ana, ben, cy, dee = [await join(qclient, event["code"], n) for n in ("Ana", "Ben", "Cy", "Dee")]
    q1 = await r.create(
        kind="quiz",
        prompt="Capital of France?",
        options=["Lyon", "Paris"],
        correct=1,
        time_limit_s=20,
    )
    q2 = await r.create(
        kind="quiz", prompt="2 + 2?", options=["3", "4", "5"], correct=1, time_limit_s=10
    )
    start = clock.now

    async def at(ms: int, who: dict[str, Any], quiz: dict[str, Any], option: int) -> int:
        clock.now = start + timedelta(milliseconds=ms)
        res = await r.answer(who, quiz["id"], option=option)
        return res.status_code

    clock.now = start
    await r.live(q1["id"])
    assert await at(5_000, ana, q1, 1) == 201
    assert await at(12_500, ben, q1, 1) == 201
    assert await at(1_000, cy, q1, 0) == 201
    board = (await qclient.get(f"/api/events/{r.id}/activities/leaderboard")).json()
    assert board["rows"] == [] and board["questions"] == 0  # nothing before the reveal
    mine = await qclient.get(
        f"/api/events/{r.id}/activities/{q1['id']}/response", headers=ana["headers"]
    )
    assert mine.json() == {
        "activity_id": q1["id"],
        "answered": True,
        "correct": None,
        "points": None,
    }
    rv = await qclient.post(f"/api/events/{r.id}/activities/{q1['id']}/reveal", headers=r.h)
    assert rv.status_code == 200 and rv.json()["correct"] == 1
    board = (await qclient.get(f"/api/events/{r.id}/activities/leaderboard")).json()
    assert [(x["nickname"], x["points"], x["rank"]) for x in board["rows"]] == [
        ("Ana", 875, 1),
        ("Ben", 687, 2),
        ("Cy", 0, 3),
    ]
    mine = await qclient.get(
        f"/api/events/{r.id}/activities/{q1['id']}/response", headers=ana["headers"]
    )
    assert mine.json()["points"] == 875 and mine.json()["correct"] is True

    start = start + timedelta(minutes=1)
    clock.now = start
    await r.live(q2["id"])
    assert await at(2_000, ana, q2, 0) == 201
    assert await at(0, ben, q2, 1) == 201
    assert await at(10_000, cy, q2, 1) == 201
    late = await at(10_001, dee, q2, 1)
    assert late == 409
    await qclient.post(f"/api/events/{r.id}/activities/{q2['id']}/reveal", headers=r.h)
    res = await r.results(q2["id"], host=False)
    assert res["correct"] == 1 and [o["count"] for o in res["options"]] == [1, 2, 0]
    board = (await qclient.get(f"/api/events/{r.id}/activities/leaderboard")).json()
    assert board["questions"] == 2
    assert [(x["nickname"], x["points"], x["answers"]) for x in board["rows"]] == [
        ("Ben", 1687, 2),
        ("Ana", 875, 2),
        ("Cy", 500, 2),
    ]
