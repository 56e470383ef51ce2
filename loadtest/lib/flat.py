"""Flat cost per vote: one event, votes until N, CPU per vote per window of 1,000 votes.

A vote must cost the same whether it is the event's 1,000th or its 100,000th (issue 13: the
last window within 15 % of the first). One event with `teams` teams and ceil(N / teams)
attendees (joined first, aiohttp: lib/joins.py); each team in turn goes on stage, every
attendee votes for it once (aiohttp, `concurrency` voters in a closed loop), until N votes.
After every 1,000 answered votes the server's CPU time so far is read (psutil: the uvicorn
processes, and NX-27017 + redis-server apart), and the event document's BSON size: the window's
CPU milliseconds per vote is the difference over 1,000.

`src` runs an older commit's `livevote` (its `src/` extracted by `git archive`, first on
PYTHONPATH, this venv's dependencies): the "before" curve (lib/chart.py draws both).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import bson
import httpx
from bson import ObjectId
from pymongo import AsyncMongoClient

from livevote.infra.embedded import EmbeddedStack
from loadtest.lib import ROOT
from loadtest.lib.api import LiveEvent, no_cookies, open_voting, prepare_event
from loadtest.lib.joins import join_many
from loadtest.lib.procs import Sampler, Server, serve, stack_pids
from loadtest.lib.stats import summary_ms

WINDOW = 1000  # votes per CPU reading
TOLERANCE = 0.15  # the last window's CPU per vote within 15 % of the first's


@contextlib.contextmanager
def commit_source(sha: str) -> Iterator[Path]:
    """The `src/` tree of commit `sha` in a temporary directory (git archive | tar -x)."""
    tmp = Path(tempfile.mkdtemp(prefix=f"livevote-{sha[:8]}-"))
    try:
        archive = subprocess.run(
            ["git", "archive", "--format=tar", sha, "src"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout
        tar_path = tmp / "src.tar"
        tar_path.write_bytes(archive)
        with tarfile.open(tar_path) as tar:
            tar.extractall(tmp, filter="data")
        yield tmp / "src"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class Meter:
    """CPU seconds of the app and of NX-27017 + redis, read at window boundaries."""

    def __init__(self, server: Server, stack: EmbeddedStack) -> None:
        self.app = Sampler([server.pid])
        self.backing = Sampler(stack_pids(stack), children=False)

    def read(self) -> tuple[float, float]:
        return self.app.cpu_seconds_now(), self.backing.cpu_seconds_now()


async def _event_size(server: Server, event_id: str) -> int:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(server.extra["mongo_uri"])
    try:
        doc = await client[server.database].events.find_one({"_id": ObjectId(event_id)})
        return len(bson.encode(doc)) if doc else 0
    finally:
        await client.close()


async def _drive(
    server: Server, meter: Meter, event: LiveEvent, tokens: list[str], votes: int, voters: int
) -> dict[str, Any]:
    windows: list[dict[str, Any]] = []
    latencies: list[float] = []
    failures: list[str] = []
    done = 0
    mark = (*meter.read(), time.perf_counter())

    async def close_window() -> None:
        nonlocal mark
        app, backing, now = reading = (*meter.read(), time.perf_counter())
        row = {
            "votes_in_event": done,
            "app_ms_per_vote": round(1000 * (app - mark[0]) / WINDOW, 3),
            "backing_ms_per_vote": round(1000 * (backing - mark[1]) / WINDOW, 3),
            "votes_per_s": round(WINDOW / (now - mark[2]), 1),
        }
        mark = reading  # (the size read below is one find per 1,000 votes: noise)
        row["event_bytes"] = await _event_size(server, event.id)
        windows.append(row)

    connector = aiohttp.TCPConnector(limit=voters)
    async with (
        aiohttp.ClientSession(
            server.url, connector=connector, timeout=aiohttp.ClientTimeout(total=60)
        ) as session,
        httpx.AsyncClient(base_url=server.url, timeout=60, cookies=no_cookies()) as host,
    ):
        for team_id in event.team_ids:
            if done >= votes:
                break
            await open_voting(host, event, team_id)
            queue = iter(tokens[: min(len(tokens), votes - done)])

            async def voter(team: str = team_id, queue: Iterator[str] = queue) -> None:
                nonlocal done
                for token in queue:
                    t0 = time.perf_counter()
                    status = await _vote(session, event.id, team, 1 + done % 5, token)
                    latencies.append(time.perf_counter() - t0)
                    if status != 201:
                        failures.append(str(status))
                        continue
                    done += 1
                    if done % WINDOW == 0:
                        await close_window()

            await asyncio.gather(*(voter() for _ in range(voters)))
    return {
        "votes": done,
        "failed": len(failures),
        "failure_samples": failures[:5],
        "latency_ms": summary_ms(latencies),
        "windows": windows,
    }


async def _vote(
    session: aiohttp.ClientSession, event_id: str, team: str, score: int, token: str
) -> int:
    """One vote; a connection the server dropped (keep-alive race, a slow old server) is
    retried, and a 409 answering a retry means the lost attempt was stored: counted as 201."""
    for attempt in range(5):
        try:
            async with session.post(
                f"/api/events/{event_id}/votes",
                json={"team_id": team, "score": score},
                headers={"Authorization": f"Bearer {token}"},
            ) as r:
                await r.read()
                return 201 if r.status == 409 and attempt else r.status
        except (aiohttp.ClientConnectionError, TimeoutError):
            await asyncio.sleep(0.05 * (attempt + 1))
    return 0


async def _prepare(url: str, teams: int, attendees: int) -> tuple[LiveEvent, list[str], Any]:
    async with httpx.AsyncClient(base_url=url, timeout=60, cookies=no_cookies()) as client:
        event = await prepare_event(client, "flat load", teams=teams)
    tokens, joins = await join_many(url, event.code, attendees)
    return event, tokens, joins


def run(
    stack: EmbeddedStack,
    *,
    workers: int,
    votes: int,
    teams: int = 20,
    voters: int = 100,
    commit: str = "",
) -> dict[str, Any]:
    """The flat scenario on the current code, or on `commit`'s source when given."""
    attendees = math.ceil(votes / teams)
    with contextlib.ExitStack() as stack_:
        src = stack_.enter_context(commit_source(commit)) if commit else None
        server = stack_.enter_context(serve(stack, workers, src=src))
        event, tokens, joins = asyncio.run(_prepare(server.url, teams, attendees))
        size_start = asyncio.run(_event_size(server, event.id))
        meter = Meter(server, stack)
        start = time.perf_counter()
        result = asyncio.run(_drive(server, meter, event, tokens, votes, voters))
        elapsed = time.perf_counter() - start
        size_end = asyncio.run(_event_size(server, event.id))
    w = result["windows"]
    first = w[0]["app_ms_per_vote"] + w[0]["backing_ms_per_vote"] if w else 0.0
    last = w[-1]["app_ms_per_vote"] + w[-1]["backing_ms_per_vote"] if w else 0.0
    return {
        "commit": commit or "current",
        "client": f"aiohttp, {voters} voters in a closed loop",
        "workers": workers,
        "teams": teams,
        "attendees": len(tokens),
        "joins": joins,
        "target_votes": votes,
        "seconds": round(elapsed, 1),
        "votes_per_s": round(result["votes"] / elapsed, 1) if elapsed else 0.0,
        "event_bytes_start": size_start,
        "event_bytes_end": size_end,
        "first_ms_per_vote": round(first, 3),
        "last_ms_per_vote": round(last, 3),
        "flat": bool(w) and last <= first * (1 + TOLERANCE),
        **result,
    }
