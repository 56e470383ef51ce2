"""An answer whose first attempt died half-way is finished by the retry, exactly once.

The three places a writer can die (counting.py): after storing the response but before
recording its batch, after recording it but before applying it, and after applying it but
before answering. Each is set up as a dying process leaves it, then the attendee retries.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from bson import ObjectId

from livevote.infra.resources import utc_now
from tests.support.activities import Room, room
from tests.support.faults import FaultInjector
from tests.support.http import http_client
from tests.support.servers import RunningServer


async def plant(
    db: Any, r: Room, activity: dict[str, Any], who: dict[str, Any], batch: str, value: int
) -> None:
    await db["activity_responses"].insert_one(
        {
            "_id": ObjectId(),
            "activity_id": activity["id"],
            "event_id": r.id,
            "attendee_id": who["attendee_id"],
            "kind": "rating",
            "value": value,
            "batch": batch,
            "at": utc_now(),
        }
    )


async def test_response_without_batch_record_is_replaced_by_the_retry(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    r = await room(client, attendees=1)
    (a,) = r.attendees
    rating = await r.create(kind="rating", prompt="Rate", scale=5)
    await r.live(rating["id"])
    await plant(server_db, r, rating, a, "never-recorded", 3)
    retry = await r.answer(a, rating["id"], value=5)
    assert retry.status_code == 201, retry.text
    res = await r.results(rating["id"])
    assert res["responses"] == 1
    assert [d["count"] for d in res["distribution"]] == [0, 0, 0, 0, 1]
    void = await server_db["activity_batches"].find_one({"_id": "never-recorded"})
    assert void is not None and void["state"] == "void"  # it can never apply later


async def test_recorded_batch_is_applied_once_by_the_retry(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    r = await room(client, attendees=1)
    (a,) = r.attendees
    rating = await r.create(kind="rating", prompt="Rate", scale=5)
    await r.live(rating["id"])
    await plant(server_db, r, rating, a, "recorded-only", 3)
    await server_db["activity_batches"].insert_one(
        {
            "_id": "recorded-only",
            "counter": ObjectId(rating["id"]),
            "state": "pending",
            "inc": {"tally.n": 1, "tally.r3": 1, "tally.sum": 3},
        }
    )
    for _ in range(3):
        retry = await r.answer(a, rating["id"], value=3)
        assert retry.status_code == 409
        assert retry.json()["type"].endswith("/already-answered")
    res = await r.results(rating["id"])
    assert res["responses"] == 1
    assert res["average"] == 3.0


@pytest.fixture(scope="module")
def faulty(make_server: Callable[..., RunningServer]) -> tuple[RunningServer, FaultInjector]:
    faults = FaultInjector()
    return make_server(hooks=faults), faults


@pytest.fixture
async def fclient(
    faulty: tuple[RunningServer, FaultInjector],
) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(faulty[0].url) as c:
        yield c


async def test_crash_after_counting_then_retry_answers_already_answered(
    fclient: httpx.AsyncClient, faulty: tuple[RunningServer, FaultInjector]
) -> None:
    _, faults = faulty
    r = await room(fclient, attendees=2)
    a, b = r.attendees
    poll = await r.create(kind="choice", prompt="Pick", options=["A", "B"])
    await r.live(poll["id"])
    faults.arm("batch.after_apply", times=1)
    crashed = await r.answer(a, poll["id"], options=[1])
    assert crashed.status_code == 500
    assert crashed.json()["type"].endswith("/simulated-crash")
    retry = await r.answer(a, poll["id"], options=[1])
    assert retry.status_code == 409 and retry.json()["type"].endswith("/already-answered")
    assert (await r.answer(b, poll["id"], options=[0])).status_code == 201
    res = await r.results(poll["id"])
    assert [o["count"] for o in res["options"]] == [1, 1]
    assert res["responses"] == 2
