"""Live events through the API: create one, put a team on stage and open voting, join."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx

from tests.support.http import bearer
from tests.support.users import register_user


async def new_event(
    client: httpx.AsyncClient,
    teams: int | list[str] = 3,
    *,
    host: dict[str, Any] | None = None,
    **body: Any,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Register a host (unless given) and create an event with `teams` (a number of teams,
    or their names); returns (host, event view)."""
    host = host or await register_user(client)
    names = teams if isinstance(teams, list) else [f"Team {i}" for i in range(teams)]
    payload = {"title": "Pitch Night", "teams": [{"name": name} for name in names]}
    payload.update(body)
    r = await client.post("/api/events", json=payload, headers=host["headers"])
    assert r.status_code == 201, r.text
    return host, r.json()


async def join(client: httpx.AsyncClient, code: str, name: str | None = None) -> dict[str, Any]:
    """Join as an attendee; returns the join answer plus "headers" with its token."""
    body: dict[str, Any] = {"code": code}
    if name:
        body["name"] = name
    r = await client.post("/api/events/join", json=body)
    assert r.status_code == 201, r.text
    client.cookies.clear()  # tests send the credential explicitly
    out: dict[str, Any] = r.json()
    out["headers"] = bearer(out["token"])
    return out


async def open_voting_for(
    client: httpx.AsyncClient, host: dict[str, Any], event_id: str, team_id: str
) -> None:
    """Put `team_id` on stage and open voting."""
    r = await client.put(
        f"/api/events/{event_id}/stage", json={"team_id": team_id}, headers=host["headers"]
    )
    assert r.status_code == 200, r.text
    r = await client.put(
        f"/api/events/{event_id}/voting", json={"open": True}, headers=host["headers"]
    )
    assert r.status_code == 200, r.text
    assert r.json()["voting_open"] is True


async def live_event(
    client: httpx.AsyncClient, teams: int | list[str] = 1, **body: Any
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """A new event with voting open for its first team; returns (host, event, team id)."""
    host, event = await new_event(client, teams, **body)
    team = event["teams"][0]["id"]
    await open_voting_for(client, host, event["id"], team)
    return host, event, team


async def next_state(events: AsyncIterator[dict[str, Any]]) -> dict[str, Any]:
    """The next "state" message of an event stream (see http.sse_events)."""
    async for message in events:
        if message.get("event") == "state":
            return message
    raise AssertionError("stream ended without a state message")
