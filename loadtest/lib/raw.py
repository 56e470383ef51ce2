"""The raw MongoDB ceiling: one vote's two writes, a direct pymongo async loop, no HTTP.

The same writes as EventRepository's vote path: insert into event_votes (unique index), then
the counting find_one_and_update ($inc) on the event. The HTTP numbers are compared with it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from livevote.infra.mongo import apply_indexes
from loadtest.lib.stats import summary_ms

Doc = dict[str, Any]


async def two_writes(uri: str, seconds: float, concurrency: int, pool: int = 0) -> dict[str, Any]:
    """`concurrency` writers for `seconds`, each vote two writes, in a fresh database."""
    client: AsyncMongoClient[Doc] = AsyncMongoClient(uri, maxPoolSize=pool or concurrency)
    db = client[f"raw_{uuid.uuid4().hex[:8]}"]
    try:
        await apply_indexes(db)
        event_id = ObjectId()
        team_id = str(ObjectId())
        await db.events.insert_one(
            {"_id": event_id, "voting_open": True, "voting_team": team_id, "tally": {}}
        )
        latencies: list[float] = []
        errors = 0
        counter = iter(range(10**9))
        stop_at = time.perf_counter() + seconds

        async def writer() -> None:
            nonlocal errors
            while time.perf_counter() < stop_at:
                n = next(counter)
                t0 = time.perf_counter()
                try:
                    if not await _vote(db, event_id, team_id, n):
                        errors += 1
                except Exception:
                    errors += 1
                latencies.append(time.perf_counter() - t0)

        start = time.perf_counter()
        await asyncio.gather(*(writer() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
        event = await db.events.find_one({"_id": event_id})
        counted = int(((event or {}).get("tally") or {}).get(team_id, {}).get("votes", 0))
        return {
            "votes": len(latencies),
            "seconds": round(elapsed, 2),
            "votes_per_s": round(len(latencies) / elapsed, 1),
            "writes_per_s": round(2 * len(latencies) / elapsed, 1),
            "latency_ms": summary_ms(latencies),
            "errors": errors,
            "counted": counted,
        }
    finally:
        await client.drop_database(db.name)
        await client.close()


async def _vote(db: AsyncDatabase[Doc], event_id: ObjectId, team_id: str, n: int) -> bool:
    """Attendee n's vote: stored, then counted; False if the count found no open event."""
    now = datetime.now(UTC)
    score = 1 + n % 5
    await db.event_votes.insert_one(
        {
            "_id": ObjectId(),
            "event_id": str(event_id),
            "team_id": team_id,
            "attendee_id": f"a{n}",
            "score": score,
            "at": now,
        }
    )
    doc = await db.events.find_one_and_update(
        {"_id": event_id, "voting_open": True, "voting_team": team_id},
        {
            "$inc": {
                f"tally.{team_id}.votes": 1,
                f"tally.{team_id}.score_sum": score,
                "vote_seq": 1,
            },
            "$set": {"updated_at": now},
        },
        projection={"_id": 1},
    )
    return doc is not None


async def sweep(uri: str, seconds: float, levels: list[int]) -> dict[str, Any]:
    """The loop at several concurrencies; the best one is the ceiling (its figures on top,
    every level under "sweep")."""
    rows = []
    for level in levels:
        result = await two_writes(uri, seconds, concurrency=level)
        result["concurrency"] = level
        rows.append(result)
    best = max(rows, key=lambda r: r["votes_per_s"])
    return {**best, "sweep": rows}
