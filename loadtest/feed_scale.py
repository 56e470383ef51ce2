"""Feed at scale: 100,000 polls, users who answered 10,000 of them; server time of a feed page.

    python loadtest/feed_scale.py                   # embedded NX-27017 + redis-server
    MONGODB_URI=... REDIS_URL=... python loadtest/feed_scale.py --polls 100000 --answered 10000

Not part of the test suite. Builds the catalogue with insert_many in big batches straight into
a fresh database (keys from the last days, so the catalogue is "settled"), then times
`feed.feed_page` in-process — the server time of GET /api/polls without HTTP — for:
  spread  a user whose 10,000 answers are spread over the catalogue (every 10th poll)
  dense   a user who answered the newest 10,000 polls (the worst case for a newest-first walk)
Page cache is bypassed (a fresh cache key each call) unless the row says "page cache hit".
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bson import ObjectId
from redis.asyncio import Redis

from livevote.infra.embedded import EmbeddedStack
from livevote.infra.mongo import apply_indexes, make_client
from livevote.polls import feed
from livevote.polls.cache import PollCache
from livevote.polls.repository import PollRepository

TAGS = [f"tag{i}" for i in range(20)]
DB_TIME: dict[str, list[float]] = {}
PIDS: dict[str, int] = {}  # embedded servers whose CPU time is counted per page
CPU_SPENT: dict[str, float] = {}


def cpu_seconds() -> dict[str, float]:
    """CPU time so far of this process (the app side) and of the embedded servers."""
    out = {"app": time.process_time()}
    for name, pid in PIDS.items():
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        out[name] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def measured(name: str, fn: Any) -> Any:
    """Wrap a repository method to split a page's server time into its MongoDB calls."""

    async def timed_call(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return await fn(*args, **kwargs)
        finally:
            DB_TIME.setdefault(name, []).append((time.perf_counter() - t) * 1000)

    return timed_call


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


async def timed(n: int, fn: Any) -> list[float]:
    out = []
    before = cpu_seconds()
    for i in range(n):
        t = time.perf_counter()
        await fn(i)
        out.append((time.perf_counter() - t) * 1000)
    after = cpu_seconds()
    CPU_SPENT.clear()
    CPU_SPENT.update({k: (after[k] - before[k]) * 1000 / n for k in after})
    return out


def row(label: str, ms: list[float], note: str = "") -> None:
    ms = sorted(ms)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    db = "  ".join(
        f"{name} {len(calls) / len(ms):.1f}x{statistics.median(calls):.2f}ms"
        for name, calls in sorted(DB_TIME.items())
    )
    cpu = "  ".join(f"{k} {v:.1f}" for k, v in CPU_SPENT.items())
    print(
        f"{label:<48} n={len(ms):<4} median={statistics.median(ms):7.2f} ms  "
        f"p95={p95:7.2f} ms  max={ms[-1]:7.2f} ms {note}\n{'':<48} per page: {db}"
        f"\n{'':<48} CPU ms per call: {cpu}"
    )
    DB_TIME.clear()
    CPU_SPENT.clear()


async def main(args: argparse.Namespace, mongo_uri: str, redis_url: str) -> None:
    client = make_client(mongo_uri, 10_000)
    dbname = f"feed_scale_{os.urandom(3).hex()}"
    db = client[dbname]
    redis = Redis.from_url(redis_url, decode_responses=True)
    prefix = f"{dbname}:"
    try:
        await apply_indexes(db)
        oids = keys(args.polls)
        now = datetime.now(UTC)
        polls = [
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
        secs = await bulk(db["polls"], polls, args.batch)
        print(
            f"inserted {args.polls} polls in {secs:.1f} s ({args.polls / secs:,.0f}/s, "
            f"insert_many batches of {args.batch})"
        )
        step = max(1, args.polls // args.answered)
        spread = [str(o) for o in oids[::step]][: args.answered]
        dense = [str(o) for o in oids[-args.answered :]]
        responses = [
            {"poll_id": k, "user_id": user, "kind": "skip", "created_at": now}
            for user, ks in (("spread", spread), ("dense", dense))
            for k in ks
        ]
        secs = await bulk(db["poll_responses"], responses, args.batch)
        print(
            f"inserted {len(responses)} responses in {secs:.1f} s ({len(responses) / secs:,.0f}/s)"
        )

        repo = PollRepository(db)
        for name in ("newest", "answered_among"):
            setattr(repo, name, measured(name, getattr(repo, name)))
        cache = PollCache(redis, prefix)

        async def page(
            user: str,
            *,
            tag: str | None = None,
            cursor: str | None = None,
            limit: int = 10,
            fresh: bool = True,
        ) -> dict[str, Any]:
            if fresh:  # a new feed version: no cached page can answer
                await cache.invalidate_feed(user)
            return await feed.feed_page(
                repo, cache, user_id=user, tag=tag, q=None, page=1, limit=limit, cursor=cursor
            )

        first = await page("spread")
        DB_TIME.clear()
        assert first["items"] and not set(i["id"] for i in first["items"]) & set(spread)
        row("spread: page 1 (page cache cold)", await timed(args.n, lambda i: page("spread")))
        row("spread: page cache hit", await timed(args.n, lambda i: page("spread", fresh=False)))

        async def walk(i: int) -> None:
            cursor = None
            for _ in range(20):
                p = await page("spread", cursor=cursor)
                cursor = p["next_cursor"]

        ms = await timed(max(1, args.n // 10), walk)
        CPU_SPENT.update({k: v / 20 for k, v in CPU_SPENT.items()})
        row("spread: 20 pages by cursor (per page)", [m / 20 for m in ms])
        row(
            "spread: tag filter (1 in 20 polls), page 1",
            await timed(args.n, lambda i: page("spread", tag=TAGS[i % len(TAGS)])),
        )

        t = time.perf_counter()
        cursor, requests, walk_ms = None, 0, []
        while True:  # what a client does: follow next_cursor while pages come back empty
            t = time.perf_counter()
            cold = await page("dense", cursor=cursor)
            walk_ms.append((time.perf_counter() - t) * 1000)
            requests += 1
            if cold["items"] or not cold["has_more"]:
                break
            cursor = cold["next_cursor"]
        row(
            f"dense: first visit, {requests} requests to the first items",
            walk_ms,
            f"(budget {feed.SCAN_BUDGET} polls/request)",
        )
        warm = await page("dense")
        assert warm["items"] and not set(i["id"] for i in warm["items"]) & set(dense)
        row(
            "dense: page 1 (runs recorded, page cache cold)",
            await timed(args.n, lambda i: page("dense")),
        )
    finally:
        await client.drop_database(dbname)
        await client.close()
        await redis.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--polls", type=int, default=100_000)
    parser.add_argument("--answered", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("-n", type=int, default=50, help="timed calls per row")
    args = parser.parse_args()
    mongo_uri, redis_url = os.environ.get("MONGODB_URI", ""), os.environ.get("REDIS_URL", "")
    stack = None
    if not (mongo_uri and redis_url):
        stack = EmbeddedStack(Path(tempfile.mkdtemp(prefix="feed-scale-"))).start(
            mongo=not mongo_uri, redis=not redis_url
        )
        mongo_uri, redis_url = mongo_uri or stack.mongo_uri, redis_url or stack.redis_url
        PIDS.update({s.name: s.proc.pid for s in (stack.mongo, stack.redis) if s is not None})
    try:
        asyncio.run(main(args, mongo_uri, redis_url))
    finally:
        if stack:
            stack.stop()
    sys.exit(0)
