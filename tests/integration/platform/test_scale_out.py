"""Scale-out: two `livevote serve` processes on ONE MongoDB and ONE Redis, as the compose
profile `scale` runs them behind nginx (docs/SCALING.md).

The processes share nothing but the database and Redis: each runs its own change stream
(infra/broadcaster.py; there is no Redis pub/sub), so a vote cast through one process reaches a
subscriber of the other only through the other's own change stream. Each vote is timed from
just before its POST to the SSE frame whose results include it; the requirement is 250 ms.
The box these tests run on is shared and loaded, so one sample can be noisy: the check is on
the median of several votes in each direction, and every sample is printed.
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from livevote.infra.embedded import free_port
from tests.support.events import join, new_event, next_state, open_voting_for
from tests.support.http import http_client, sse_events
from tests.support.servers import Backing, serve_env, start_serve, stop_process, wait_ready

LATENCY_TARGET = 0.250  # seconds, vote POST → SSE frame on the other process
VOTES_PER_DIRECTION = 5


@dataclass
class Instance:
    name: str
    url: str
    log: Path


@pytest.fixture(scope="module")
async def pair(
    stack: Backing, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Instance, Instance]]:
    """Processes A and B: one database, one Redis key prefix, one JWT secret."""
    tag = uuid.uuid4().hex[:8]
    shared = {
        "LIVEVOTE_MONGO_DATABASE": f"scale_{tag}",
        "LIVEVOTE_REDIS_PREFIX": f"scale_{tag}:",
        "LIVEVOTE_JWT_SECRET": secrets.token_hex(32),
    }
    base = tmp_path_factory.mktemp("scale-out")
    procs = []
    instances = []
    try:
        for name in ("a", "b"):
            port = free_port()
            log = base / f"{name}.log"
            procs.append(start_serve(serve_env(stack, port, base / name, **shared), log))
            instances.append(Instance(name, f"http://127.0.0.1:{port}", log))
        for proc, instance in zip(procs, instances, strict=True):
            try:
                await wait_ready(instance.url)
            except RuntimeError as exc:
                raise AssertionError(f"{exc}\n{instance.log.read_text()[-3000:]}") from exc
            assert proc.poll() is None, instance.log.read_text()[-3000:]
        yield instances[0], instances[1]
    finally:
        for proc in procs:
            stop_process(proc)


async def changes_seen(client: httpx.AsyncClient, collection: str) -> float:
    """How many changes of `collection` this process's own change stream has delivered
    (the count of its write → delivery lag histogram, from its /metrics)."""
    r = await client.get("/metrics")
    assert r.status_code == 200, r.text
    name = "livevote_change_stream_lag_seconds_count"
    return sum(
        s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
        if s.name == name and s.labels.get("collection") == collection
    )


def votes_of(state: dict[str, Any], team_id: str) -> int:
    results = state["data"]["results"]
    assert results is not None, "results must be visible (results: live)"
    votes: int = next(row["votes"] for row in results if row["team_id"] == team_id)
    return votes


def counted(team_id: str, *, at_least: int) -> Callable[[dict[str, Any]], bool]:
    return lambda state: votes_of(state, team_id) >= at_least


async def until(
    events: AsyncIterator[dict[str, Any]], pred: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    while True:
        state = await next_state(events)
        if pred(state):
            return state


async def test_processes_are_separate_and_share_one_database(
    pair: tuple[Instance, Instance],
) -> None:
    a, b = pair
    async with http_client(a.url) as ca, http_client(b.url) as cb:
        host, event = await new_event(ca, teams=1)
        # A credential issued by A is good on B (one JWT secret), and B reads what A wrote.
        r = await cb.get(f"/api/events/{event['id']}", headers=host["headers"])
        assert r.status_code == 200, r.text
        assert r.json()["code"] == event["code"]
        await join(cb, event["code"])
        r = await ca.get(f"/api/events/{event['id']}", headers=host["headers"])
        assert r.json()["attendees"] == 1, r.json()


async def test_a_vote_through_one_process_reaches_a_subscriber_of_the_other(
    pair: tuple[Instance, Instance],
) -> None:
    a, b = pair
    async with AsyncExitStack() as stack:
        ca = await stack.enter_async_context(http_client(a.url))
        cb = await stack.enter_async_context(http_client(b.url))
        host, event = await new_event(ca, teams=1, results="live")
        eid, team = event["id"], event["teams"][0]["id"]
        await open_voting_for(ca, host, eid, team)
        # Voters join through either process; each votes through the process it is timed from.
        voters = [
            await join((ca, cb)[i % 2], event["code"]) for i in range(2 * VOTES_PER_DIRECTION)
        ]

        subscribers: dict[str, AsyncIterator[dict[str, Any]]] = {}
        for name, client in (("a", ca), ("b", cb)):
            response = await stack.enter_async_context(
                client.stream("GET", f"/api/events/{eid}/stream")
            )
            assert response.status_code == 200
            subscribers[name] = sse_events(response)
            first = await asyncio.wait_for(next_state(subscribers[name]), 10)
            assert votes_of(first, team) == 0

        seen_before = {"a": await changes_seen(ca, "events"), "b": await changes_seen(cb, "events")}
        samples: dict[str, list[float]] = {"a→b": [], "b→a": []}
        seen = {"a": 0, "b": 0}  # the count in the last frame read from each subscriber
        for n, voter in enumerate(voters, start=1):
            via, other, direction = (ca, "b", "a→b") if n % 2 else (cb, "a", "b→a")
            await asyncio.sleep(0.3)  # past the per-channel coalescing interval (100 ms)
            start = time.perf_counter()
            r = await via.post(
                f"/api/events/{eid}/votes",
                json={"team_id": team, "score": 4},
                headers=voter["headers"],
            )
            assert r.status_code == 201, r.text
            frame = await asyncio.wait_for(until(subscribers[other], counted(team, at_least=n)), 10)
            samples[direction].append(time.perf_counter() - start)
            assert votes_of(frame, team) == n  # exactly this vote, none counted twice
            seen[other] = n
            row = next(x for x in frame["data"]["results"] if x["team_id"] == team)
            assert row["score_sum"] == 4 * n

        # Both subscribers end on the same count: every vote, once.
        for name in [name for name, count in seen.items() if count < len(voters)]:
            await asyncio.wait_for(
                until(subscribers[name], lambda s: votes_of(s, team) == len(voters)), 10
            )
        # Each process's own change stream delivered every vote's change to the event document,
        # those cast through the other process included.
        for name, client in (("a", ca), ("b", cb)):
            delivered = await changes_seen(client, "events") - seen_before[name]
            assert delivered >= len(voters), (name, delivered)
        for direction, values in samples.items():
            ms = ", ".join(f"{v * 1000:.0f}" for v in values)
            median = statistics.median(values)
            print(f"vote {direction} → SSE: median {median * 1000:.0f} ms (samples ms: {ms})")
        for direction, values in samples.items():
            assert statistics.median(values) <= LATENCY_TARGET, (direction, values)
