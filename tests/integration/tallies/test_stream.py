"""The election SSE stream: a snapshot first, then updates as reports are applied."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from tests.support.tallies import create_election, report_body, send
from tests.support.users import register_user


async def _states(response: httpx.Response) -> Any:
    event, data = None, None
    async for line in response.aiter_lines():
        if line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            data = line.split(":", 1)[1].strip()
        elif line == "" and event == "state" and data:
            yield json.loads(data)
            event, data = None, None


async def test_stream_snapshot_then_live_totals(client: httpx.AsyncClient) -> None:
    u = await register_user(client)
    e = await create_election(client, u["headers"])
    assert (
        await send(client, e, report_body("r0", "b0", "london", {"tories": 3}))
    ).status_code == 202
    async with client.stream("GET", f"/api/elections/{e['id']}/stream") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        states = _states(response)
        first = await asyncio.wait_for(anext(states), 5)
        assert first["national"]["votes"]["tories"] == 3
        assert first["national"]["reported_boxes"] == 1
        assert first["national"]["expected_boxes"] == 670
        assert [c["name"] for c in first["cities"]] == ["london", "manchester", "edinburgh"]
        r = await send(client, e, report_body("r1", "b1", "edinburgh", {"labour": 8}))
        assert r.status_code == 202

        async def until_updated() -> dict[str, Any]:
            async for state in states:
                if state["national"]["votes"]["labour"] == 8:
                    return dict(state)
            raise AssertionError("stream ended")

        state = await asyncio.wait_for(until_updated(), 5)
        edinburgh = state["cities"][2]
        assert edinburgh["votes"]["labour"] == 8 and edinburgh["reported_boxes"] == 1
        assert state["national"]["reported_boxes"] == 2


async def test_stream_of_unknown_election_is_404(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/elections/" + "0" * 24 + "/stream")
    assert r.status_code == 404
