"""The "at most one" rules of activities under concurrent requests, with exact outcomes."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.support.activities import room


async def test_hundred_attendees_at_once_counted_exactly(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    r = await room(client, attendees=100)
    poll = await r.create(kind="choice", prompt="Pick", options=["A", "B", "C", "D"])
    await r.live(poll["id"])
    answers = await asyncio.gather(
        *(r.answer(a, poll["id"], options=[i % 4]) for i, a in enumerate(r.attendees))
    )
    assert [x.status_code for x in answers] == [201] * 100
    # ...and every one of them again at once: all refused, nothing counted twice
    again = await asyncio.gather(*(r.answer(a, poll["id"], options=[0]) for a in r.attendees))
    assert {x.status_code for x in again} == {409}
    assert {x.json()["type"].split("/")[-1] for x in again} == {"already-answered"}
    res = await r.results(poll["id"])
    assert res["responses"] == 100
    assert [o["count"] for o in res["options"]] == [25, 25, 25, 25]
    stored = await server_db["activity_responses"].count_documents({"activity_id": poll["id"]})
    assert stored == 100
    # batches, not one write per answer
    batches = await server_db["activity_batches"].count_documents({"counter": {"$exists": True}})
    assert 1 <= batches < 100


async def test_answers_racing_the_close_count_exactly_the_accepted_ones(
    client: httpx.AsyncClient,
) -> None:
    r = await room(client, attendees=60)
    rating = await r.create(kind="rating", prompt="Rate", scale=5)
    await r.live(rating["id"])

    async def close_soon() -> None:
        await asyncio.sleep(0.05)
        await r.live(None)

    answers, _ = await asyncio.gather(
        asyncio.gather(*(r.answer(a, rating["id"], value=5) for a in r.attendees)),
        close_soon(),
    )
    codes = [x.status_code for x in answers]
    assert set(codes) <= {201, 409}
    accepted = codes.count(201)
    res = await r.results(rating["id"])
    assert res["responses"] == accepted
    assert res["distribution"][-1]["count"] == accepted
    late = [x for x in answers if x.status_code == 409]
    assert all(x.json()["type"].endswith("/activity-closed") for x in late)


async def test_fifty_concurrent_make_live_leave_one_live(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    r = await room(client)
    ids = [(await r.create(kind="rating", prompt=f"Q{i}"))["id"] for i in range(10)]
    calls = await asyncio.gather(
        *(
            client.put(
                f"/api/events/{r.id}/activity",
                json={"activity_id": ids[i % 10]},
                headers=r.h,
            )
            for i in range(50)
        )
    )
    assert {c.status_code for c in calls} == {200}
    live = await server_db["activities"].count_documents(
        {"event_id": r.id, "live": {"$exists": True}}
    )
    assert live == 1
    listed = (await client.get(f"/api/events/{r.id}/activities", headers=r.h)).json()
    assert [a["id"] for a in listed["items"] if a["live"]] == [listed["live"]]
    assert sum(a["status"] == "live" for a in listed["items"]) == 1
    event = (await client.get(f"/api/events/{r.id}")).json()
    assert event["activity"] == listed["live"]  # the mirror follows the truth
    await r.live(None)
    event = (await client.get(f"/api/events/{r.id}")).json()
    assert event["activity"] is None


async def test_twenty_concurrent_upvotes_by_one_attendee_count_once(
    client: httpx.AsyncClient,
) -> None:
    r = await room(client, attendees=2)
    asker, voter = r.attendees
    q = await client.post(
        f"/api/events/{r.id}/questions",
        json={"text": "Will slides be shared?"},
        headers=asker["headers"],
    )
    assert q.status_code == 201, q.text
    qid = q.json()["id"]
    ups = await asyncio.gather(
        *(
            client.post(f"/api/events/{r.id}/questions/{qid}/upvote", headers=voter["headers"])
            for _ in range(20)
        )
    )
    codes = sorted(u.status_code for u in ups)
    assert codes == [201] + [409] * 19
    listed = (await client.get(f"/api/events/{r.id}/questions")).json()
    assert listed["items"][0]["votes"] == 1
