"""Audience votes on several criteria: `{team_id, scores: {criterion: n}}` (a plain `score`
still works: that score on every criterion); a vote's points are Σ weight × score and the
audience average comes back to the 1..max_score scale. Bad votes are 422 and store nothing."""

from __future__ import annotations

from typing import Any

import httpx

from livevote.events.recount import recount
from tests.support.events import join, live_event
from tests.support.http import assert_problem

CRITERIA = [{"name": "Pitch", "weight": 2}, {"name": "Product", "weight": 1}]


async def vote(
    client: httpx.AsyncClient, eid: str, attendee: dict[str, Any], body: dict[str, Any]
) -> httpx.Response:
    return await client.post(f"/api/events/{eid}/votes", json=body, headers=attendee["headers"])


async def test_votes_on_several_criteria(client: httpx.AsyncClient, server_db: Any) -> None:
    host, ev, team = await live_event(client, criteria=CRITERIA, max_score=5)
    eid = ev["id"]
    ann = await join(client, ev["code"])
    bob = await join(client, ev["code"])
    cat = await join(client, ev["code"])

    r = await vote(client, eid, ann, {"team_id": team, "scores": {"Pitch": 5, "Product": 2}})
    assert r.status_code == 201, r.text
    assert r.json().pop("receipt")  # the ledger's receipt (ledger.py)
    assert {k: v for k, v in r.json().items() if k != "receipt"} == {
        "event_id": eid,
        "team_id": team,
        "score": 12,  # points: 2 × 5 + 1 × 2
        "scores": {"Pitch": 5, "Product": 2},
    }
    r = await vote(client, eid, bob, {"team_id": team, "scores": {"Product": 3, "Pitch": 3}})
    assert r.status_code == 201 and r.json()["score"] == 9

    # refused whole, nothing stored: a missing, unknown or out-of-range criterion, both
    # forms or neither
    bad: list[dict[str, Any]] = [
        {"team_id": team, "score": 6},
        {"team_id": team, "scores": {"Pitch": 4}},
        {"team_id": team, "scores": {"Pitch": 4, "Product": 4, "Vibes": 4}},
        {"team_id": team, "scores": {"Pitch": 6, "Product": 4}},
        {"team_id": team, "scores": {"Pitch": 0, "Product": 4}},
        {"team_id": team, "score": 4, "scores": {"Pitch": 4, "Product": 4}},
        {"team_id": team},
    ]
    for body in bad:
        assert_problem(await vote(client, eid, cat, body), 422, "validation-error")
    assert await server_db.event_votes.count_documents({"attendee_id": cat["attendee_id"]}) == 0
    for body in ({"team_id": team, "score": None}, {"team_id": team, "scores": None}):
        assert_problem(await vote(client, eid, cat, body), 400)  # null is a wrong type

    # a plain score (what older clients send) counts as that score on every criterion
    r = await vote(client, eid, cat, {"team_id": team, "score": 4})
    assert r.status_code == 201 and r.json()["score"] == 12 and r.json()["scores"] is None

    rows = (await client.get(f"/api/events/{eid}/results", headers=host["headers"])).json()
    row = rows["results"][0]
    # (12 + 9 + 12) points / (3 votes × weights 3) = 3.67 on the 1..5 scale
    assert (row["votes"], row["score_sum"], row["average"]) == (3, 33, 3.67)
    assert row["audience"] == {"votes": 3, "average": 3.67} and row["final"] == 3.67
    me = (await client.get(f"/api/events/{eid}/me", headers=ann["headers"])).json()
    assert me["votes"] == [{"team_id": team, "score": 12}]
    assert [r.consistent for r in await recount(server_db, scope_id=eid, fix=False)] == [True]


async def test_a_single_criterion_takes_score_or_scores(client: httpx.AsyncClient) -> None:
    host, ev, team = await live_event(client)
    eid = ev["id"]
    a, b = await join(client, ev["code"]), await join(client, ev["code"])
    r = await vote(client, eid, a, {"team_id": team, "scores": {"Score": 4}})
    assert r.status_code == 201 and r.json()["score"] == 4
    r = await vote(client, eid, b, {"team_id": team, "score": 2})
    assert r.status_code == 201
    assert {k: v for k, v in r.json().items() if k != "receipt"} == {
        "event_id": eid,
        "team_id": team,
        "score": 2,
        "scores": None,
    }
    row = (await client.get(f"/api/events/{eid}/results", headers=host["headers"])).json()
    assert (row["results"][0]["score_sum"], row["results"][0]["average"]) == (6, 3.0)
