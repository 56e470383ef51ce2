"""Attendees joining an event fast: aiohttp, `concurrency` joins in flight (joins are
group-committed, so more in flight means bigger batches), no cookie jar (a client carrying an
attendee cookie is answered with that same attendee)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from loadtest.lib.stats import summary_ms


async def join_many(
    url: str, code: str, n: int, concurrency: int = 200
) -> tuple[list[str], dict[str, Any]]:
    """`n` attendees join the event `code`; their tokens and the timing (joins/s, latency,
    errors)."""
    timings: list[float] = []
    errors: list[str] = []
    sem = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(
        url,
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),
        timeout=aiohttp.ClientTimeout(total=60),
    ) as session:

        async def one(i: int) -> str | None:
            async with sem:
                t0 = time.perf_counter()
                try:
                    async with session.post(
                        "/api/events/join", json={"code": code, "name": f"a{i}"}
                    ) as r:
                        body = await r.json(content_type=None)
                        status = r.status
                except (aiohttp.ClientError, TimeoutError) as exc:
                    errors.append(type(exc).__name__)
                    return None
                timings.append(time.perf_counter() - t0)
                if status != 201:
                    errors.append(f"{status} {str(body)[:100]}")
                    return None
                return str(body["token"])

        start = time.perf_counter()
        tokens = [t for t in await asyncio.gather(*(one(i) for i in range(n))) if t]
        elapsed = time.perf_counter() - start
    return tokens, {
        "client": f"aiohttp, {concurrency} concurrent",
        "count": len(tokens),
        "per_s": round(len(tokens) / elapsed, 1) if elapsed else 0.0,
        "latency_ms": summary_ms(timings),
        "errors": len(errors),
        "error_samples": errors[:5],
    }
