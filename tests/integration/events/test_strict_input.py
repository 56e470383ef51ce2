"""Wrong JSON types are refused (no lenient coercion), and the attendee cookie is per event."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.events import join, new_event, open_voting_for


async def test_wrong_types_are_refused_and_nothing_counted(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    host, event = await new_event(client, teams=2)
    team = event["teams"][0]["id"]
    await open_voting_for(client, host, event["id"], team)
    attendee = await join(client, event["code"])
    for score in ("3", True, 3.0, 2.5, None, [3], {"$gt": 0}):
        r = await client.post(
            f"/api/events/{event['id']}/votes",
            json={"team_id": team, "score": score},
            headers=attendee["headers"],
        )
        assert r.status_code == 400, (score, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    r = await client.put(
        f"/api/events/{event['id']}/voting", json={"open": "false"}, headers=host["headers"]
    )
    assert r.status_code == 400
    r = await client.post(
        "/api/events",
        json={"title": "T", "teams": [{"name": "A"}], "max_score": "5"},
        headers=host["headers"],
    )
    assert r.status_code == 400
    assert await server_db["event_votes"].count_documents({}) == 0
    view = (await client.get(f"/api/events/{event['id']}")).json()
    assert view["voting_open"] is True


async def test_attendee_cookie_is_scoped_to_its_event(client: httpx.AsyncClient) -> None:
    _, a = await new_event(client)
    _, b = await new_event(client)
    r1 = await client.post("/api/events/join", json={"code": a["code"]})
    r2 = await client.post("/api/events/join", json={"code": b["code"]})
    assert r1.status_code == r2.status_code == 201
    assert f"Path=/api/events/{a['id']}" in r1.headers["set-cookie"]
    # joining b did not replace a's credential: both are still known as the same attendees
    me_a = await client.get(f"/api/events/{a['id']}/me")
    me_b = await client.get(f"/api/events/{b['id']}/me")
    assert me_a.status_code == 200 and me_b.status_code == 200, (me_a.text, me_b.text)
    assert me_a.json()["attendee_id"] == r1.json()["attendee_id"]
    assert me_b.json()["attendee_id"] == r2.json()["attendee_id"]
    client.cookies.clear()
