"""The poll feed at scale, in-process: `feed.feed_page` timed — the server time of
GET /api/polls without HTTP — over a bulk-loaded catalogue, each row with its MongoDB calls
per page and the CPU milliseconds per call of the app and of the embedded servers."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from bson import ObjectId
from redis.asyncio import Redis

from livevote.infra.mongo import apply_indexes, make_client
from livevote.polls import feed
from livevote.polls.cache import PollCache
from livevote.polls.repository import PollRepository
from loadtest.lib.procs import proc_cpu_seconds

TAGS = [f"tag{i}" for i in range(20)]


@dataclass
class Meter:
    """Time per MongoDB call (by repository method) and CPU per page, for one row."""

    pids: dict[str, int] = field(default_factory=dict)  # embedded servers billed per page
    db_time: dict[str, list[float]] = field(default_factory=dict)
    cpu_spent: dict[str, float] = field(default_factory=dict)

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time so far of this process (the app side) and of the embedded servers."""
        out = {"app": time.process_time()}
        out |= {name: proc_cpu_seconds(pid) for name, pid in self.pids.items()}
        return out

    def wrap(self, name: str, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        """A repository method that records its own duration under `name`."""

        async def timed_call(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return await fn(*args, **kwargs)
            finally:
                self.db_time.setdefault(name, []).append((time.perf_counter() - t) * 1000)

        return timed_call

    async def timed(self, n: int, fn: Callable[[int], Awaitable[Any]]) -> list[float]:
        """`fn(i)` n times: milliseconds per call; CPU ms per call kept for the row."""
        out = []
        before = self.cpu_seconds()
        for i in range(n):
            t = time.perf_counter()
            await fn(i)
            out.append((time.perf_counter() - t) * 1000)
        after = self.cpu_seconds()
        self.cpu_spent = {k: (after[k] - before[k]) * 1000 / n for k in after}
        return out

    def row(self, label: str, ms: list[float], note: str = "") -> None:
        ms = sorted(ms)
        p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
        db = "  ".join(
            f"{name} {len(calls) / len(ms):.1f}x{statistics.median(calls):.2f}ms"
            for name, calls in sorted(self.db_time.items())
        )
        cpu = "  ".join(f"{k} {v:.1f}" for k, v in self.cpu_spent.items())
        print(
            f"{label:<48} n={len(ms):<4} median={statistics.median(ms):7.2f} ms  "
            f"p95={p95:7.2f} ms  max={ms[-1]:7.2f} ms {note}\n{'':<48} per page: {db}"
            f"\n{'':<48} CPU ms per call: {cpu}"
        )
        self.db_time.clear()
        self.cpu_spent.clear()


def keys(n: int) -> list[ObjectId]:
    """n ascending ObjectIds spread over the last days (one second apart per 10 polls)."""
    start = datetime.now(UTC) - timedelta(days=3)
    proc = os.urandom(5)
    out = []
    for i in range(n):
        stamp = int((start + timedelta(seconds=i // 10)).timestamp())
        out.append(ObjectId(stamp.to_bytes(4, "big") + proc + (i % 10).to_bytes(3, "big")))
    return out


async def bulk(coll: Any, docs: list[dict[str, Any]], batch: int) -> float:
    t = time.perf_counter()
    for s in range(0, len(docs), batch):
        await coll.insert_many(docs[s : s + batch], ordered=False)
    return time.perf_counter() - t


def catalogue(oids: list[ObjectId], now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "_id": o,
            "key": str(o),
            "title": f"Poll number {i}: what do you think?",
            "options": ["yes", "no", "maybe"],
            "tags": [TAGS[i % len(TAGS)]],
            "votes": {"0": 0, "1": 0, "2": 0},
            "total": 0,
            "created_by": "bench",
            "created_at": now,
        }
        for i, o in enumerate(oids)
    ]


async def measure(
    *, polls: int, answered: int, batch: int, n: int, mongo_uri: str, redis_url: str, meter: Meter
) -> None:
    """Load `polls` polls and two users with `answered` answers each into a fresh database,
    print one row per case, drop the database."""
    client = make_client(mongo_uri, 10_000)
    dbname = f"feed_scale_{os.urandom(3).hex()}"
    db = client[dbname]
    redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        await apply_indexes(db)
        oids = keys(polls)
        now = datetime.now(UTC)
        secs = await bulk(db["polls"], catalogue(oids, now), batch)
        print(
            f"inserted {polls} polls in {secs:.1f} s ({polls / secs:,.0f}/s, "
            f"insert_many batches of {batch})"
        )
        step = max(1, polls // answered)
        spread = [str(o) for o in oids[::step]][:answered]
        dense = [str(o) for o in oids[-answered:]]
        responses = [
            {"poll_id": k, "user_id": user, "kind": "skip", "created_at": now}
            for user, ks in (("spread", spread), ("dense", dense))
            for k in ks
        ]
        secs = await bulk(db["poll_responses"], responses, batch)
        print(
            f"inserted {len(responses)} responses in {secs:.1f} s ({len(responses) / secs:,.0f}/s)"
        )
        repo = PollRepository(db)
        for name in ("newest", "answered_among"):
            setattr(repo, name, meter.wrap(name, getattr(repo, name)))
        await _cases(repo, PollCache(redis, f"{dbname}:"), spread, dense, n, meter)
    finally:
        await client.drop_database(dbname)
        await client.close()
        await redis.aclose()


async def _cases(
    repo: PollRepository, cache: PollCache, spread: list[str], dense: list[str], n: int, m: Meter
) -> None:
    async def page(
        user: str, *, tag: str | None = None, cursor: str | None = None, fresh: bool = True
    ) -> dict[str, Any]:
        if fresh:  # a new feed version: no cached page can answer
            await cache.invalidate_feed(user)
        rendered = await feed.feed_page(
            repo, cache, user_id=user, tag=tag, q=None, page=1, limit=10, cursor=cursor
        )
        result: dict[str, Any] = msgspec.json.decode(rendered.body)
        return result

    first = await page("spread")
    m.db_time.clear()
    assert first["items"] and not {i["id"] for i in first["items"]} & set(spread)
    m.row("spread: page 1 (page cache cold)", await m.timed(n, lambda i: page("spread")))
    m.row("spread: page cache hit", await m.timed(n, lambda i: page("spread", fresh=False)))

    async def walk(i: int) -> None:
        cursor = None
        for _ in range(20):
            p = await page("spread", cursor=cursor)
            cursor = p["next_cursor"]

    ms = await m.timed(max(1, n // 10), walk)
    m.cpu_spent = {k: v / 20 for k, v in m.cpu_spent.items()}
    m.row("spread: 20 pages by cursor (per page)", [x / 20 for x in ms])
    m.row(
        "spread: tag filter (1 in 20 polls), page 1",
        await m.timed(n, lambda i: page("spread", tag=TAGS[i % len(TAGS)])),
    )

    cursor, requests, walk_ms = None, 0, []
    while True:  # what a client does: follow next_cursor while pages come back empty
        t = time.perf_counter()
        cold = await page("dense", cursor=cursor)
        walk_ms.append((time.perf_counter() - t) * 1000)
        requests += 1
        if cold["items"] or not cold["has_more"]:
            break
        cursor = cold["next_cursor"]
    m.row(
        f"dense: first visit, {requests} requests to the first items",
        walk_ms,
        f"(budget {feed.SCAN_BUDGET} polls/request)",
    )
    warm = await page("dense")
    assert warm["items"] and not {i["id"] for i in warm["items"]} & set(dense)
    m.row(
        "dense: page 1 (runs recorded, page cache cold)",
        await m.timed(n, lambda i: page("dense")),
    )
