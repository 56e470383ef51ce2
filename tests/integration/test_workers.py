"""`livevote serve --workers 2` as a real subprocess against the session's MongoDB and Redis.

Several workers share nothing but MongoDB and Redis, so: /metrics must sum every worker,
rate limits must be exact across workers, and an SSE stream held by one worker must see a
vote made through the other. Fresh connections land on either worker (both accept on the same
socket); each check makes enough of them that both workers take part, and the per-worker
metric files prove it.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from livevote.infra.embedded import free_port
from tests.support.events import live_event
from tests.support.servers import Backing, serve_env, start_serve, stop_process, wait_until_ready
from tests.support.users import register_user

USER_LIMIT = 100


@dataclass
class Workers:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def children(self) -> list[psutil.Process]:
        children: list[psutil.Process] = psutil.Process(self.proc.pid).children(recursive=True)
        return children

    def worker_pids(self) -> set[int]:
        return {c.pid for c in self.children() if "spawn_main" in " ".join(c.cmdline())}

    def multiproc_dir(self) -> Path:
        for child in self.children():
            with_dir = child.environ().get("PROMETHEUS_MULTIPROC_DIR")
            if with_dir:
                return Path(with_dir)
        raise AssertionError("no worker has PROMETHEUS_MULTIPROC_DIR")


def _stop(proc: subprocess.Popen[bytes], spawned: list[psutil.Process]) -> list[str]:
    """Stop `livevote serve`, then report (and kill) anything that outlived it."""
    stop_process(proc, timeout=30)
    _, alive = psutil.wait_procs(spawned, timeout=15)
    survivors = [f"{p.pid} {' '.join(p.cmdline())}" for p in alive if p.is_running()]
    for p in alive:
        p.kill()
    return survivors


@pytest.fixture(scope="module")
def workers(stack: Backing, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    port = free_port()
    tag = uuid.uuid4().hex[:8]
    log = tmp_path_factory.mktemp("workers") / "serve.log"
    env = serve_env(
        stack,
        port,
        log.parent / "data",
        LIVEVOTE_MONGO_DATABASE=f"workers_{tag}",
        LIVEVOTE_REDIS_PREFIX=f"workers_{tag}:",
        LIVEVOTE_LIMITS_USER_PER_MINUTE=str(USER_LIMIT),
    )
    proc = start_serve(env, log, "--workers", "2")
    running = Workers(f"http://127.0.0.1:{port}", proc, log)
    spawned: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 60
        wait_until_ready(running.url, proc=proc, log=log)
        # Both workers must be up (each serves /health/ready on its own).
        while len(running.worker_pids()) < 2:
            assert time.monotonic() < deadline, "fewer than 2 workers"
            time.sleep(0.1)
        spawned = running.children()
        yield running
    finally:
        spawned = spawned or (running.children() if proc.poll() is None else [])
        survivors = _stop(proc, spawned)
        assert proc.returncode is not None
        assert not survivors, f"processes outlived `livevote serve`: {survivors}"


@pytest.fixture
async def fresh() -> AsyncIterator[httpx.AsyncClient]:
    """A client that opens a new connection for every request (so both workers take part)."""
    async with httpx.AsyncClient(
        timeout=httpx.Timeout(60.0),
        limits=httpx.Limits(max_connections=400, max_keepalive_connections=0),
        headers={"Connection": "close"},
    ) as client:
        yield client


def per_worker(
    workers: Workers, name: str, kind: str = "counter", **labels: str | Callable[[str], bool]
) -> dict[int, float]:
    """Value of one sample in each worker's own metric file (kind: counter, gauge_livesum);
    a label filter is a value or a predicate."""
    values: dict[int, float] = {}
    for path in workers.multiproc_dir().glob(f"{kind}_*.db"):
        pid = int(path.stem.rsplit("_", 1)[1])
        for family in MultiProcessCollector.merge(  # type: ignore[no-untyped-call]
            [str(path)], accumulate=True
        ):
            for s in family.samples:
                if s.name == name and all(
                    want(s.labels.get(k, "")) if callable(want) else s.labels.get(k) == want
                    for k, want in labels.items()
                ):
                    values[pid] = values.get(pid, 0) + s.value
    return values


async def scrape(client: httpx.AsyncClient, url: str, name: str, **labels: str) -> float:
    r = await client.get(f"{url}/metrics")
    assert r.status_code == 200
    total = 0.0
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


async def test_metrics_sum_every_worker(workers: Workers, fresh: httpx.AsyncClient) -> None:
    name = "livevote_http_requests_total"
    labels = {"method": "GET", "route": "/health/live", "status": "200"}
    before = await scrape(fresh, workers.url, name, **labels)
    sent = 0
    # Batches of concurrent fresh connections until both workers have served some.
    for _ in range(10):
        results = await asyncio.gather(
            *(fresh.get(f"{workers.url}/health/live") for _ in range(100))
        )
        assert all(r.status_code == 200 for r in results)
        sent += len(results)
        served = per_worker(workers, name, **labels)
        if len([pid for pid, n in served.items() if n > 0]) >= 2:
            break
    served = per_worker(workers, name, **labels)
    assert len([n for n in served.values() if n > 0]) >= 2, f"one worker took it all: {served}"
    after = await scrape(fresh, workers.url, name, **labels)
    assert after - before == sent
    assert sum(served.values()) == after  # what /metrics shows is the sum of the workers' files


async def test_user_rate_limit_is_exact_across_workers(
    workers: Workers, fresh: httpx.AsyncClient
) -> None:
    # Warm both workers' Redis pools, so the burst below measures the limiter, not connects.
    # (Best effort: on a starved box /health/ready itself may answer 503 here.)
    await asyncio.gather(*(fresh.get(f"{workers.url}/health/ready") for _ in range(150)))
    # The limiter fails OPEN when a Redis call fails or times out (2 s): on a box starved of
    # CPU a burst can hit that, and then no exact count is possible. Such a burst is
    # detected (livevote_rate_limit_fail_open_total) and repeated with a fresh user, at most
    # 3 times; a burst the limiter fully answered must be exact.
    for _attempt in range(3):
        fail_open_before = await scrape(fresh, workers.url, "livevote_rate_limit_fail_open_total")
        rejected_before = await scrape(
            fresh, workers.url, "livevote_rate_limit_rejections_total", rule="user"
        )
        served_before = per_worker(workers, "livevote_http_requests_total", route="/api/users/me")
        async with httpx.AsyncClient(base_url=workers.url, timeout=30) as client:
            user = await register_user(client)
        results = await asyncio.gather(
            *(
                fresh.get(f"{workers.url}/api/users/me", headers=user["headers"])
                for _ in range(USER_LIMIT + 50)
            )
        )
        fail_open = (
            await scrape(fresh, workers.url, "livevote_rate_limit_fail_open_total")
            - fail_open_before
        )
        if fail_open == 0:
            break
    assert fail_open == 0, f"Redis too slow: {fail_open} requests skipped the limiter 3 times"
    codes = [r.status_code for r in results]
    assert codes.count(200) == USER_LIMIT, sorted(set(codes))
    assert codes.count(429) == 50
    for r in results:
        assert r.headers["X-RateLimit-Limit"] == str(USER_LIMIT)
        assert int(r.headers["X-RateLimit-Remaining"]) >= 0
        assert int(r.headers["X-RateLimit-Reset"]) >= int(time.time())
        if r.status_code == 429:
            assert r.headers["X-RateLimit-Remaining"] == "0"
            assert 1 <= int(r.headers["Retry-After"]) <= 60
            assert r.headers["content-type"].startswith("application/problem+json")
    served = per_worker(workers, "livevote_http_requests_total", route="/api/users/me")
    by_worker = {pid: n - served_before.get(pid, 0) for pid, n in served.items()}
    assert sum(by_worker.values()) == USER_LIMIT + 50
    assert len([n for n in by_worker.values() if n > 0]) >= 2, f"one worker: {by_worker}"
    rejected = await scrape(fresh, workers.url, "livevote_rate_limit_rejections_total", rule="user")
    assert rejected - rejected_before == 50


async def _prepare_event(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        _host, event, team_id = await live_event(client, ["A"], title="two workers", results="live")
        return {"id": event["id"], "code": event["code"], "team_id": team_id}


class Subscriber:
    """One SSE stream on its own connection; remembers the latest vote count it was shown."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.votes = -1
        self.first = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        async with (
            httpx.AsyncClient(timeout=httpx.Timeout(60.0, read=None)) as client,
            client.stream("GET", self.url, headers={"Accept": "text/event-stream"}) as r,
        ):
            assert r.status_code == 200
            kind = ""
            async for line in r.aiter_lines():
                if line.startswith("event:"):
                    kind = line[6:].strip()  # `state`, or the event's `activities` frames
                elif line.startswith("data:") and kind == "state":
                    state = json.loads(line[5:])
                    results = state.get("results") or []
                    self.votes = sum(int(row["votes"]) for row in results)
                    self.first.set()


