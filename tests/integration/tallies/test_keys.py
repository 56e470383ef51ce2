"""Reporter keys: per city and election-wide, created and revoked by the creator, shown
once, stored hashed; a revocation refuses the next report in every process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.support.http import http_client
from tests.support.servers import RunningServer
from tests.support.tallies import create_election, report_body, totals
from tests.support.users import register_user


async def report(
    client: httpx.AsyncClient, e: dict[str, Any], key: str, body: dict[str, Any]
) -> httpx.Response:
    return await client.post(
        f"/api/elections/{e['id']}/reports", json=body, headers={"X-Reporter-Key": key}
    )


async def test_city_keys_and_revocation(client: httpx.AsyncClient, server_db: Any) -> None:
    u, other = await register_user(client), await register_user(client)
    e = await create_election(client, u["headers"])
    keys_url = f"/api/elections/{e['id']}/reporter-keys"
    r = await client.post(keys_url, json={"city": "london"}, headers=u["headers"])
    assert r.status_code == 201, r.text
    london = r.json()
    assert set(london) == {"key_id", "key", "city", "created_at"} and london["city"] == "london"
    assert await server_db["election_keys"].count_documents({"key_sha256": {"$exists": True}}) >= 2
    assert london["key"] not in str(await server_db["election_keys"].find({}).to_list())

    ok = await report(client, e, london["key"], report_body("r1", "b1", "london", {"tories": 4}))
    assert ok.status_code == 202
    r = await report(client, e, london["key"], report_body("r2", "b2", "edinburgh", {"tories": 4}))
    assert r.status_code == 403 and r.json()["type"].endswith("/reporter-key-city")
    r = await report(
        client, e, e["reporter_key"], report_body("r3", "b3", "edinburgh", {"labour": 1})
    )
    assert r.status_code == 202  # the election-wide key reports anywhere

    listed = (await client.get(keys_url, headers=u["headers"])).json()["items"]
    assert {k["city"] for k in listed} == {None, "london"} and all("key" not in k for k in listed)
    assert (await client.get(keys_url, headers=other["headers"])).status_code == 403
    assert (await client.post(keys_url, json={}, headers=other["headers"])).status_code == 403
    r = await client.post(keys_url, json={"city": "paris"}, headers=u["headers"])
    assert r.status_code == 422
    assert (await client.delete(f"{keys_url}/nope", headers=u["headers"])).status_code == 404
    r = await client.delete(f"{keys_url}/{london['key_id']}", headers=other["headers"])
    assert r.status_code == 403

    # rotate: a new London key, then revoke the old one
    fresh = (await client.post(keys_url, json={"city": "london"}, headers=u["headers"])).json()
    r = await client.delete(f"{keys_url}/{london['key_id']}", headers=u["headers"])
    assert r.status_code == 204
    r = await report(client, e, london["key"], report_body("r4", "b4", "london", {"tories": 4}))
    assert r.status_code == 401 and r.json()["type"].endswith("/reporter-key-revoked")
    r = await report(client, e, fresh["key"], report_body("r4", "b4", "london", {"tories": 4}))
    assert r.status_code == 202
    listed = (await client.get(keys_url, headers=u["headers"])).json()["items"]
    assert [k["revoked_at"] is not None for k in listed if k["key_id"] == london["key_id"]] == [
        True
    ]
    # the election-wide key can be revoked too
    wide = e["reporter_key_id"]
    assert (await client.delete(f"{keys_url}/{wide}", headers=u["headers"])).status_code == 204
    r = await report(client, e, e["reporter_key"], report_body("r5", "b5", "london", {"tories": 1}))
    assert r.status_code == 401
    assert (await totals(client, e))["votes"]["tories"] == 8


async def test_revoked_while_hundred_reports_in_flight(
    make_server: Callable[..., RunningServer],
) -> None:
    """Two processes share the database (and Redis): the key is revoked through one while
    100 reports stream into the other. Every report that starts after the revocation's 204
    is refused; every accepted one is counted exactly once."""
    a = make_server()
    b = make_server(
        mongo={"database": a.settings.mongo.database},
        redis={"prefix": a.settings.redis.prefix},
    )
    async with http_client(a.url) as ca, http_client(b.url) as cb:
        u = await register_user(ca)
        e = await create_election(ca, u["headers"])
        key = (
            await ca.post(
                f"/api/elections/{e['id']}/reporter-keys",
                json={"city": "london"},
                headers=u["headers"],
            )
        ).json()
        revoked_at: list[float] = []
        revoked = asyncio.Event()

        async def one(i: int) -> tuple[float, int]:
            # the first half streams in around the revocation, the second half right after
            await (asyncio.sleep(i * 0.01) if i < 50 else revoked.wait())
            started = time.monotonic()
            body = report_body(f"r{i}", f"b{i}", "london", {"labour": 1})
            r = await report(cb, e, key["key"], body)
            return started, r.status_code

        async def revoke() -> None:
            await asyncio.sleep(0.2)
            r = await ca.delete(
                f"/api/elections/{e['id']}/reporter-keys/{key['key_id']}", headers=u["headers"]
            )
            assert r.status_code == 204
            revoked_at.append(time.monotonic())
            revoked.set()

        results, _ = await asyncio.gather(asyncio.gather(*(one(i) for i in range(100))), revoke())
        after = [code for started, code in results if started > revoked_at[0]]
        assert len(after) >= 50 and set(after) == {401}, after
        accepted = sum(1 for _, code in results if code == 202)
        assert {code for _, code in results} <= {202, 401}
        t = await totals(cb, e, "london")
        assert t["votes"]["labour"] == accepted and t["reported_boxes"] == accepted
