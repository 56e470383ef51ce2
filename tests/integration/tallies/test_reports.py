"""Elections and reports over HTTP: creation, validation, idempotency, corrections, queries."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.http import http_client
from tests.support.servers import FakeClock, RunningServer
from tests.support.tallies import (
    PARTIES,
    create_election,
    recounted,
    report_body,
    send,
    totals,
    zero,
)
from tests.support.users import register_user


async def test_create_and_read_election(client: httpx.AsyncClient) -> None:
    u = await register_user(client)
    e = await create_election(client, u["headers"])
    assert len(e["reporter_key"]) >= 40
    assert e["expected_boxes"] == 670 and e["parties"] == PARTIES
    r = await client.get(f"/api/elections/{e['id']}")
    assert r.status_code == 200
    assert "reporter_key" not in r.json() and r.json()["cities"][1] == {
        "name": "manchester",
        "ballot_boxes": 40,
    }
    assert (await client.get("/api/elections/nope")).status_code == 404
    assert (await client.get("/api/elections/" + "a" * 24)).status_code == 404


async def test_key_is_stored_hashed(client: httpx.AsyncClient, server_db: Any) -> None:
    u = await register_user(client)
    e = await create_election(client, u["headers"])
    doc = await server_db["elections"].find_one({})
    assert e["reporter_key"] not in str(await server_db["elections"].find_one({"name": e["name"]}))
    assert doc is not None


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": "x", "parties": ["a", "a"], "cities": [{"name": "c", "ballot_boxes": 1}]}, 422),
        ({"name": "x", "parties": ["a"], "cities": [{"name": "c", "ballot_boxes": 0}]}, 400),
        ({"name": "x", "parties": ["$a"], "cities": [{"name": "c", "ballot_boxes": 1}]}, 400),
        ({"name": "x", "parties": [], "cities": [{"name": "c", "ballot_boxes": 1}]}, 400),
        (
            {"name": "x", "parties": ["a"], "cities": [{"name": "c", "ballot_boxes": 1}], "y": 1},
            400,
        ),
    ],
)
async def test_bad_elections_rejected(
    client: httpx.AsyncClient, body: dict[str, Any], status: int
) -> None:
    u = await register_user(client)
    r = await client.post("/api/elections", json=body, headers=u["headers"])
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_create_requires_login(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/api/elections",
        json={"name": "x", "parties": ["a"], "cities": [{"name": "c", "ballot_boxes": 1}]},
    )
    assert r.status_code == 401


GOOD = {"tories": 10, "labour": 20}


@pytest.mark.parametrize(
    ("change", "headers", "status"),
    [
        ({"votes": {"tories": 1, "greens": 2}}, None, 422),  # unknown party
        ({"city": "paris"}, None, 422),  # unknown city
        ({"votes": {"tories": -1}}, None, 400),  # negative
        ({"votes": {"tories": 1.5}}, None, 400),  # not an integer
        ({"votes": {"tories": "3"}}, None, 400),  # not an integer
        ({"votes": {"tories": True}}, None, 400),  # not an integer
        ({"votes": {"$inc": 3}}, None, 400),  # operator key
        ({"votes": {}}, None, 400),  # nothing reported
        ({"ballot_box_id": "$box"}, None, 400),
        ({"report_id": "a.b"}, None, 400),
        ({"extra": 1}, None, 400),  # unknown field
        ({}, {"X-Reporter-Key": "wrong"}, 401),
        ({}, {}, 401),  # missing key
        ({"supersedes": "never-sent"}, None, 422),
    ],
)
async def test_bad_reports_store_nothing(
    client: httpx.AsyncClient,
    server_db: Any,
    change: dict[str, Any],
    headers: dict[str, str] | None,
    status: int,
) -> None:
    u = await register_user(client)
    e = await create_election(client, u["headers"])
    body = {**report_body("r1", "box1", "london", GOOD), **change}
    r = await client.post(
        f"/api/elections/{e['id']}/reports",
        json=body,
        headers=e["key_headers"] if headers is None else headers,
    )
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert await server_db["election_reports"].count_documents({"election_id": e["id"]}) == 0
    assert await server_db["election_audit"].count_documents({"election_id": e["id"]}) == 0
    t = await totals(client, e)
    assert t["votes"] == zero() and t["reported_boxes"] == 0


async def test_key_of_another_election_is_refused(client: httpx.AsyncClient) -> None:
    u = await register_user(client)
    e1, e2 = (
        await create_election(client, u["headers"]),
        await create_election(client, u["headers"]),
    )
    r = await client.post(
        f"/api/elections/{e1['id']}/reports",
        json=report_body("r1", "b1", "london", GOOD),
        headers=e2["key_headers"],
    )
    assert r.status_code == 401
    r = await send(client, {**e1, "id": "0" * 24}, report_body("r1", "b1", "london", GOOD))
    assert r.status_code == 404


@pytest.mark.parametrize("copies", [5, 120])
async def test_same_report_concurrently_applied_once(
    client: httpx.AsyncClient, server_db: Any, copies: int
) -> None:
    u = await register_user(client)
    e = await create_election(client, u["headers"])
    body = report_body("r-1", "box-1", "manchester", {"tories": 7, "labour": 3, "reform": 1})
    responses = await asyncio.gather(*(send(client, e, body) for _ in range(copies)))
    assert [r.status_code for r in responses] == [202] * copies
    assert {r.json()["report_id"] for r in responses} == {"r-1"}
    assert {r.json()["status"] for r in responses} <= {"applied", "pending"}
    expected = {**zero(), "tories": 7, "labour": 3, "reform": 1}
    t = await totals(client, e)
    assert t == {"votes": expected, "reported_boxes": 1, "expected_boxes": 670, "city": None}
    assert (await totals(client, e, "manchester"))["votes"] == expected
    assert (await totals(client, e, "london"))["votes"] == zero()
    assert await server_db["election_reports"].count_documents({"election_id": e["id"]}) == 1
    assert await server_db["election_audit"].count_documents({"election_id": e["id"]}) == 3
    # a later resend answers the same and changes nothing
    again = await send(client, e, body)
    assert again.status_code == 202 and again.json() == {"report_id": "r-1", "status": "applied"}
    assert (await totals(client, e))["votes"] == expected


async def test_same_id_other_body_is_409(client: httpx.AsyncClient) -> None:
    u = await register_user(client)
    e = await create_election(client, u["headers"])
    assert (await send(client, e, report_body("r1", "b1", "london", GOOD))).status_code == 202
    r = await send(client, e, report_body("r1", "b1", "london", {"tories": 11, "labour": 20}))
    assert r.status_code == 409 and r.json()["type"].endswith("/report-id-reused")
    r = await send(client, e, report_body("r1", "b2", "london", GOOD))
    assert r.status_code == 409
    assert (await totals(client, e))["votes"]["tories"] == 10


async def test_one_effective_report_per_box(client: httpx.AsyncClient, server_db: Any) -> None:
    """A second plain report of a box is a 409 box-already-reported, nothing written; an
    idempotent resend is still a 202; a correction (`corrects`) changes the box's counts."""
    u = await register_user(client)
    e = await create_election(client, u["headers"])
    first = report_body("b1-0", "b1", "london", {"tories": 5})
    assert (await send(client, e, first)).status_code == 202
    r = await send(client, e, report_body("b1-1", "b1", "london", {"tories": 5}))
    assert r.status_code == 409 and r.json()["type"].endswith("/box-already-reported")
    assert r.headers["content-type"].startswith("application/problem+json")
    assert (await send(client, e, first)).status_code == 202
    fix = report_body("b1-2", "b1", "london", {"tories": 7}, corrects="b1-0")
    assert (await send(client, e, fix)).status_code == 202
    t = await totals(client, e, "london")
    assert t["votes"]["tories"] == 7 and t["reported_boxes"] == 1 and t["expected_boxes"] == 600
    assert await server_db["election_reports"].count_documents({"election_id": e["id"]}) == 2


