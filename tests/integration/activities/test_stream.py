"""The activities SSE channel: a snapshot first, then the live activity and its results."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.support.activities import room
from tests.support.events import next_state
from tests.support.http import sse_events


async def test_stream_follows_the_live_activity(client: httpx.AsyncClient) -> None:
    r = await room(client, attendees=1)
    poll = await r.create(kind="choice", prompt="Live?", options=["Yes", "No"])
    async with client.stream("GET", f"/api/events/{r.id}/activities/stream") as resp:
        assert resp.status_code == 200
        events = sse_events(resp)
        first = await asyncio.wait_for(next_state(events), 10)
        assert first["data"]["live"] is None
        await r.live(poll["id"])
        await r.answer(r.attendees[0], poll["id"], options=[1])
        q = await client.post(
            f"/api/events/{r.id}/questions",
            json={"text": "Streamed?"},
            headers=r.attendees[0]["headers"],
        )
        assert q.status_code == 201

        async def until_counted() -> dict[str, Any]:
            while True:
                msg = await next_state(events)
                data: dict[str, Any] = msg["data"]
                if data["results"] and data["results"]["responses"] == 1 and data["questions"]:
                    return data

        data = await asyncio.wait_for(until_counted(), 10)
        assert data["live"]["id"] == poll["id"]
        assert [o["count"] for o in data["results"]["options"]] == [0, 1]
        assert data["questions"][0]["text"] == "Streamed?"
