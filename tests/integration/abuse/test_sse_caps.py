"""Bounded under abuse: concurrent SSE streams per credential, per address and per process
(issue 12, finding 2: a client could hold unlimited streams for up to an hour each)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import AsyncExitStack

import httpx
from redis.asyncio import Redis

from tests.support.events import join, new_event, next_state
from tests.support.http import http_client, sse_events
from tests.support.servers import RunningServer
from tests.support.tallies import create_election
from tests.support.users import register_user


async def open_stream(
    stack: AsyncExitStack,
    client: httpx.AsyncClient,
    path: str,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return await stack.enter_async_context(client.stream("GET", path, headers=headers or {}))


def assert_refused(r: httpx.Response, status: int) -> None:
    assert r.status_code == status, r.status_code
    assert r.headers["content-type"].startswith("application/problem+json")
    assert int(r.headers["Retry-After"]) >= 1


async def test_one_credential_over_the_cap_is_refused_and_others_still_stream(
    make_server: Callable[..., RunningServer],
) -> None:
    """Finding 2: N+1 streams with one credential → exactly one 429 `stream-limit`; other
    clients' streams still receive updates; a closed stream gives its slot back."""
    srv = make_server()
    cap = srv.settings.sse.max_per_credential
    assert cap == 4
    async with http_client(srv.url) as c, AsyncExitStack() as stack:
        host, ev = await new_event(c, teams=2, results="live")
        eid, path = ev["id"], f"/api/events/{ev['id']}/stream"
        attendee = await join(c, ev["code"])
        mine = [await open_stream(stack, c, path, host["headers"]) for _ in range(cap)]
        assert [r.status_code for r in mine] == [200] * cap
        over = await open_stream(stack, c, path, host["headers"])
        assert_refused(over, 429)
        body = (await over.aread()).decode()
        assert '"type":"https://livevote.dev/problems/stream-limit"' in body.replace(" ", "")
        others = [
            await open_stream(stack, c, path),
            await open_stream(stack, c, path, attendee["headers"]),
        ]
        readers = [sse_events(r) for r in others]
        for events in readers:  # the snapshot first
            assert (await asyncio.wait_for(next_state(events), 5))["data"]["stage"] is None
        team = ev["teams"][1]["id"]
        r = await c.put(f"/api/events/{eid}/stage", json={"team_id": team}, headers=host["headers"])
        assert r.status_code == 200
        for events in readers:
            state = await asyncio.wait_for(next_state(events), 5)
            assert state["data"]["stage"] == team
        await mine[0].aclose()
        deadline = time.monotonic() + 5
        while True:  # the slot comes back as soon as the server sees the disconnect
            async with c.stream("GET", path, headers=host["headers"]) as again:
                if again.status_code == 200 or time.monotonic() > deadline:
                    assert again.status_code == 200
                    break
            await asyncio.sleep(0.05)


async def test_address_cap_covers_every_domains_stream(
    make_server: Callable[..., RunningServer],
) -> None:
    """Finding 2: the per-address cap lives in the shared SSE machinery, so the elections
    stream is capped like the events stream."""
    srv = make_server(sse={"max_per_address": 3})
    async with http_client(srv.url) as c, AsyncExitStack() as stack:
        host, ev = await new_event(c, teams=2)
        election = await create_election(c, host["headers"])
        epath = f"/api/elections/{election['id']}/stream"
        ok = [
            await open_stream(stack, c, f"/api/events/{ev['id']}/stream"),
            await open_stream(stack, c, epath),
            await open_stream(stack, c, epath),
        ]
        assert [r.status_code for r in ok] == [200] * 3
        assert_refused(await open_stream(stack, c, epath), 429)
        assert_refused(await open_stream(stack, c, f"/api/events/{ev['id']}/stream"), 429)


async def test_process_cap_is_503(make_server: Callable[..., RunningServer]) -> None:
    """Finding 2: a process holds at most sse.max_per_process streams; beyond → 503."""
    srv = make_server(sse={"max_per_process": 2})
    async with http_client(srv.url) as c, AsyncExitStack() as stack:
        _, ev = await new_event(c, teams=1)
        path = f"/api/events/{ev['id']}/stream"
        assert [(await open_stream(stack, c, path)).status_code for _ in range(2)] == [200, 200]
        over = await open_stream(stack, c, path)
        assert_refused(over, 503)


async def test_slots_of_a_crashed_process_expire(
    make_server: Callable[..., RunningServer],
) -> None:
    """Finding 2: slots live in Redis with a TTL safety net — slots left by a process that
    died without releasing them stop counting after sse.slot_ttl_seconds."""
    srv = make_server(sse={"slot_ttl_seconds": 1.0})
    async with http_client(srv.url) as c:
        user = await register_user(c)
        _, ev = await new_event(c, teams=1, host=user)
        redis = Redis.from_url(srv.settings.redis.url)
        try:  # four slots held by "another process" that then crashed
            now_ms = int(time.time() * 1000)
            key = f"{srv.settings.redis.prefix}sse:user:{user['id']}"
            await redis.zadd(key, {f"dead{i}": now_ms + 800 for i in range(4)})
        finally:
            await redis.aclose()
        path = f"/api/events/{ev['id']}/stream"
        async with c.stream("GET", path, headers=user["headers"]) as r:
            assert_refused(r, 429)
        await asyncio.sleep(1.0)
        async with c.stream("GET", path, headers=user["headers"]) as r:
            assert r.status_code == 200


async def test_live_streams_keep_their_slots_past_the_ttl(
    make_server: Callable[..., RunningServer],
) -> None:
    """Finding 2: the TTL safety net must not free the slots of streams that still live —
    each stream refreshes its slots while it runs."""
    # refreshed every second; a loaded box may stall the server for up to ~2 s
    srv = make_server(sse={"slot_ttl_seconds": 3.0, "heartbeat_seconds": 0.2})
    async with http_client(srv.url) as c, AsyncExitStack() as stack:
        user = await register_user(c)
        _, ev = await new_event(c, teams=1, host=user)
        path = f"/api/events/{ev['id']}/stream"
        held = [await open_stream(stack, c, path, user["headers"]) for _ in range(4)]
        assert [r.status_code for r in held] == [200] * 4
        await asyncio.sleep(7.5)  # 2.5 × the TTL
        async with c.stream("GET", path, headers=user["headers"]) as r:
            assert_refused(r, 429)
