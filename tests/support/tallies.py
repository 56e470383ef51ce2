"""Elections through the API: create one, send ballot-box reports, read totals."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
from bson import ObjectId

from livevote.tallies.recount import ElectionCheck, check
from livevote.tallies.repository import ElectionRepository

PARTIES = ["tories", "labour", "libdems", "reform"]
CITIES = [
    {"name": "london", "ballot_boxes": 600},
    {"name": "manchester", "ballot_boxes": 40},
    {"name": "edinburgh", "ballot_boxes": 30},
]


async def create_election(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    *,
    parties: list[str] | None = None,
    cities: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    r = await client.post(
        "/api/elections",
        json={
            "name": f"GE {uuid.uuid4().hex[:6]}",
            "parties": parties or PARTIES,
            "cities": cities or CITIES,
        },
        headers=headers,
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    body["key_headers"] = {"X-Reporter-Key": body["reporter_key"]}
    return body


def report_body(
    report_id: str, box: str, city: str, votes: dict[str, int], **extra: Any
) -> dict[str, Any]:
    return {"report_id": report_id, "ballot_box_id": box, "city": city, "votes": votes, **extra}


async def send(
    client: httpx.AsyncClient, election: dict[str, Any], body: dict[str, Any]
) -> httpx.Response:
    return await client.post(
        f"/api/elections/{election['id']}/reports", json=body, headers=election["key_headers"]
    )


async def send_retrying(
    client: httpx.AsyncClient, election: dict[str, Any], body: dict[str, Any]
) -> httpx.Response:
    """Like a ballot box: resend on a dropped connection (safe: the report id is the
    idempotency key)."""
    for attempt in range(5):
        try:
            return await send(client, election, body)
        except (httpx.ReadError, httpx.RemoteProtocolError, httpx.ConnectError):
            if attempt == 4:
                raise
            await asyncio.sleep(0.2)
    raise AssertionError("unreachable")


async def totals(
    client: httpx.AsyncClient, election: dict[str, Any], city: str | None = None
) -> dict[str, Any]:
    params = {"city": city} if city else {}
    r = await client.get(f"/api/elections/{election['id']}/totals", params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def wait_until_applied(db: Any, election_id: str, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while True:
        pending = await db["election_reports"].count_documents(
            {"election_id": election_id, "status": "pending"}
        )
        if pending == 0:
            return
        assert time.monotonic() < deadline, f"{pending} reports still pending after {within}s"
        await asyncio.sleep(0.1)


def zero() -> dict[str, int]:
    return dict.fromkeys(PARTIES, 0)


async def recounted(db: Any, election_id: str) -> ElectionCheck:
    """The recount of one election (what `livevote recount elections --id` reports)."""
    repo = ElectionRepository(db)
    election = await repo.election(ObjectId(election_id))
    assert election is not None
    return await check(repo, election)