async def test_correction_moves_totals_by_the_difference(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    u = await register_user(client)
    e = await create_election(client, u["headers"])
    await send(client, e, report_body("a1", "bA", "london", {"tories": 100, "labour": 50}))
    await send(client, e, report_body("b1", "bB", "london", {"tories": 1, "labour": 1}))
    fix = report_body("a2", "bA", "london", {"tories": 90, "libdems": 5}, supersedes="a1")
    r = await send(client, e, fix)
    assert r.status_code == 202 and r.json()["status"] == "applied"
    t = await totals(client, e, "london")
    assert t["votes"] == {"tories": 91, "labour": 1, "libdems": 5, "reform": 0}
    assert t["reported_boxes"] == 2
    # resending the correction changes nothing; a second correction of a1 is refused
    assert (await send(client, e, fix)).status_code == 202
    r = await send(client, e, report_body("a3", "bA", "london", {"tories": 1}, supersedes="a1"))
    assert r.status_code == 409 and r.json()["type"].endswith("/already-superseded")
    # a chain: correct the correction
    r = await send(client, e, report_body("a3", "bA", "london", {"tories": 95}, supersedes="a2"))
    assert r.status_code == 202
    t = await totals(client, e, "london")
    assert t["votes"] == {"tories": 96, "labour": 1, "libdems": 0, "reform": 0}
    # a correction must come from the same box and city
    r = await send(client, e, report_body("x", "bB", "london", {"tories": 1}, supersedes="a3"))
    assert r.status_code == 422
    # the audit log shows every report, the superseded ones marked
    r = await client.get(f"/api/elections/{e['id']}/reports", params={"city": "london"})
    items = {i["report_id"]: i for i in r.json()["items"]}
    assert set(items) == {"a1", "b1", "a2", "a3"}
    assert items["a1"]["superseded_by"] == "a2" and items["a2"]["supersedes"] == "a1"
    assert items["a3"]["kind"] == "correction" and "superseded_by" not in items["a3"]
    deltas = (
        await server_db["election_audit"]
        .find({"election_id": e["id"], "report_id": "a2"})
        .to_list()
    )
    assert {d["party"]: d["delta"] for d in deltas} == {
        "tories": -10,
        "labour": -50,
        "libdems": 5,
    }
    result = await recounted(server_db, e["id"])
    assert result.ok, result


async def test_recount_endpoint_is_for_the_creator(client: httpx.AsyncClient) -> None:
    u, other = await register_user(client), await register_user(client)
    e = await create_election(client, u["headers"])
    await send(client, e, report_body("r1", "b1", "edinburgh", GOOD))
    url = f"/api/elections/{e['id']}/recount"
    assert (await client.post(url)).status_code == 401
    assert (await client.post(url, headers=other["headers"])).status_code == 403
    r = await client.post(url, headers=u["headers"])
    assert r.status_code == 200 and r.json()["ok"] is True, r.text
    assert r.json()["votes"]["labour"] == 20 and r.json()["differences"] == []


async def test_recount_finds_a_tampered_total(client: httpx.AsyncClient, server_db: Any) -> None:
    u = await register_user(client)
    e = await create_election(client, u["headers"])
    await send(client, e, report_body("r1", "b1", "edinburgh", GOOD))
    await server_db["election_totals"].update_one(
        {"election_id": e["id"], "city_index": 2}, {"$inc": {"votes.p1": 1}}
    )
    r = await client.post(f"/api/elections/{e['id']}/recount", headers=u["headers"])
    assert r.json()["ok"] is False
    assert any("edinburgh/labour" in d for d in r.json()["differences"])


async def test_time_windows_and_top_city(make_server: Callable[..., RunningServer]) -> None:
    clock = FakeClock(datetime(2026, 5, 7, 17, 50, tzinfo=UTC))
    server = make_server(clock=clock)
    async with http_client(server.url) as client:
        u = await register_user(client)
        e = await create_election(client, u["headers"])
        plan = [  # (minutes after 17:50, city, votes)
            (0, "london", 500),  # 17:50 before the window
            (15, "manchester", 40),  # 18:05
            (30, "edinburgh", 30),  # 18:20
            (45, "manchester", 25),  # 18:35
            (69, "edinburgh", 20),  # 18:59
            (70, "london", 1000),  # 19:00 excluded (to is exclusive)
        ]
        for i, (minutes, city, n) in enumerate(plan):
            clock.now = datetime(2026, 5, 7, 17, 50, tzinfo=UTC) + timedelta(minutes=minutes)
            r = await send(client, e, report_body(f"r{i}", f"b{i}", city, {"labour": n}))
            assert r.status_code == 202
        window = {"from": "2026-05-07T18:00:00Z", "to": "2026-05-07T19:00:00+00:00"}
        r = await client.get(f"/api/elections/{e['id']}/cities/top", params=window)
        assert r.status_code == 200, r.text
        assert r.json()["items"] == [
            {"city": "manchester", "votes": 65},
            {"city": "edinburgh", "votes": 50},
        ]
        r = await client.get(f"/api/elections/{e['id']}/reports", params=window)
        assert [i["report_id"] for i in r.json()["items"]] == ["r1", "r2", "r3", "r4"]
        r = await client.get(
            f"/api/elections/{e['id']}/reports", params={**window, "city": "edinburgh"}
        )
        assert [i["report_id"] for i in r.json()["items"]] == ["r2", "r4"]
        r = await client.get(f"/api/elections/{e['id']}/reports", params={"limit": 4, "page": 2})
        body = r.json()
        assert [i["report_id"] for i in body["items"]] == ["r4", "r5"]
        assert body["has_more"] is False and body["page"] == 2
        r = await client.get(f"/api/elections/{e['id']}/reports", params={"from": "yesterday"})
        assert r.status_code == 400
        assert (await client.get(f"/api/elections/{e['id']}/totals?city=paris")).status_code == 404


async def test_concurrent_corrections_of_one_report_one_wins(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    u = await register_user(client)
    e = await create_election(client, u["headers"])
    await send(client, e, report_body("orig", "bX", "manchester", {"labour": 100}))
    bodies = [
        report_body(f"fix{i}", "bX", "manchester", {"labour": 100 + i}, supersedes="orig")
        for i in range(1, 121)
    ]
    responses = await asyncio.gather(*(send(client, e, b) for b in bodies))
    codes = Counter(r.status_code for r in responses)
    assert codes == {202: 1, 409: 119}, codes
    winner = next(b for b, r in zip(bodies, responses, strict=True) if r.status_code == 202)
    t = await totals(client, e, "manchester")
    assert t["votes"]["labour"] == winner["votes"]["labour"] and t["reported_boxes"] == 1
    assert await server_db["election_reports"].count_documents({"election_id": e["id"]}) == 2
    result = await recounted(server_db, e["id"])
    assert result.ok, result


async def test_results_screen_page(client: httpx.AsyncClient) -> None:
    u = await register_user(client)
    e = await create_election(client, u["headers"])
    r = await client.get(f"/elections/{e['id']}/screen")
    assert r.status_code == 200 and e["name"] in r.text
    for missing in ("nope", "a" * 24):
        r = await client.get(f"/elections/{missing}/screen")
        assert r.status_code == 404 and "This election doesn" in r.text  # (the quote is escaped)
