"""Each load client's own ceiling: the suite's Python clients (httpx, aiohttp) and k6, each
alone with `CONNECTIONS` connections in a closed loop on GET /health/live (a trivial route)
for a few seconds. A scenario driven by a client cannot measure more than that client's
ceiling on this box: these rows say which numbers are the server's and which the client's.
The joins phase of the votes scenario and the flat scenario use aiohttp (httpx tops out far
lower); k6 drives the other HTTP scenarios."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import httpx

from livevote.infra.embedded import EmbeddedStack
from loadtest.lib import LOADTEST, k6
from loadtest.lib.procs import Sampler, serve, stack_pids
from loadtest.lib.stats import summary_ms

CONNECTIONS = 200
PATH = "/health/live"


async def _closed_loop(
    get: Callable[[], Awaitable[int]], seconds: float, concurrency: int
) -> dict[str, Any]:
    """`concurrency` tasks calling `get` back to back for `seconds`."""
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal errors
        while time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            try:
                ok = await get() == 200
            except Exception:
                ok = False
            latencies.append(time.perf_counter() - t0)
            errors += not ok

    cpu0 = time.process_time()
    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    return {
        "requests": len(latencies),
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "errors": errors,
        "latency_ms": summary_ms(latencies),
        "client_cpu_ms_per_request": round(
            1000 * (time.process_time() - cpu0) / max(1, len(latencies)), 3
        ),
    }


async def httpx_ceiling(url: str, seconds: float, concurrency: int) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

        async def get() -> int:
            return (await client.get(PATH)).status_code

        return await _closed_loop(get, seconds, concurrency)


async def aiohttp_ceiling(url: str, seconds: float, concurrency: int) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(url, connector=connector, timeout=timeout) as session:

        async def get() -> int:
            async with session.get(PATH) as r:
                await r.read()
                return int(r.status)  # Any when aiohttp (dev extras) is not installed

        return await _closed_loop(get, seconds, concurrency)


def k6_ceiling(url: str, seconds: float, concurrency: int) -> dict[str, Any]:
    env = {"BASE_URL": url, "VUS": str(concurrency), "DURATION": f"{seconds:g}s"}
    summary = k6.run(LOADTEST / "health-live.js", "clients-k6", env)
    reqs = k6.metric(summary, "http_reqs")
    failed = k6.metric(summary, "http_req_failed")
    return {
        "requests": int(reqs.get("count", 0)),
        # over the load's duration (k6's own rate also counts its start-up)
        "requests_per_s": round(int(reqs.get("count", 0)) / seconds, 1),
        "errors": int(failed.get("passes", 0) or 0),  # http_req_failed: a "pass" is a failure
        "latency_ms": k6.trend(summary, "http_req_duration"),
        "k6_exit": summary["_exit_code"],
    }


def run(stack: EmbeddedStack, *, workers: int, seconds: float = 5) -> dict[str, Any]:
    """Every client alone against the same server, one after the other."""
    rows: dict[str, Any] = {}
    with serve(stack, workers) as server:
        drivers: dict[str, Callable[[], dict[str, Any]]] = {
            "httpx": lambda: asyncio.run(httpx_ceiling(server.url, seconds, CONNECTIONS)),
            "aiohttp": lambda: asyncio.run(aiohttp_ceiling(server.url, seconds, CONNECTIONS)),
            "k6": lambda: k6_ceiling(server.url, seconds, CONNECTIONS),
        }
        for name, drive in drivers.items():
            with Sampler([server.pid]) as s, Sampler(stack_pids(stack), children=False) as b:
                rows[name] = drive()
            rows[name]["server"] = {**s.summary(), "backing": b.summary()}
    return {"connections": CONNECTIONS, "seconds": seconds, "workers": workers, "clients": rows}
