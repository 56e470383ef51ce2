"""Helpers for the live events tests: create events, join, parse SSE."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from tests.conftest import register_user


async def new_event(
    client: httpx.AsyncClient,
    teams: int = 3,
    *,
    host: dict[str, Any] | None = None,
    **body: Any,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Register a host and create an event; returns (host, event view)."""
    host = host or await register_user(client)
    payload = {"title": "Pitch Night", "teams": [{"name": f"Team {i}"} for i in range(teams)]}
    payload.update(body)
    r = await client.post("/api/events", json=payload, headers=host["headers"])
    assert r.status_code == 201, r.text
    return host, r.json()


async def join(client: httpx.AsyncClient, code: str, name: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code}
    if name:
        body["name"] = name
    r = await client.post("/api/events/join", json=body)
    assert r.status_code == 201, r.text
    client.cookies.clear()  # tests send the credential explicitly
    out: dict[str, Any] = r.json()
    out["headers"] = {"Authorization": f"Bearer {out['token']}"}
    return out


async def open_voting_for(
    client: httpx.AsyncClient, host: dict[str, Any], event_id: str, team_id: str
) -> None:
    r = await client.put(
        f"/api/events/{event_id}/stage", json={"team_id": team_id}, headers=host["headers"]
    )
    assert r.status_code == 200, r.text
    r = await client.put(
        f"/api/events/{event_id}/voting", json={"open": True}, headers=host["headers"]
    )
    assert r.status_code == 200, r.text
    assert r.json()["voting_open"] is True


async def sse_events(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """Parse an SSE response into {"id", "event", "data", "retry", "comment"} dicts."""
    current: dict[str, Any] = {}
    async for line in response.aiter_lines():
        if line == "":
            if current:
                if "data" in current:
                    current["data"] = json.loads(current["data"])
                yield current
            current = {}
            continue
        if line.startswith(":"):
            current["comment"] = line[1:].strip()
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "data" and "data" in current:
            current["data"] += "\n" + value
        else:
            current[field] = value


async def next_state(events: AsyncIterator[dict[str, Any]]) -> dict[str, Any]:
    async for message in events:
        if message.get("event") == "state":
            return message
    raise AssertionError("stream ended without a state message")
