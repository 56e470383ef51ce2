"""The daily vote limit: exact under concurrency, and the UTC day boundary (FakeClock)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from livevote.polls.repository import PollRepository
from tests.support.http import assert_problem, http_client
from tests.support.servers import FakeClock, RunningServer
from tests.support.users import register_user


async def _polls(server: RunningServer, n: int) -> list[str]:
    """n polls stored through the repository (the voting burst is what these tests time)."""
    mc: AsyncMongoClient[Any] = AsyncMongoClient(server.settings.mongo.uri, tz_aware=True)
    try:
        repo = PollRepository(mc[server.settings.mongo.database])
        now = datetime.now(UTC)
        return [
            (
                await repo.insert_poll(
                    title=f"poll {i}", options=["yes", "no"], tags=["limit"], user_id="o", now=now
                )
            )["key"]
            for i in range(n)
        ]
    finally:
        await mc.close()


async def _db_counts(server: RunningServer, user_id: str) -> tuple[int, int, int]:
    mc: AsyncMongoClient[Any] = AsyncMongoClient(server.settings.mongo.uri, tz_aware=True)
    try:
        db = mc[server.settings.mongo.database]
        counter = await db["daily_votes"].find_one({"user_id": user_id})
        votes = await db["poll_responses"].count_documents({"user_id": user_id, "kind": "vote"})
        total = 0
        async for poll in db["polls"].find({"tags": "limit"}, {"total": 1}):
            total += poll["total"]
        return (counter["count"] if counter else 0), votes, total
    finally:
        await mc.close()


def _voter(client: httpx.AsyncClient, voter: dict[str, Any]) -> Callable[[str], Any]:
    def vote(poll_id: str) -> Any:
        return client.post(
            f"/api/polls/{poll_id}/vote", json={"optionIndex": 1}, headers=voter["headers"]
        )

    return vote


async def test_150_concurrent_votes_exactly_100_accepted(
    make_server: Callable[..., RunningServer],
) -> None:
    server = make_server()
    ids = await _polls(server, 150)
    async with http_client(server.url) as client:
        voter = await register_user(client)
        vote = _voter(client, voter)
        responses = await asyncio.gather(*(vote(p) for p in ids))
    codes = [r.status_code for r in responses]
    assert codes.count(201) == 100 and codes.count(429) == 50, sorted(codes)
    refused = next(r for r in responses if r.status_code == 429)
    assert_problem(refused, 429, "daily-vote-limit")
    assert 1 <= int(refused.headers["Retry-After"]) <= 86400
    assert "resets at" in refused.json()["detail"]
    assert await _db_counts(server, voter["id"]) == (100, 100, 100)


async def test_day_boundary_with_fake_clock(make_server: Callable[..., RunningServer]) -> None:
    clock = FakeClock(datetime(2026, 3, 14, 23, 59, 59, tzinfo=UTC))
    server = make_server(clock=clock, limits={"daily_votes": 100})
    ids = await _polls(server, 102)
    async with http_client(server.url) as client:
        voter = await register_user(client)
        vote = _voter(client, voter)
        first = await asyncio.gather(*(vote(p) for p in ids[:100]))
        assert [r.status_code for r in first] == [201] * 100
        # each vote took its own slot of the day: the answers count down 99..0, in some order
        remaining = sorted(r.json()["daily_votes_remaining"] for r in first)
        assert remaining == list(range(100)), remaining
        refused = await vote(ids[100])
        assert_problem(refused, 429, "daily-vote-limit")
        assert refused.headers["Retry-After"] == "1"  # one second to midnight UTC
        assert "2026-03-15T00:00:00Z" in refused.json()["detail"]
        # skips stay unlimited
        r = await client.post(f"/api/polls/{ids[101]}/skip", headers=voter["headers"])
        assert r.status_code == 201
        clock.now += timedelta(seconds=1)  # 00:00:00 the next day
        allowed = await vote(ids[100])
        assert allowed.status_code == 201, allowed.text
        assert allowed.json()["daily_votes_remaining"] == 99


async def test_the_days_counters_expire_even_on_nx27017(server_db: Any) -> None:
    """Issue 12 (no long event exhausts the service): the per-user daily counters expire by
    their TTL index on `expires_at`. NX-27017 drops `$setOnInsert` when the upsert also
    `$inc`s, so on the embedded stack no counter had an `expires_at` and daily_votes kept one
    document per voter per day for ever. 50 first votes of the day at once: one counter, count
    50, with an expiry; a counter whose day has passed is removed by the TTL index."""
    repo = PollRepository(server_db)
    later = datetime.now(UTC) + timedelta(days=1)
    counts = await asyncio.gather(
        *(
            repo.take_daily_slot(user_id="ttl-now", day="2031-05-01", limit=100, expires_at=later)
            for _ in range(50)
        )
    )
    assert sorted(c for c in counts if c is not None) == list(range(1, 51))
    docs = await server_db["daily_votes"].find({"user_id": "ttl-now"}).to_list()
    assert len(docs) == 1 and docs[0]["count"] == 50
    assert docs[0].get("expires_at") is not None, docs[0]

    past = datetime.now(UTC) - timedelta(seconds=1)
    assert await repo.take_daily_slot(user_id="ttl-old", day="2020-01-01", limit=1, expires_at=past)
    deadline = asyncio.get_running_loop().time() + 90  # MongoDB's TTL monitor: every 60 s
    while await server_db["daily_votes"].find_one({"user_id": "ttl-old"}) is not None:
        assert asyncio.get_running_loop().time() < deadline, "the expired counter stayed"
        await asyncio.sleep(0.5)
