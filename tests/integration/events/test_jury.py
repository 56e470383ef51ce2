"""The pitch competition's rules: criteria, jurors, score sheets, the lock (DESIGN.md "The
pitch competition, complete"). Bad input is a problem+json and writes nothing."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import httpx

from tests.support.events import live_event, new_event
from tests.support.http import assert_problem, bearer
from tests.support.jury import add_juror, score
from tests.support.users import register_user

TWO = [{"name": "Pitch", "weight": 2}, {"name": "Product", "weight": 1}]


async def sheets(db: Any, event_id: str) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = await db.jury_sheets.find({"event_id": event_id}).to_list()
    return docs


async def test_criteria_default_set_and_fixed_once_voting_opened(client: httpx.AsyncClient) -> None:
    host, ev = await new_event(client, teams=2)
    assert ev["criteria"] == [{"name": "Score", "weight": 1.0}] and ev["jury_weight"] == 0.0
    _, ev2 = await new_event(client, teams=1, host=host, criteria=TWO, jury_weight=0.5)
    assert [c["name"] for c in ev2["criteria"]] == ["Pitch", "Product"]
    assert ev2["jury_weight"] == 0.5

    url = f"/api/events/{ev['id']}/criteria"
    r = await client.put(url, json={"criteria": TWO, "max_score": 10}, headers=host["headers"])
    assert r.status_code == 200, r.text
    assert r.json()["criteria"] == [
        {"name": "Pitch", "weight": 2.0},
        {"name": "Product", "weight": 1.0},
    ]
    assert r.json()["max_score"] == 10
    # bad criteria: duplicate names (422), a dot or `$` in a name, no criteria (400)
    dup = [{"name": "Pitch"}, {"name": "pitch"}]
    assert_problem(await client.put(url, json={"criteria": dup}, headers=host["headers"]), 422)
    for bad in ([{"name": "a.b"}], [{"name": "$x"}], [], [{"name": "A", "weight": 0}]):
        r = await client.put(url, json={"criteria": bad}, headers=host["headers"])
        assert r.status_code == 400, (bad, r.text)
    other = await register_user(client)
    assert_problem(await client.put(url, json={"criteria": TWO}, headers=other["headers"]), 403)
    assert (await client.get(f"/api/events/{ev['id']}")).json()["criteria"][0]["name"] == "Pitch"

    # once voting has opened (even closed again) the criteria are fixed
    host3, ev3, _ = await live_event(client)
    await client.put(
        f"/api/events/{ev3['id']}/voting", json={"open": False}, headers=host3["headers"]
    )
    r = await client.put(
        f"/api/events/{ev3['id']}/criteria", json={"criteria": TWO}, headers=host3["headers"]
    )
    assert_problem(r, 409, "criteria-locked")


async def test_criteria_fixed_once_a_juror_scored(client: httpx.AsyncClient) -> None:
    host, ev = await new_event(client, teams=1)
    juror = await add_juror(client, host, ev["id"], "Grace")
    assert (await score(client, juror, ev["id"], ev["teams"][0]["id"], Score=4)).status_code == 200
    r = await client.put(
        f"/api/events/{ev['id']}/criteria", json={"criteria": TWO}, headers=host["headers"]
    )
    assert_problem(r, 409, "criteria-locked")


async def test_jurors_get_a_secret_link_stored_only_as_a_hash(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    host, ev = await new_event(client, teams=2, criteria=TWO)
    juror = await add_juror(client, host, ev["id"], "Ada")
    assert set(juror) >= {"juror_id", "token", "link", "name"}
    assert juror["link"].endswith(f"/jury/{ev['id']}#token={juror['token']}")
    assert len(juror["token"]) >= 32
    stored = await server_db.jurors.find_one({"event_id": ev["id"]})
    assert stored["token_hash"] == hashlib.sha256(juror["token"].encode()).hexdigest()
    assert juror["token"] not in repr(stored)
    assert (await client.get(f"/api/events/{ev['id']}")).json()["jurors"] == 1

    me = await client.get(f"/api/events/{ev['id']}/jury/me", headers=juror["headers"])
    assert me.status_code == 200, me.text
    assert me.json()["name"] == "Ada" and [t["name"] for t in me.json()["teams"]] == [
        "Team 0",
        "Team 1",
    ]
    assert me.json()["sheets"] == {} and me.json()["locked"] is False

    other = await register_user(client)
    r = await client.post(
        f"/api/events/{ev['id']}/jurors", json={"name": "X"}, headers=other["headers"]
    )
    assert_problem(r, 403)
    assert_problem(await client.post(f"/api/events/{ev['id']}/jurors", json={"name": "X"}), 401)


async def test_sheets_replace_and_bad_input_writes_nothing(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    host, ev = await new_event(client, teams=2, criteria=TWO, max_score=5)
    eid, t0 = ev["id"], ev["teams"][0]["id"]
    juror = await add_juror(client, host, eid, "Ada")
    r = await score(client, juror, eid, t0, Pitch=4, Product=2)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "event_id": eid,
        "juror_id": juror["juror_id"],
        "team_id": t0,
        "scores": {"Pitch": 4, "Product": 2},
    }
    r = await score(client, juror, eid, t0, Pitch=5, Product=1)  # a revision replaces it
    assert r.status_code == 200
    before = await sheets(server_db, eid)
    assert len(before) == 1 and before[0]["scores"] == {"Pitch": 5, "Product": 1}
    tally_before = (await server_db.events.find_one({"code": ev["code"]}))["jury_tally"]
    assert tally_before == {t0: {"sheets": 1, "sums": {"Pitch": 5, "Product": 1}}}

    # every refusal below leaves the sheet and the tally as they are
    other_host, other_ev = await new_event(client, teams=1)
    stranger = await add_juror(client, other_host, other_ev["id"], "Eve")
    cases: list[tuple[dict[str, Any], dict[str, str], int, str | None]] = [
        ({"Pitch": 0, "Product": 3}, juror["headers"], 422, "validation-error"),
        ({"Pitch": 6, "Product": 3}, juror["headers"], 422, "validation-error"),
        ({"Pitch": 3}, juror["headers"], 422, "validation-error"),
        ({"Pitch": 3, "Product": 3, "Vibes": 3}, juror["headers"], 422, "validation-error"),
        ({"Pitch": 3, "Product": 3}, stranger["headers"], 403, "juror-other-event"),
        ({"Pitch": 3, "Product": 3}, bearer("not-a-juror-token"), 401, None),
        ({"Pitch": 3, "Product": 3}, {}, 401, None),
        ({"Pitch": 3, "Product": 3}, host["headers"], 401, None),  # a host is not a juror
    ]
    for body, headers, status, type_ in cases:
        r = await client.put(
            f"/api/events/{eid}/jury/scores/{t0}", json={"scores": body}, headers=headers
        )
        assert_problem(r, status, type_)
    for raw in ({"scores": {"Pitch": "3", "Product": 3}}, {"scores": {"Pitch": 3.5}}, {}):
        r = await client.put(
            f"/api/events/{eid}/jury/scores/{t0}", json=raw, headers=juror["headers"]
        )
        assert_problem(r, 400)
    r = await score(client, juror, eid, "0" * 24, Pitch=3, Product=3)
    assert_problem(r, 404)
    assert await sheets(server_db, eid) == before
    assert (await server_db.events.find_one({"code": ev["code"]}))["jury_tally"] == tally_before


async def test_lock_refuses_later_sheets_and_the_grid_shows_progress(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    host, ev = await new_event(client, teams=2)
    eid, t0, t1 = ev["id"], ev["teams"][0]["id"], ev["teams"][1]["id"]
    ada = await add_juror(client, host, eid, "Ada")
    bob = await add_juror(client, host, eid, "Bob")
    assert (await score(client, ada, eid, t0, Score=3)).status_code == 200
    assert (await score(client, ada, eid, t1, Score=4)).status_code == 200
    assert (await score(client, bob, eid, t1, Score=5)).status_code == 200
    grid = (await client.get(f"/api/events/{eid}/jury", headers=host["headers"])).json()
    assert grid["locked"] is False
    assert [(j["name"], j["scored"]) for j in grid["jurors"]] == [("Ada", [t0, t1]), ("Bob", [t1])]
    assert_problem(await client.get(f"/api/events/{eid}/jury", headers=ada["headers"]), 401)

    r = await client.put(f"/api/events/{eid}/jury", json={"locked": True}, headers=host["headers"])
    assert r.status_code == 200 and r.json()["locked"] is True
    assert_problem(await score(client, ada, eid, t0, Score=1), 409, "jury-locked")
    assert_problem(await score(client, bob, eid, t0, Score=1), 409, "jury-locked")  # never scored
    r = await client.post(f"/api/events/{eid}/jurors", json={"name": "C"}, headers=host["headers"])
    assert_problem(r, 409, "jury-locked")
    me = (await client.get(f"/api/events/{eid}/jury/me", headers=bob["headers"])).json()
    assert me["locked"] is True and me["sheets"] == {t1: {"Score": 5}}
    scored = [s for s in await sheets(server_db, eid) if "scores" in s]
    assert sorted(s["scores"]["Score"] for s in scored) == [3, 4, 5]

    # the host may unlock to let the jury correct a sheet, and lock again
    r = await client.put(f"/api/events/{eid}/jury", json={"locked": False}, headers=host["headers"])
    assert r.status_code == 200 and r.json()["locked"] is False
    assert (await score(client, bob, eid, t0, Score=2)).status_code == 200
    await client.put(f"/api/events/{eid}/jury", json={"locked": True}, headers=host["headers"])
    assert_problem(await score(client, bob, eid, t0, Score=1), 409, "jury-locked")


async def test_thirty_concurrent_revisions_leave_exactly_one_sheet(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    host, ev = await new_event(client, teams=1, criteria=TWO, max_score=10)
    eid, t0 = ev["id"], ev["teams"][0]["id"]
    juror = await add_juror(client, host, eid, "Ada")
    versions = [{"Pitch": 1 + i % 10, "Product": 10 - i % 10} for i in range(30)]
    answers = await asyncio.gather(*(score(client, juror, eid, t0, **v) for v in versions))
    assert [r.status_code for r in answers] == [200] * 30, [r.text for r in answers]
    stored = await sheets(server_db, eid)
    assert len(stored) == 1 and stored[0]["scores"] in versions
    event = await server_db.events.find_one({"code": ev["code"]})
    assert event["jury_tally"][t0] == {"sheets": 1, "sums": stored[0]["scores"]}


async def test_a_lock_racing_revisions_is_final_when_it_returns(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    """Check-and-set, not read-then-write: once the lock has answered, no sheet changes,
    even from revisions that were already in flight."""
    host, ev = await new_event(client, teams=2, max_score=10)
    eid, teams = ev["id"], [t["id"] for t in ev["teams"]]
    juror = await add_juror(client, host, eid, "Ada")
    writes = [
        asyncio.ensure_future(score(client, juror, eid, teams[i % 2], Score=1 + i % 10))
        for i in range(30)
    ]
    await asyncio.sleep(0.02)
    r = await client.put(f"/api/events/{eid}/jury", json={"locked": True}, headers=host["headers"])
    assert r.status_code == 200
    at_lock = {s["team_id"]: s.get("scores") for s in await sheets(server_db, eid)}
    answers = await asyncio.gather(*writes)
    assert {a.status_code for a in answers} <= {200, 409}
    for a in answers:
        if a.status_code == 409:
            assert_problem(a, 409, "jury-locked")
    after = {s["team_id"]: s.get("scores") for s in await sheets(server_db, eid)}
    assert after == at_lock
    assert len(await sheets(server_db, eid)) == 2  # one slot per (juror, team), no more
