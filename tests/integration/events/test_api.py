"""Live events API: the happy path, permissions, bad input, results, export, recount."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import httpx
import pytest
from bson import ObjectId

from tests.support.events import join, new_event, open_voting_for
from tests.support.users import register_user

CODE = re.compile(r"^[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{6}$")


def problem_type(r: httpx.Response) -> str:
    assert r.headers["content-type"].startswith("application/problem+json"), r.text
    return str(r.json()["type"]).rsplit("/", 1)[-1]


async def test_create_view_join_vote_results(client: httpx.AsyncClient, server_db: Any) -> None:
    host, ev = await new_event(client, teams=2, max_score=7, results="hidden")
    assert CODE.match(ev["code"]), ev["code"]
    assert ev["status"] == "draft" and ev["stage"] is None and ev["voting_open"] is False
    assert ev["max_score"] == 7 and ev["results_visibility"] == "hidden"
    assert [t["name"] for t in ev["teams"]] == ["Team 0", "Team 1"]
    assert all(t["on_stage"] is False for t in ev["teams"])
    eid, t0, t1 = ev["id"], ev["teams"][0]["id"], ev["teams"][1]["id"]

    by_code = (await client.get(f"/api/events/by-code/{ev['code'].lower()}")).json()
    assert by_code["id"] == eid

    r = await client.post(
        f"/api/events/{eid}/teams", json={"name": "Late"}, headers=host["headers"]
    )
    assert r.status_code == 201 and r.json()["name"] == "Late"
    assert len((await client.get(f"/api/events/{eid}")).json()["teams"]) == 3

    a = await join(client, ev["code"], "Ann")
    assert a["event_id"] == eid
    r = await client.post("/api/events/join", json={"code": ev["code"]})
    client.cookies.clear()
    cookie = r.headers["set-cookie"]
    assert "lv_attendee=" in cookie and "HttpOnly" in cookie and "Path=/" in cookie
    assert "samesite=lax" in cookie.lower()
    assert (await client.get(f"/api/events/{eid}")).json()["attendees"] == 2

    await open_voting_for(client, host, eid, t0)
    view = (await client.get(f"/api/events/{eid}")).json()
    assert view["stage"] == t0 and view["status"] == "live" and view["voting_open"]
    assert [t["on_stage"] for t in view["teams"]] == [True, False, False]

    r = await client.post(
        f"/api/events/{eid}/votes", json={"team_id": t0, "score": 6}, headers=a["headers"]
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        f"/api/events/{eid}/votes", json={"team_id": t0, "score": 2}, headers=a["headers"]
    )
    assert r.status_code == 409 and problem_type(r) == "already-voted"
    r = await client.post(
        f"/api/events/{eid}/votes", json={"team_id": t1, "score": 2}, headers=a["headers"]
    )
    assert r.status_code == 409 and problem_type(r) == "voting-closed"
    me = (await client.get(f"/api/events/{eid}/me", headers=a["headers"])).json()
    assert me["name"] == "Ann" and me["votes"] == [{"team_id": t0, "score": 6}]

    # hidden results: host only, until revealed
    assert (await client.get(f"/api/events/{eid}/results")).status_code == 403
    assert (await client.get(f"/api/events/{eid}/results", headers=a["headers"])).status_code == 403
    r = await client.get(f"/api/events/{eid}/results", headers=host["headers"])
    assert r.status_code == 200
    rows = {row["team_id"]: row for row in r.json()["results"]}
    assert rows[t0] == {
        "team_id": t0,
        "name": "Team 0",
        "votes": 1,
        "score_sum": 6,
        "average": 6.0,
        "rank": 1,
        "audience": {"votes": 1, "average": 6.0},
        "jury": {"jurors": 0, "average": 0.0},
        "final": 6.0,
    }
    assert rows[t1]["votes"] == 0 and rows[t1]["rank"] == 2
    r = await client.put(
        f"/api/events/{eid}/results", json={"visible": True}, headers=host["headers"]
    )
    assert r.status_code == 200 and r.json()["results_visibility"] == "revealed"
    assert (await client.get(f"/api/events/{eid}/results")).status_code == 200

    # switching the stage closes voting; the vote document count matches the tally
    r = await client.put(f"/api/events/{eid}/stage", json={"team_id": t1}, headers=host["headers"])
    assert r.json()["stage"] == t1 and r.json()["voting_open"] is False
    assert await server_db["event_votes"].count_documents({"event_id": eid}) == 1
    stored = await server_db["events"].find_one({"_id": ObjectId(eid)})
    assert (stored["stage"], stored["voting_open"], stored["voting_team"]) == (t1, False, "")
    # the event's `stage` is the one truth: no team document mirrors it
    assert await server_db["teams"].count_documents({"on_stage": {"$exists": True}}) == 0

    r = await client.delete(f"/api/events/{eid}/stage", headers=host["headers"])
    assert r.status_code == 200 and r.json()["stage"] is None
    r = await client.delete(f"/api/events/{eid}/stage", headers=host["headers"])
    assert r.status_code == 200 and r.json()["stage"] is None  # nobody on stage: idempotent
    assert (await server_db["events"].find_one({"_id": ObjectId(eid)}))["stage"] == ""

    mine = (await client.get("/api/events/mine", headers=host["headers"])).json()["items"]
    assert [e["id"] for e in mine] == [eid]

    r = await client.post(f"/api/events/{eid}/end", headers=host["headers"])
    assert r.status_code == 200 and r.json()["status"] == "ended"
    r = await client.put(f"/api/events/{eid}/stage", json={"team_id": t0}, headers=host["headers"])
    assert r.status_code == 409 and problem_type(r) == "event-ended"
    r = await client.post("/api/events/join", json={"code": ev["code"]})
    assert r.status_code == 409 and problem_type(r) == "event-ended"


async def test_vote_rejections_count_nothing(client: httpx.AsyncClient, server_db: Any) -> None:
    host, ev = await new_event(client, teams=2, max_score=5)
    eid, t0, t1 = ev["id"], ev["teams"][0]["id"], ev["teams"][1]["id"]
    _, other = await new_event(client, teams=1)
    stranger = await join(client, other["code"])
    a = await join(client, ev["code"])
    url = f"/api/events/{eid}/votes"

    r = await client.post(url, json={"team_id": t0, "score": 3}, headers=a["headers"])
    assert r.status_code == 409 and problem_type(r) == "voting-closed"  # nobody on stage

    await open_voting_for(client, host, eid, t0)
    cases: list[tuple[dict[str, Any], dict[str, str], int, str]] = [
        ({"team_id": t0, "score": 6}, a["headers"], 422, "validation-error"),
        ({"team_id": t0, "score": 0}, a["headers"], 422, "validation-error"),
        ({"team_id": t1, "score": 3}, a["headers"], 409, "voting-closed"),
        ({"team_id": "0" * 24, "score": 3}, a["headers"], 404, "not-found"),
        ({"team_id": t0, "score": 3}, {}, 401, "unauthorized"),
        ({"team_id": t0, "score": 3}, stranger["headers"], 403, "forbidden"),
        ({"team_id": t0, "score": 3}, host["headers"], 401, "invalid-token"),
        (
            {"team_id": t0, "score": 3},
            {"Authorization": "Bearer " + a["token"][:-4] + "AAAA"},
            401,
            "invalid-token",
        ),
        ({"team_id": {"$gt": ""}, "score": 3}, a["headers"], 400, "bad-request"),
        ({"team_id": "$where", "score": 3}, a["headers"], 400, "bad-request"),
        ({"team_id": t0, "score": {"$inc": 5}}, a["headers"], 400, "bad-request"),
        ({"team_id": t0, "score": 3, "attendee_id": "x"}, a["headers"], 400, "bad-request"),
    ]
    for body, headers, status, type_ in cases:
        r = await client.post(url, json=body, headers=headers)
        assert r.status_code == status, (body, r.text)
        assert problem_type(r) == type_, (body, r.text)
    assert await server_db["event_votes"].count_documents({"event_id": eid}) == 0
    results = (await client.get(f"/api/events/{eid}/results", headers=host["headers"])).json()
    assert all(row["votes"] == 0 and row["score_sum"] == 0 for row in results["results"])
    # still able to vote after all that
    r = await client.post(url, json={"team_id": t0, "score": 5}, headers=a["headers"])
    assert r.status_code == 201, r.text


async def test_host_only_endpoints(client: httpx.AsyncClient) -> None:
    _host, ev = await new_event(client, teams=2)
    eid, t0 = ev["id"], ev["teams"][0]["id"]
    intruder = await register_user(client)
    attendee = await join(client, ev["code"])
    calls = [
        ("POST", f"/api/events/{eid}/teams", {"name": "X"}),
        ("PUT", f"/api/events/{eid}/stage", {"team_id": t0}),
        ("DELETE", f"/api/events/{eid}/stage", None),
        ("PUT", f"/api/events/{eid}/voting", {"open": True}),
        ("PUT", f"/api/events/{eid}/results", {"visible": True}),
        ("POST", f"/api/events/{eid}/end", None),
        ("GET", f"/api/events/{eid}/export?format=csv", None),
        ("POST", f"/api/events/{eid}/recount", None),
    ]
    for method, url, body in calls:
        r = await client.request(method, url, json=body, headers=intruder["headers"])
        assert r.status_code == 403, (method, url, r.text)
        r = await client.request(method, url, json=body)
        assert r.status_code == 401, (method, url, r.text)
        r = await client.request(method, url, json=body, headers=attendee["headers"])
        assert r.status_code == 401, (method, url, r.text)
    view = (await client.get(f"/api/events/{eid}")).json()
    assert view["status"] == "draft" and view["stage"] is None and len(view["teams"]) == 2


@pytest.mark.parametrize(
    "body",
    [
        {"title": {"$ne": 1}},
        {"title": "$where"},
        {"title": "ok", "teams": [{"name": "$gt"}]},
        {"title": "ok", "max_score": 11},
        {"title": "ok", "max_score": 0},
        {"title": "ok", "results": "sometimes"},
        {"title": "ok", "host_id": "someone"},
        {"title": ""},
    ],
)
async def test_create_rejects_bad_input(
    client: httpx.AsyncClient, server_db: Any, body: Any
) -> None:
    host = await register_user(client)
    r = await client.post("/api/events", json=body, headers=host["headers"])
    assert 400 <= r.status_code < 500 and r.status_code != 404, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert await server_db["events"].count_documents({"host_id": host["id"]}) == 0


async def test_unknown_ids_and_codes(client: httpx.AsyncClient) -> None:
    for url in ("/api/events/not-an-id", "/api/events/" + "0" * 24, "/api/events/by-code/ZZZZZZ"):
        r = await client.get(url)
        assert r.status_code == 404 and problem_type(r) == "not-found"
    r = await client.post("/api/events/join", json={"code": "ZZZZZZ"})
    assert r.status_code == 404
    r = await client.post("/api/events/join", json={"code": {"$gt": ""}})
    assert r.status_code == 400


async def test_voting_needs_a_team_on_stage(client: httpx.AsyncClient) -> None:
    host, ev = await new_event(client, teams=1)
    r = await client.put(
        f"/api/events/{ev['id']}/voting", json={"open": True}, headers=host["headers"]
    )
    assert r.status_code == 409 and problem_type(r) == "no-team-on-stage"
    r = await client.put(
        f"/api/events/{ev['id']}/stage", json={"team_id": "0" * 24}, headers=host["headers"]
    )
    assert r.status_code == 404


async def test_export_csv_and_json(client: httpx.AsyncClient) -> None:
    host, ev = await new_event(client, teams=2, results="hidden")
    eid, t0 = ev["id"], ev["teams"][0]["id"]
    await open_voting_for(client, host, eid, t0)
    voters = [await join(client, ev["code"]) for _ in range(3)]
    for i, v in enumerate(voters):
        r = await client.post(
            f"/api/events/{eid}/votes", json={"team_id": t0, "score": i + 1}, headers=v["headers"]
        )
        assert r.status_code == 201

    r = await client.get(f"/api/events/{eid}/export?format=json", headers=host["headers"])
    assert r.status_code == 200
    body = r.json()
    assert body["event"]["id"] == eid
    row0 = next(x for x in body["results"] if x["team_id"] == t0)
    assert row0["votes"] == 3 and row0["score_sum"] == 6 and row0["average"] == 2.0
    assert sorted(v["score"] for v in body["votes"]) == [1, 2, 3]
    hashes = {v["voter"] for v in body["votes"]}
    assert len(hashes) == 3
    for v in voters:  # anonymised: no attendee id appears anywhere
        assert v["attendee_id"] not in r.text

    r = await client.get(f"/api/events/{eid}/export?format=csv", headers=host["headers"])
    assert r.status_code == 200 and r.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in r.headers["content-disposition"]
    results_part, log_part = r.text.split("\n\n", 1)
    results = list(csv.DictReader(io.StringIO(results_part)))
    log = list(csv.DictReader(io.StringIO(log_part)))
    assert {x["team"]: int(x["votes"]) for x in results} == {"Team 0": 3, "Team 1": 0}
    assert sorted(int(x["score"]) for x in log) == [1, 2, 3]
    assert {x["voter"] for x in log} == hashes
    r = await client.get(f"/api/events/{eid}/export?format=xml", headers=host["headers"])
    assert r.status_code == 400


async def test_put_same_team_on_stage_keeps_voting_open(client: httpx.AsyncClient) -> None:
    host, ev = await new_event(client, teams=2)
    eid, t0 = ev["id"], ev["teams"][0]["id"]
    await open_voting_for(client, host, eid, t0)
    r = await client.put(f"/api/events/{eid}/stage", json={"team_id": t0}, headers=host["headers"])
    assert r.status_code == 200 and r.json()["stage"] == t0 and r.json()["voting_open"] is True
    r = await client.put(
        f"/api/events/{eid}/stage", json={"team_id": ev["teams"][1]["id"]}, headers=host["headers"]
    )
    assert r.json()["voting_open"] is False and r.json()["voting_team"] is None
