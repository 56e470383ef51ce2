"""The pitch competition through the API: jurors, their sheets, audience votes per team."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.events import join, open_voting_for
from tests.support.http import bearer


async def add_juror(
    client: httpx.AsyncClient, host: dict[str, Any], event_id: str, name: str
) -> dict[str, Any]:
    """Add a juror; returns the answer plus "headers" with the juror's token."""
    r = await client.post(
        f"/api/events/{event_id}/jurors", json={"name": name}, headers=host["headers"]
    )
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    out["headers"] = bearer(out["token"])
    return out


async def score(
    client: httpx.AsyncClient, juror: dict[str, Any], event_id: str, team_id: str, **scores: int
) -> httpx.Response:
    return await client.put(
        f"/api/events/{event_id}/jury/scores/{team_id}",
        json={"scores": scores},
        headers=juror["headers"],
    )


async def audience_votes(
    client: httpx.AsyncClient,
    host: dict[str, Any],
    event: dict[str, Any],
    scores: dict[str, list[int]],
) -> None:
    """For each team (id → scores), open voting for it and let one new attendee cast each
    score (the same score on every criterion when the event has several); closes voting at
    the end."""
    eid = event["id"]
    names = [c["name"] for c in event.get("criteria") or []]
    for team_id, values in scores.items():
        await open_voting_for(client, host, eid, team_id)
        for value in values:
            a = await join(client, event["code"])
            body: dict[str, Any] = {"team_id": team_id, "score": value}
            if len(names) > 1:
                body = {"team_id": team_id, "scores": dict.fromkeys(names, value)}
            r = await client.post(f"/api/events/{eid}/votes", json=body, headers=a["headers"])
            assert r.status_code == 201, r.text
    r = await client.put(f"/api/events/{eid}/voting", json={"open": False}, headers=host["headers"])
    assert r.status_code == 200, r.text
