"""The demo election: seeded mid-count, idempotent, consistent with its reports."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from livevote.tallies.demo import NAME, seed_election_mid_count
from tests.support.tallies import recounted


async def test_demo_election_mid_count(client: httpx.AsyncClient, server_db: Any) -> None:
    seeded = await asyncio.gather(
        *(seed_election_mid_count(server_db, "demo-host") for _ in range(3))
    )
    [election_id] = [s for s in seeded if s is not None]  # seeded once, even concurrently
    assert await seed_election_mid_count(server_db, "demo-host") is None  # idempotent
    assert await server_db["elections"].count_documents({"name": NAME}) == 1
    t = (await client.get(f"/api/elections/{election_id}/totals")).json()
    assert 0 < t["reported_boxes"] < t["expected_boxes"]  # mid-count
    corrections = await server_db["election_reports"].count_documents(
        {"election_id": election_id, "kind": "correction"}
    )
    assert corrections == 2
    e = (await client.get(f"/api/elections/{election_id}")).json()
    assert e["colours"]["Labour"] == "#e4003b"
    points = (await client.get(f"/api/elections/{election_id}/timeline")).json()["points"]
    assert len(points) > 10  # reports spread over the evening
    assert (await recounted(server_db, election_id)).ok
