"""Activities and Q&A on an ended event: creating, making live, answering, asking and
upvoting are refused (409 event-ended, problem+json) and nothing is written; reading and
closing the live activity still work."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.activities import room
from tests.support.http import assert_problem


async def test_an_ended_event_refuses_every_activity_write(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    r = await room(client, attendees=2)
    a, b = r.attendees
    draft = await r.create(kind="rating", prompt="Later?", scale=5)
    poll = await r.create(kind="choice", prompt="Now?", options=["Yes", "No"])
    await r.live(poll["id"])
    assert (await r.answer(a, poll["id"], options=[0])).status_code == 201
    asked = await client.post(
        f"/api/events/{r.id}/questions", json={"text": "Before the end"}, headers=a["headers"]
    )
    assert asked.status_code == 201
    qid = asked.json()["id"]
    ended = await client.post(f"/api/events/{r.id}/end", headers=r.h)
    assert ended.status_code == 200, ended.text

    def counts() -> Any:
        return [
            server_db[name].count_documents(query)
            for name, query in (
                ("activities", {"event_id": r.id}),
                ("activity_responses", {}),
                ("questions", {"event_id": r.id}),
                ("question_votes", {}),
            )
        ]

    before = [await c for c in counts()]
    refused = [
        await client.post(
            f"/api/events/{r.id}/activities",
            json={"kind": "choice", "prompt": "After?", "options": ["A", "B"]},
            headers=r.h,
        ),
        await client.put(
            f"/api/events/{r.id}/activity", json={"activity_id": draft["id"]}, headers=r.h
        ),
        await r.answer(b, poll["id"], options=[1]),
        await client.post(
            f"/api/events/{r.id}/questions", json={"text": "After the end"}, headers=b["headers"]
        ),
        await client.post(f"/api/events/{r.id}/questions/{qid}/upvote", headers=b["headers"]),
    ]
    for resp in refused:
        assert_problem(resp, 409, "event-ended")
    assert [await c for c in counts()] == before
    results = await r.results(poll["id"])
    assert results["responses"] == 1
    listed = (await client.get(f"/api/events/{r.id}/activities", headers=r.h)).json()
    assert listed["live"] == poll["id"]  # the refused switch changed nothing
    assert [x["status"] for x in listed["items"] if x["id"] == draft["id"]] == ["draft"]
    question = (await client.get(f"/api/events/{r.id}/questions")).json()["items"][0]
    assert question["votes"] == 0
    # closing the live activity is still allowed (tidying up after the end)
    closed = await client.put(
        f"/api/events/{r.id}/activity", json={"activity_id": None}, headers=r.h
    )
    assert closed.status_code == 200 and closed.json()["live"] is None
