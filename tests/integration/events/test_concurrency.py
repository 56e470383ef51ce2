"""Every "at most one" rule of live events under concurrent requests (exact counts after)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from bson import ObjectId

from livevote.errors import Conflict
from livevote.events.service import EventService
from livevote.infra.resources import utc_now
from tests.support.events import join, new_event, open_voting_for
from tests.support.http import http_client
from tests.support.servers import RunningServer


async def tally(client: httpx.AsyncClient, host: dict[str, Any], eid: str) -> dict[str, Any]:
    r = await client.get(f"/api/events/{eid}/results", headers=host["headers"])
    assert r.status_code == 200, r.text
    return {row["team_id"]: (row["votes"], row["score_sum"]) for row in r.json()["results"]}


async def test_200_concurrent_votes_one_attendee(client: httpx.AsyncClient, server_db: Any) -> None:
    host, ev = await new_event(client, teams=2)
    eid, t0 = ev["id"], ev["teams"][0]["id"]
    await open_voting_for(client, host, eid, t0)
    a = await join(client, ev["code"])

    async def vote(i: int) -> httpx.Response:
        body = {"team_id": t0, "score": 1 + i % 5}
        return await client.post(f"/api/events/{eid}/votes", json=body, headers=a["headers"])

    responses = await asyncio.gather(*(vote(i) for i in range(200)))
    codes = [r.status_code for r in responses]
    assert codes.count(201) == 1 and codes.count(409) == 199, sorted(set(codes))
    assert all(
        r.json()["type"].endswith("/already-voted") for r in responses if r.status_code == 409
    )
    winner = next(r for r in responses if r.status_code == 201).json()["score"]
    assert (await tally(client, host, eid))[t0] == (1, winner)
    assert await server_db["event_votes"].count_documents({"event_id": eid}) == 1
    r = await client.post(f"/api/events/{eid}/recount", headers=host["headers"])
    assert r.status_code == 200 and r.json()["consistent"] is True, r.text


async def poll_stored_stage(
    server_db: Any, eid: str, team_ids: list[str], stop: asyncio.Event, seen: dict[str, int]
) -> None:
    """Read the stored event document (the one truth of the stage) until `stop`: it always
    names one team of the event or nobody, with voting closed (a switch closes it in the same
    write), and its `stage_gen` never goes back."""
    while not stop.is_set():
        doc = await server_db["events"].find_one(
            {"_id": ObjectId(eid)}, {"stage": 1, "stage_gen": 1, "voting_open": 1}
        )
        assert doc["stage"] in ("", *team_ids), doc
        assert not doc["voting_open"], doc
        assert doc["stage_gen"] >= seen["max_gen"], doc
        seen["scans"] += 1
        seen["max_gen"] = doc["stage_gen"]


async def test_50_concurrent_stage_switches_never_two_on_stage(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    host, ev = await new_event(client, teams=50)
    eid = ev["id"]
    team_ids = [t["id"] for t in ev["teams"]]
    stop = asyncio.Event()
    observed = {"views": 0, "scans": 0, "max_view": 0, "max_gen": 0}

    async def poll_view() -> None:
        while not stop.is_set():
            view = (await client.get(f"/api/events/{eid}")).json()
            on = [t["id"] for t in view["teams"] if t["on_stage"]]
            observed["views"] += 1
            observed["max_view"] = max(observed["max_view"], len(on))
            assert on == ([view["stage"]] if view["stage"] else []), view

    async def switch(tid: str) -> httpx.Response:
        return await client.put(
            f"/api/events/{eid}/stage", json={"team_id": tid}, headers=host["headers"]
        )

    pollers = [
        asyncio.create_task(poll_view()),
        asyncio.create_task(poll_stored_stage(server_db, eid, team_ids, stop, observed)),
    ]
    try:
        responses = await asyncio.gather(*(switch(t) for t in team_ids))
    finally:
        stop.set()
        await asyncio.gather(*pollers)
    assert [r.status_code for r in responses] == [200] * 50
    for tid, r in zip(team_ids, responses, strict=True):  # each answer: its team, alone
        assert [t["id"] for t in r.json()["teams"] if t["on_stage"]] == [tid]
        assert r.json()["stage"] == tid and r.json()["voting_open"] is False
    assert observed["views"] > 0 and observed["scans"] > 0
    assert observed["max_view"] <= 1, observed
    print(f"stage switches observed by {observed['views']} views, {observed['scans']} scans")

    view = (await client.get(f"/api/events/{eid}")).json()
    on_stage = [t["id"] for t in view["teams"] if t["on_stage"]]
    assert len(on_stage) == 1 and on_stage == [view["stage"]]
    doc = await server_db["events"].find_one({"_id": ObjectId(eid)})
    assert doc["stage"] == view["stage"]
    assert doc["stage_gen"] == 50  # every switch was one write, none lost
    assert await server_db["teams"].count_documents({"on_stage": {"$exists": True}}) == 0


async def test_votes_racing_with_close(client: httpx.AsyncClient, server_db: Any) -> None:
    """Votes fired while the host closes voting: every 201 is counted, the results read right
    after the close returned are final, and no vote sent after the close is accepted."""
    host, ev = await new_event(client, teams=2, max_score=3)
    eid, t0 = ev["id"], ev["teams"][0]["id"]
    attendees = await asyncio.gather(*(join(client, ev["code"]) for _ in range(160)))
    await open_voting_for(client, host, eid, t0)
    racing, late = attendees[:120], attendees[120:]
    answered = 0
    halfway = asyncio.Event()

    async def vote(a: dict[str, Any]) -> httpx.Response:
        nonlocal answered
        r = await burst.post(
            f"/api/events/{eid}/votes", json={"team_id": t0, "score": 2}, headers=a["headers"]
        )
        answered += 1
        if answered >= 30:
            halfway.set()
        return r

    async def close() -> dict[str, Any]:
        await halfway.wait()
        r = await client.put(
            f"/api/events/{eid}/voting", json={"open": False}, headers=host["headers"]
        )
        assert r.status_code == 200 and r.json()["voting_open"] is False
        return await tally(client, host, eid)  # read as soon as the close returned

    # fresh connections per burst: pooled ones idle past the server's keep-alive timeout
    # (5 s, easily reached on a loaded box) can be closed under a request (httpx ReadError)
    async with http_client(str(client.base_url)) as burst:
        answers: list[Any] = await asyncio.gather(*(vote(a) for a in racing), close())
    *responses, at_close = answers
    codes = [r.status_code for r in responses]
    assert set(codes) <= {201, 409}, set(codes)
    assert all(
        r.json()["type"].endswith("/voting-closed") for r in responses if r.status_code == 409
    )
    accepted = codes.count(201)
    assert accepted >= 30
    print(f"racing the close: {accepted} accepted, {codes.count(409)} voting-closed")

    async with http_client(str(client.base_url)) as burst:
        late_responses = await asyncio.gather(
            *(
                burst.post(
                    f"/api/events/{eid}/votes",
                    json={"team_id": t0, "score": 2},
                    headers=a["headers"],
                )
                for a in late
            )
        )
    assert [r.status_code for r in late_responses] == [409] * len(late)

    final = await tally(client, host, eid)
    assert final[t0] == (accepted, 2 * accepted)
    assert at_close == final  # nothing counted after the close returned
    assert await server_db["event_votes"].count_documents({"event_id": eid}) == accepted
    r = await client.post(f"/api/events/{eid}/recount", headers=host["headers"])
    assert r.json()["consistent"] is True, r.text


async def test_join_code_is_unique_under_concurrent_creates(server_db: Any) -> None:
    """100 concurrent creates asking for the same code: the unique index lets exactly one in."""
    events = EventService.of(server_db, utc_now)

    async def create(i: int) -> str:
        try:
            await events.create_event(
                host_id="h",
                title=f"E{i}",
                team_names=["Race team"],
                max_score=5,
                results="live",
                code="RACE42",
            )
        except Conflict as exc:
            return exc.type
        return "created"

    outcomes = await asyncio.gather(*(create(i) for i in range(100)))
    assert outcomes.count("created") == 1 and outcomes.count("code-taken") == 99
    assert await server_db["events"].count_documents({"code": "RACE42"}) == 1
    # the losers' team documents were removed
    assert await server_db["teams"].count_documents({"name": "Race team"}) == 1


async def test_concurrent_joins_are_all_counted(client: httpx.AsyncClient, server_db: Any) -> None:
    _, ev = await new_event(client, teams=1)
    async with http_client(str(client.base_url)) as burst:
        responses = await asyncio.gather(
            *(burst.post("/api/events/join", json={"code": ev["code"]}) for _ in range(120))
        )
    assert [r.status_code for r in responses] == [201] * 120
    assert len({r.json()["attendee_id"] for r in responses}) == 120
    assert (await client.get(f"/api/events/{ev['id']}")).json()["attendees"] == 120
    assert await server_db["attendees"].count_documents({"event_id": ev["id"]}) == 120


async def test_stage_switches_through_two_servers_converge(
    client: httpx.AsyncClient, server: RunningServer, make_server: Any, server_db: Any
) -> None:
    """Two app instances on one database (as two processes would be): their stage switches
    interleave without any shared in-process lock; every answer shows its own team alone on
    stage, the stored stage is always one team (or nobody) with voting closed, and both
    instances settle on the same `stage`."""
    other = make_server(
        mongo={"database": server.settings.mongo.database},
        redis={"prefix": server.settings.redis.prefix},
    )
    host, ev = await new_event(client, teams=30)
    eid = ev["id"]
    team_ids = [t["id"] for t in ev["teams"]]
    stop = asyncio.Event()
    seen = {"scans": 0, "max_gen": 0}

    async with http_client(other.url) as second:
        clients = [client, second]

        async def switch(i: int, tid: str) -> httpx.Response:
            return await clients[i % 2].put(
                f"/api/events/{eid}/stage", json={"team_id": tid}, headers=host["headers"]
            )

        poller = asyncio.create_task(poll_stored_stage(server_db, eid, team_ids, stop, seen))
        try:
            responses = await asyncio.gather(
                *(switch(i, tid) for i, tid in enumerate(team_ids * 2))
            )
        finally:
            stop.set()
            await poller
        assert [r.status_code for r in responses] == [200] * 60 and seen["scans"] > 0
        for tid, r in zip(team_ids * 2, responses, strict=True):
            assert [t["id"] for t in r.json()["teams"] if t["on_stage"]] == [tid]
        view = (await client.get(f"/api/events/{eid}")).json()
        assert (await second.get(f"/api/events/{eid}")).json()["stage"] == view["stage"]
    assert [t["id"] for t in view["teams"] if t["on_stage"]] == [view["stage"]]
    doc = await server_db["events"].find_one({"_id": ObjectId(eid)})
    assert doc["stage"] == view["stage"] and 30 <= doc["stage_gen"] <= 60, doc["stage_gen"]