async def test_sse_on_one_worker_sees_votes_through_the_other(workers: Workers) -> None:
    event = await _prepare_event(workers.url)
    stream_url = f"{workers.url}/api/events/{event['id']}/stream"
    gauge = "livevote_sse_streams_open"
    subscribers: list[Subscriber] = []
    try:
        # At least 6 streams, more until both workers hold some (the gauge is per worker).
        while True:
            for _ in range(6 if not subscribers else 2):
                sub = Subscriber(stream_url)
                sub.task = asyncio.create_task(sub.run())
                subscribers.append(sub)
            await asyncio.wait_for(asyncio.gather(*(s.first.wait() for s in subscribers)), 20)
            held = per_worker(workers, gauge, kind="gauge_livesum", stream="events")
            if len([n for n in held.values() if n > 0]) >= 2 or len(subscribers) >= 40:
                break
        assert len([n for n in held.values() if n > 0]) >= 2, f"streams on one worker: {held}"
        assert sum(held.values()) == len(subscribers)
        assert all(s.votes == 0 for s in subscribers)

        # Votes through fresh connections (>= 6, more until both workers took some).
        def is_vote_route(route: str) -> bool:  # the route template, whatever its param syntax
            return route.startswith("/api/events/") and route.endswith("/votes")

        votes = 0
        async with httpx.AsyncClient(
            base_url=workers.url,
            timeout=30,
            limits=httpx.Limits(max_keepalive_connections=0),
            headers={"Connection": "close"},
        ) as fresh:
            while True:
                for _ in range(6 if not votes else 2):
                    r = await fresh.post("/api/events/join", json={"code": event["code"]})
                    assert r.status_code == 201, r.text
                    fresh.cookies.clear()  # a client carrying its credential re-joins as itself
                    token = r.json()["token"]
                    r = await fresh.post(
                        f"/api/events/{event['id']}/votes",
                        json={"team_id": event["team_id"], "score": 4},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    assert r.status_code == 201, r.text
                    votes += 1
                served = per_worker(
                    workers, "livevote_http_requests_total", route=is_vote_route, status="201"
                )
                if len([n for n in served.values() if n > 0]) >= 2 or votes >= 40:
                    break
        assert len([n for n in served.values() if n > 0]) >= 2, f"votes on one worker: {served}"

        # Every stream, whichever worker holds it, shows every vote.
        deadline = time.monotonic() + 10
        while any(s.votes != votes for s in subscribers) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        assert [s.votes for s in subscribers] == [votes] * len(subscribers)
    finally:
        for sub in subscribers:
            if sub.task:
                sub.task.cancel()
        await asyncio.gather(*(s.task for s in subscribers if s.task), return_exceptions=True)
