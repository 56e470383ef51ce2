"""Issue 13: under uvicorn + httptools the broadcaster writes each update straight to every
stream's connection (slots.py "Direct writes"): the frames arrive as well-formed HTTP chunks,
in order, and no stream's task is woken for them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.integration.events.test_stream import gauge
from tests.support.events import join, live_event
from tests.support.http import http_client
from tests.support.servers import RunningServer

STREAMS = 20


class _Raw:
    """One stream on a plain socket, its body parsed chunk by chunk (HTTP/1.1 framing)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, url: str, path: str) -> _Raw:
        u = urlsplit(url)
        reader, writer = await asyncio.open_connection(u.hostname, u.port)
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") and b"transfer-encoding: chunked" in head, head
        return cls(reader, writer)

    async def chunk(self) -> bytes:
        size = int((await self.reader.readuntil(b"\r\n"))[:-2], 16)
        assert size > 0, "the response ended"
        data = await self.reader.readexactly(size)
        assert await self.reader.readexactly(2) == b"\r\n"
        assert data.endswith(b"\n\n"), data  # one whole SSE frame (or comment) per chunk
        return data

    async def state(self) -> tuple[int, dict[str, Any]]:
        """The next `state` frame: its id and data."""
        while True:
            fields = dict(
                line.split(": ", 1)
                for line in (await asyncio.wait_for(self.chunk(), 10)).decode().splitlines()
                if ": " in line and not line.startswith(":")
            )
            if fields.get("event") == "state":
                return int(fields["id"]), json.loads(fields["data"])


async def test_updates_are_written_to_the_connections_without_waking_the_streams(
    client: httpx.AsyncClient, server: RunningServer
) -> None:
    _host, ev, team = await live_event(client)
    streams = [
        await _Raw.open(server.url, f"/api/events/{ev['id']}/stream") for _ in range(STREAMS)
    ]
    try:
        first = [await s.state() for s in streams]
        channel = server.app.state.broadcaster._channels[f"event:{ev['id']}"]
        deadline = time.monotonic() + 5
        while not all(sub.sink is not None for sub in list(channel.subscribers)):
            assert time.monotonic() < deadline, "the streams never attached their sinks"
            await asyncio.sleep(0.05)
        subs = list(channel.subscribers)
        assert len(subs) == STREAMS
        waiting = [sub._waiter for sub in subs]  # each stream's task awaits its future
        assert all(w is not None and not w.done() for w in waiting)

        attendee = await join(client, ev["code"])
        r = await client.post(
            f"/api/events/{ev['id']}/votes",
            json={"team_id": team, "score": 4},
            headers=attendee["headers"],
        )
        assert r.status_code == 201, r.text
        for s, (first_id, _) in zip(streams, first, strict=True):
            while True:
                mid, state = await s.state()
                assert mid > first_id
                if state["results"][0]["votes"] == 1:
                    break
        # written by the fan-out itself: no stream's task was woken for the update
        assert all(w is not None and not w.done() for w in waiting)
        assert [sub._waiter for sub in subs] == waiting
    finally:
        for s in streams:
            s.writer.close()


async def _vote(client: httpx.AsyncClient, ev: dict[str, Any], team: str) -> int:
    attendee = await join(client, ev["code"])
    r = await client.post(
        f"/api/events/{ev['id']}/votes",
        json={"team_id": team, "score": 2},
        headers=attendee["headers"],
    )
    return r.status_code


async def _stalled_total(client: httpx.AsyncClient) -> float:
    text = (await client.get("/metrics")).text
    m = re.search(r"^livevote_sse_stalled_total (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


async def test_a_client_that_stops_reading_is_dropped_and_the_others_keep_up(
    make_server: Callable[..., RunningServer],
) -> None:
    srv = make_server(sse={"stall_seconds": 0.5, "max_updates_per_second": 50.0})
    u = urlsplit(srv.url)
    async with http_client(srv.url) as client:
        # 50 long team names: every state frame is ≈ 10 KiB, the stalled buffers fill fast
        names = [f"Team {i} {'x' * 90}" for i in range(50)]
        _host, ev, team = await live_event(client, teams=names)
        path = f"/api/events/{ev['id']}/stream"
        stalled = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect((u.hostname, u.port))
        stalled.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())  # never read
        reader = await _Raw.open(srv.url, path)
        seen = [(await reader.state())[1]["results"][0]["votes"]]

        async def keep_reading() -> None:  # a client that keeps up, reading all along
            while True:
                seen.append((await reader.state())[1]["results"][0]["votes"])

        reading = asyncio.create_task(keep_reading())
        before = await _stalled_total(client)
        voted = 0
        try:
            deadline = time.monotonic() + 60
            while await _stalled_total(client) == before:
                assert time.monotonic() < deadline, "the stalled client was never dropped"
                codes = await asyncio.gather(*(_vote(client, ev, team) for _ in range(4)))
                assert codes == [201] * 4
                voted += 4
            # the reader that keeps reading sees every update, up to the last vote
            deadline = time.monotonic() + 20
            while seen[-1] < voted:
                assert not reading.done(), reading
                assert time.monotonic() < deadline, seen[-5:]
                await asyncio.sleep(0.05)
            assert await gauge(client) == 1.0  # the stalled stream's slot is released
            assert await _stalled_total(client) == before + 1  # only the stalled one
            # the server closed the stalled connection: reading it to the end terminates
            stalled.settimeout(10)
            while stalled.recv(65536):
                pass
        finally:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reading
            stalled.close()
            reader.writer.close()
