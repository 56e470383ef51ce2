"""Issue 12, finding 1: elections are bounded. One request used to create millions of
documents, and every public read scanned all of them. Each test names the part it covers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from livevote.config import Settings
from tests.support.http import http_client
from tests.support.servers import RunningServer
from tests.support.tallies import create_election, report_body, send, totals
from tests.support.users import register_user


def test_caps_are_settings() -> None:
    """Finding 1 (caps): LIVEVOTE_ELECTIONS_MAX_CITIES / _MAX_BOXES, default 2000 and 1M."""
    assert Settings().elections.max_cities == 2000
    assert Settings().elections.max_boxes == 1_000_000
    env = {"LIVEVOTE_ELECTIONS_MAX_CITIES": "7", "LIVEVOTE_ELECTIONS_MAX_BOXES": "99"}
    settings = Settings.from_env(env, config_file="/nonexistent.yaml")
    assert (settings.elections.max_cities, settings.elections.max_boxes) == (7, 99)


async def test_too_many_cities_or_boxes_is_422(
    make_server: Callable[..., RunningServer],
) -> None:
    """Finding 1 (caps): more cities than LIVEVOTE_ELECTIONS_MAX_CITIES, or more ballot boxes
    in all than LIVEVOTE_ELECTIONS_MAX_BOXES -> 422, nothing written."""
    server = make_server(elections={"max_cities": 3, "max_boxes": 1000})
    async with http_client(server.url) as client:
        u = await register_user(client)
        cities = [{"name": f"c{i}", "ballot_boxes": 1} for i in range(4)]
        r = await client.post(
            "/api/elections",
            json={"name": "x", "parties": ["a"], "cities": cities},
            headers=u["headers"],
        )
        assert r.status_code == 422 and r.json()["type"].endswith("/too-many-cities"), r.text
        cities = [{"name": "big", "ballot_boxes": 600}, {"name": "bigger", "ballot_boxes": 401}]
        r = await client.post(
            "/api/elections",
            json={"name": "x", "parties": ["a"], "cities": cities},
            headers=u["headers"],
        )
        assert r.status_code == 422 and r.json()["type"].endswith("/too-many-boxes"), r.text
        r = await client.get("/api/elections", headers=u["headers"])
        assert r.json()["items"] == []
        cities = [{"name": "big", "ballot_boxes": 600}, {"name": "bigger", "ballot_boxes": 400}]
        e = await create_election(client, u["headers"], cities=cities)
        assert e["expected_boxes"] == 1000


async def test_default_box_cap(client: httpx.AsyncClient) -> None:
    """Finding 1 (caps): by default, 1,000,001 ballot boxes in all -> 422."""
    u = await register_user(client)
    cities = [{"name": "a", "ballot_boxes": 600_000}, {"name": "b", "ballot_boxes": 400_001}]
    r = await client.post(
        "/api/elections",
        json={"name": "x", "parties": ["p"], "cities": cities},
        headers=u["headers"],
    )
    assert r.status_code == 422 and r.json()["type"].endswith("/too-many-boxes"), r.text


async def test_creation_writes_nothing_per_box(client: httpx.AsyncClient, server_db: Any) -> None:
    """Finding 1 (nothing proportional to boxes up front): an election of a million boxes
    is one document (and its key); counter shards appear as boxes report."""
    u = await register_user(client)
    e = await create_election(
        client, u["headers"], cities=[{"name": "megacity", "ballot_boxes": 1_000_000}]
    )
    assert await server_db["election_totals"].count_documents({"election_id": e["id"]}) == 0
    assert await server_db["election_keys"].count_documents({"election_id": e["id"]}) == 1
    await send(client, e, report_body("r1", "box-9", "megacity", {"tories": 3}))
    assert await server_db["election_totals"].count_documents({"election_id": e["id"]}) == 1
    t = await totals(client, e)
    assert t["votes"]["tories"] == 3 and t["reported_boxes"] == 1
    assert t["expected_boxes"] == 1_000_000


async def test_public_reads_are_cached_under_the_change_counter(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    """Finding 1 (cache public reads): totals, top cities and the screen are answered from
    a cache keyed by the election's change counter. A change that bypasses the service (here
    a direct write to a shard) is not seen while the counter stands still; the next report
    moves the counter and the next read is fresh."""
    u = await register_user(client)
    e = await create_election(client, u["headers"])
    await send(client, e, report_body("r1", "b1", "london", {"tories": 10}))
    url = f"/api/elections/{e['id']}"
    assert (await totals(client, e))["votes"]["tories"] == 10
    top = (await client.get(f"{url}/cities/top")).json()["items"]
    assert top == [{"city": "london", "votes": 10}]
    await server_db["election_totals"].update_one(
        {"election_id": e["id"]}, {"$inc": {"votes.p0": 1000}}
    )
    assert (await totals(client, e))["votes"]["tories"] == 10  # cached
    assert (await client.get(f"{url}/cities/top")).json()["items"] == top
    await send(client, e, report_body("r2", "b2", "london", {"tories": 1}))
    assert (await totals(client, e))["votes"]["tories"] == 1011  # the counter moved
    top = (await client.get(f"{url}/cities/top")).json()["items"]
    assert top == [{"city": "london", "votes": 1011}]


async def test_top_cities_without_window_reads_one_row_per_city(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    """Finding 1 (bound cities/top): without a time window the ranking comes from the
    counter shards (one row per city), not from an aggregation over the whole audit log."""
    u = await register_user(client)
    e = await create_election(client, u["headers"])
    await send(client, e, report_body("r1", "b1", "edinburgh", {"labour": 5}))
    # an entry in the audit log that no total carries: an audit scan would rank it first
    await server_db["election_audit"].insert_one(
        {
            "election_id": e["id"],
            "report_id": "ghost",
            "party": "labour",
            "city": "london",
            "delta": 10_000,
            "at_ms": 0,
        }
    )
    r = await client.get(f"/api/elections/{e['id']}/cities/top")
    assert r.json()["items"] == [{"city": "edinburgh", "votes": 5}]
    assert (await client.get(f"/api/elections/{e['id']}/cities/top?limit=101")).status_code == 400


async def test_reports_page_by_keyset_and_page_is_capped(client: httpx.AsyncClient) -> None:
    """Finding 1 (keyset-paginate reports): `next` is a cursor for `after`; a deep `page`
    (a 50-million-row skip before) is refused."""
    u = await register_user(client)
    e = await create_election(client, u["headers"])
    for i in range(7):
        await send(client, e, report_body(f"r{i}", f"b{i}", "manchester", {"reform": i}))
    url = f"/api/elections/{e['id']}/reports"
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 3}
    while True:
        body = (await client.get(url, params=params)).json()
        seen += [i["report_id"] for i in body["items"]]
        if not body["has_more"]:
            assert body["next"] is None
            break
        params = {"limit": 3, "after": body["next"]}
    assert seen == [f"r{i}" for i in range(7)]
    body = (await client.get(url, params={"limit": 3, "city": "manchester"})).json()
    after = (await client.get(url, params={"city": "manchester", "after": body["next"]})).json()
    assert [i["report_id"] for i in after["items"]] == ["r3", "r4", "r5", "r6"]
    for params in ({"page": 100_000, "limit": 500}, {"page": 30, "limit": 500}):
        r = await client.get(url, params=params)
        assert r.status_code == 400, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
    assert (await client.get(url, params={"after": "garbage"})).status_code == 400


@pytest.mark.parametrize("path", ["totals", "cities/top", "reports", "timeline"])
async def test_public_reads_of_unknown_election_are_404(
    client: httpx.AsyncClient, path: str
) -> None:
    """The reads check the election before anything else (no scan for a made-up id)."""
    r = await client.get(f"/api/elections/{'0' * 24}/{path}")
    assert r.status_code == 404


async def test_concurrent_misses_share_one_computation(server: RunningServer) -> None:
    """Finding 1 (cache): a burst of reads of one stale key (a hall of screens reconnecting)
    costs one computation per process; a bump of the change counter makes the next read
    compute again."""
    from redis.asyncio import Redis

    from livevote.tallies.cache import ReadCache

    redis: Redis = Redis.from_url(server.settings.redis.url, decode_responses=True)
    cache = ReadCache(redis, f"{server.settings.redis.prefix}single-flight:")
    calls = 0

    async def compute() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return calls

    try:
        results = await asyncio.gather(*(cache.read("e1", "x", compute) for _ in range(20)))
        assert calls == 1 and results == [1] * 20
        assert await cache.read("e1", "x", compute) == 1
        await cache.bump("e1")
        assert await cache.read("e1", "x", compute) == 2
    finally:
        await redis.aclose()
