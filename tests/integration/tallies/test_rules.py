"""Issue 16, election night: one effective report per box, cities never over-counted,
corrections exactly once, party colours, bad input refused with nothing written."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from livevote.tallies.service import CRASH_POINTS
from tests.support.faults import FaultInjector
from tests.support.http import http_client
from tests.support.servers import RunningServer
from tests.support.tallies import (
    create_election,
    recounted,
    report_body,
    send,
    totals,
    wait_until_applied,
    zero,
)
from tests.support.users import register_user


async def test_parties_with_colours(client: httpx.AsyncClient) -> None:
    u = await register_user(client)
    parties = [{"name": "tories", "colour": "#0087DC"}, "labour", {"name": "greens"}]
    r = await client.post(
        "/api/elections",
        json={"name": "GE", "parties": parties, "cities": [{"name": "x", "ballot_boxes": 2}]},
        headers=u["headers"],
    )
    assert r.status_code == 201, r.text
    e = (await client.get(f"/api/elections/{r.json()['id']}")).json()
    assert e["parties"] == ["tories", "labour", "greens"]
    assert e["colours"]["tories"] == "#0087dc"
    assert len(set(e["colours"].values())) == 3
    assert all(len(c) == 7 and c.startswith("#") for c in e["colours"].values())
    for bad in (
        {"name": "a", "colour": "red"},
        {"name": "a", "colour": "#12345"},
        {"colour": "#000000"},
    ):
        r = await client.post(
            "/api/elections",
            json={"name": "GE", "parties": [bad], "cities": [{"name": "x", "ballot_boxes": 1}]},
            headers=u["headers"],
        )
        assert r.status_code == 400, (bad, r.text)


async def test_fifty_different_reports_for_one_box_one_applies(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    u = await register_user(client)
    e = await create_election(client, u["headers"])
    bodies = [report_body(f"r{i}", "box-7", "london", {"labour": 100 + i}) for i in range(50)]
    responses = await asyncio.gather(*(send(client, e, b) for b in bodies))
    codes = Counter(r.status_code for r in responses)
    assert codes == {202: 1, 409: 49}, codes
    assert {r.json()["type"].rsplit("/", 1)[1] for r in responses if r.status_code == 409} == {
        "box-already-reported"
    }
    winner = next(b for b, r in zip(bodies, responses, strict=True) if r.status_code == 202)
    t = await totals(client, e, "london")
    assert t["votes"]["labour"] == winner["votes"]["labour"] and t["reported_boxes"] == 1
    assert await server_db["election_reports"].count_documents({"election_id": e["id"]}) == 1
    assert (await recounted(server_db, e["id"])).ok


async def test_city_never_counts_more_boxes_than_it_expects(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    u = await register_user(client)
    e = await create_election(
        client,
        u["headers"],
        cities=[{"name": "tiny", "ballot_boxes": 3}, {"name": "big", "ballot_boxes": 50}],
    )
    bodies = [report_body(f"r{i}", f"box{i}", "tiny", {"tories": 1}) for i in range(12)]
    responses = await asyncio.gather(*(send(client, e, b) for b in bodies))
    codes = Counter(r.status_code for r in responses)
    assert codes == {202: 3, 409: 9}, codes
    assert all(
        r.json()["type"].endswith("/city-fully-reported") for r in responses if r.status_code == 409
    )
    t = await totals(client, e, "tiny")
    assert t["reported_boxes"] == 3 and t["votes"]["tories"] == 3
    # a correction of a full city's box is still fine; the other city is unaffected
    first = next(b for b, r in zip(bodies, responses, strict=True) if r.status_code == 202)
    fix = report_body(
        "fix", first["ballot_box_id"], "tiny", {"tories": 9}, corrects=first["report_id"]
    )
    assert (await send(client, e, fix)).status_code == 202
    assert (await send(client, e, report_body("b", "b0", "big", {"tories": 1}))).status_code == 202
    assert (await totals(client, e, "tiny"))["votes"]["tories"] == 11
    assert (await recounted(server_db, e["id"])).ok


async def test_a_city_fills_up_exactly_under_contention(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    """80 concurrent reports of different boxes for a city of 30: exactly 30 counted, every
    slot filled (the spread-out slot steps leave no box of the city refused while it has
    room), 50 x 409 city-fully-reported."""
    u = await register_user(client)
    e = await create_election(client, u["headers"], cities=[{"name": "mid", "ballot_boxes": 30}])
    bodies = [report_body(f"r{i}", f"box{i}", "mid", {"labour": 1}) for i in range(80)]
    responses = await asyncio.gather(*(send(client, e, b) for b in bodies))
    assert Counter(r.status_code for r in responses) == {202: 30, 409: 50}
    slots = await server_db["election_reports"].distinct("slot", {"election_id": e["id"]})
    assert sorted(slots) == list(range(30))
    t = await totals(client, e, "mid")
    assert t["reported_boxes"] == 30 and t["votes"]["labour"] == 30


@pytest.fixture(scope="module")
def faults() -> FaultInjector:
    return FaultInjector(CRASH_POINTS)


@pytest.fixture(scope="module")
def crash_server(make_server: Callable[..., RunningServer], faults: FaultInjector) -> RunningServer:
    return make_server(hooks=faults)


async def test_correction_races_resends_of_its_original(
    crash_server: RunningServer, faults: FaultInjector
) -> None:
    """The original is stored but its process "dies" (left pending); its resends race a
    correction of it: the correction applies the original first, then the difference,
    each exactly once; the audit log keeps the correction as a correction."""
    from pymongo import AsyncMongoClient

    mc: AsyncMongoClient[Any] = AsyncMongoClient(crash_server.settings.mongo.uri, tz_aware=True)
    db = mc[crash_server.settings.mongo.database]
    try:
        async with http_client(crash_server.url) as client:
            u = await register_user(client)
            e = await create_election(client, u["headers"])
            original = report_body("orig", "bx", "manchester", {"tories": 50, "labour": 40})
            faults.arm("after_store", times=1)
            assert (await send(client, e, original)).status_code == 500
            fix = report_body(
                "fix", "bx", "manchester", {"tories": 45, "reform": 3}, corrects="orig"
            )
            bodies = [original] * 20 + [fix] * 5
            responses = await asyncio.gather(*(send(client, e, b) for b in bodies))
            assert {r.status_code for r in responses} == {202}, [r.text for r in responses]
            await wait_until_applied(db, e["id"])
            t = await totals(client, e, "manchester")
            assert t["votes"] == {**zero(), "tories": 45, "reform": 3} and t["reported_boxes"] == 1
            entries = (
                await db["election_audit"]
                .find({"election_id": e["id"], "report_id": "fix"})
                .to_list()
            )
            assert {x["party"]: x["delta"] for x in entries} == {
                "tories": -5,
                "labour": -40,
                "reform": 3,
            }
            assert {x["kind"] for x in entries} == {"correction"}
            r = await client.get(f"/api/elections/{e['id']}/reports")
            kinds = {i["report_id"]: (i["kind"], i.get("superseded_by")) for i in r.json()["items"]}
            assert kinds == {"orig": ("report", "fix"), "fix": ("correction", None)}
            assert (await recounted(db, e["id"])).ok
    finally:
        faults.disarm()
        await mc.close()


@pytest.mark.parametrize(
    ("change", "status", "problem"),
    [
        ({"votes": {"greens": 1}}, 422, "unknown-party"),
        ({"city": "atlantis"}, 422, "unknown-city"),
        ({"votes": {"tories": -3}}, 400, None),
        ({"votes": {"tories": 2.5}}, 400, None),
        ({"ballot_box_id": "other-box", "corrects": "a1"}, 422, "bad-correction"),
        ({"corrects": "a1", "supersedes": "b1"}, 422, None),
        ({"corrects": "never-sent"}, 422, "bad-correction"),
    ],
)
async def test_bad_input_writes_nothing(
    client: httpx.AsyncClient,
    server_db: Any,
    change: dict[str, Any],
    status: int,
    problem: str | None,
) -> None:
    u = await register_user(client)
    e = await create_election(client, u["headers"])
    await send(client, e, report_body("a1", "box-a", "london", {"tories": 1}))
    await send(client, e, report_body("b1", "box-b", "london", {"tories": 1}))
    before = await server_db["election_reports"].count_documents({"election_id": e["id"]})
    r = await send(client, e, {**report_body("x1", "box-a", "london", {"tories": 2}), **change})
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    if problem:
        assert r.json()["type"].endswith("/" + problem)
    assert await server_db["election_reports"].count_documents({"election_id": e["id"]}) == before
    assert (await totals(client, e))["votes"]["tories"] == 2
