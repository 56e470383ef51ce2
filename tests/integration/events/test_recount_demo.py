"""Tallies are rebuildable from the votes (endpoint and CLI); demo data; cookie credential."""

from __future__ import annotations

import asyncio
import json
import subprocess
from datetime import UTC, datetime
from typing import Any

import httpx
from bson import ObjectId

from livevote.config import replace
from livevote.demo import DEMO_CODE, DEMO_EMAIL, DEMO_PASSWORD, seed_demo
from livevote.polls.demo import DEMO_POLLS
from tests.support.events import join, new_event, open_voting_for
from tests.support.servers import RunningServer, run_livevote


async def voted_event(client: httpx.AsyncClient, n: int = 4) -> tuple[dict[str, Any], str, str]:
    host, ev = await new_event(client, teams=2)
    eid, t0 = ev["id"], ev["teams"][0]["id"]
    await open_voting_for(client, host, eid, t0)
    for i in range(n):
        a = await join(client, ev["code"])
        r = await client.post(
            f"/api/events/{eid}/votes",
            json={"team_id": t0, "score": 1 + i % 5},
            headers=a["headers"],
        )
        assert r.status_code == 201
    return host, eid, t0


async def test_recount_endpoint_reports_and_fixes(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    host, eid, t0 = await voted_event(client, 4)  # scores 1+2+3+4
    url = f"/api/events/{eid}/recount"
    r = await client.post(url, headers=host["headers"])
    assert r.json() == {
        "event_id": eid,
        "consistent": True,
        "fixed": False,
        "differences": [],
        "jury_differences": [],
    }

    await server_db["events"].update_one(
        {"_id": ObjectId(eid)}, {"$set": {f"tally.{t0}": {"votes": 99, "score_sum": 1}}}
    )
    r = await client.post(url, headers=host["headers"])
    body = r.json()
    assert body["consistent"] is False and body["fixed"] is True
    assert body["differences"] == [
        {
            "team_id": t0,
            "stored_votes": 99,
            "stored_score_sum": 1,
            "counted_votes": 4,
            "counted_score_sum": 10,
        }
    ]
    res = (await client.get(f"/api/events/{eid}/results", headers=host["headers"])).json()
    row = next(x for x in res["results"] if x["team_id"] == t0)
    assert (row["votes"], row["score_sum"]) == (4, 10)
    assert (await client.post(url, headers=host["headers"])).json()["consistent"] is True


def run_cli(server: RunningServer, *args: str) -> subprocess.CompletedProcess[str]:
    return run_livevote(server.settings, "recount", "events", *args)


async def test_recount_command(
    client: httpx.AsyncClient, server_db: Any, server: RunningServer
) -> None:
    _, eid, t0 = await voted_event(client, 3)  # scores 1+2+3
    await server_db["events"].update_one(
        {"_id": ObjectId(eid)}, {"$inc": {f"tally.{t0}.votes": -1}}
    )
    report = await asyncio.to_thread(run_cli, server, "--id", eid)  # report only: the default
    assert report.returncode == 1, report.stdout + report.stderr
    stored, counted = {"votes": 2, "score_sum": 6}, {"votes": 3, "score_sum": 6}
    assert f"team {t0}: stored {stored}, counted {counted}" in report.stdout
    assert f"events {eid}: DIFFERS" in report.stdout
    doc = await server_db["events"].find_one({"_id": ObjectId(eid)})
    assert doc["tally"][t0] == stored  # nothing written without --fix

    as_json = await asyncio.to_thread(run_cli, server, "--id", eid, "--json")
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout) == {
        "domain": "events",
        "id": eid,
        "consistent": False,
        "fixed": False,
        "differences": [{"what": f"team {t0}", "stored": stored, "counted": counted}],
        "notes": [],
    }

    fix = await asyncio.to_thread(run_cli, server, "--id", eid, "--fix")
    assert fix.returncode == 0 and f"events {eid}: FIXED" in fix.stdout, fix.stdout + fix.stderr
    doc = await server_db["events"].find_one({"_id": ObjectId(eid)})
    assert doc["tally"][t0] == counted

    again = await asyncio.to_thread(run_cli, server)  # every event
    assert again.returncode == 0 and "0 with differences" in again.stdout, again.stdout

    unknown = await asyncio.to_thread(run_cli, server, "--id", "0" * 24)
    assert unknown.returncode == 2 and "not found" in unknown.stdout, unknown.stdout


async def test_cookie_credential_votes(client: httpx.AsyncClient) -> None:
    host, ev = await new_event(client, teams=1)
    eid, t0 = ev["id"], ev["teams"][0]["id"]
    await open_voting_for(client, host, eid, t0)
    async with httpx.AsyncClient(base_url=str(client.base_url)) as phone:
        r = await phone.post("/api/events/join", json={"code": ev["code"], "name": "Phone"})
        assert r.status_code == 201
        r = await phone.post(f"/api/events/{eid}/votes", json={"team_id": t0, "score": 2})
        assert r.status_code == 201, r.text
        me = (await phone.get(f"/api/events/{eid}/me")).json()
        assert me["name"] == "Phone" and me["votes"] == [{"team_id": t0, "score": 2}]


async def test_seed_demo_is_idempotent(
    client: httpx.AsyncClient, server_db: Any, server: RunningServer
) -> None:
    settings = replace(server.settings, demo=True)
    await asyncio.gather(seed_demo(server_db, settings), seed_demo(server_db, settings))
    await seed_demo(server_db, settings)
    assert await server_db["events"].count_documents({"code": DEMO_CODE}) == 1
    assert await server_db["users"].count_documents({"email": DEMO_EMAIL}) == 1
    # the feed has the demo polls once, each with votes counted (counters = stored votes)
    polls = (
        await server_db["polls"].find({"title": {"$in": [t for t, _, _ in DEMO_POLLS]}}).to_list()
    )
    assert len(polls) == len(DEMO_POLLS)
    for poll in polls:
        stored = await server_db["poll_responses"].count_documents({"poll_id": poll["key"]})
        assert poll["total"] == stored > 0
    view = (await client.get(f"/api/events/by-code/{DEMO_CODE}")).json()
    assert view["title"] == "Pitch Night" and len(view["teams"]) == 5
    assert view["stage"] == view["teams"][0]["id"] and view["voting_open"] is True
    assert view["results_visibility"] == "live"
    login = await client.post(
        "/api/auth/login", json={"email": DEMO_EMAIL, "password": DEMO_PASSWORD}
    )
    assert login.status_code == 200
    token = login.json()["access_token"]
    mine = (
        await client.get("/api/events/mine", headers={"Authorization": f"Bearer {token}"})
    ).json()
    assert [e["code"] for e in mine["items"]] == [DEMO_CODE]
    a = await join(client, DEMO_CODE.lower())
    r = await client.post(
        f"/api/events/{view['id']}/votes",
        json={"team_id": view["stage"], "score": 5},
        headers=a["headers"],
    )
    assert r.status_code == 201


async def test_recount_settles_a_vote_left_by_a_crash(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    """A process dying between the vote insert and the counting check-and-set leaves a vote
    document that no tally includes: recount reports it and, when fixing, counts it."""
    host, eid, t0 = await voted_event(client, 1)  # one counted vote, score 1
    await server_db["event_votes"].insert_one(
        {
            "event_id": eid,
            "team_id": t0,
            "attendee_id": str(ObjectId()),
            "score": 4,
            "at": datetime.now(UTC),
        }
    )
    body = (await client.post(f"/api/events/{eid}/recount", headers=host["headers"])).json()
    assert body["fixed"] is True
    assert body["differences"][0]["stored_votes"] == 1
    assert body["differences"][0]["counted_votes"] == 2
    assert body["differences"][0]["counted_score_sum"] == 5
