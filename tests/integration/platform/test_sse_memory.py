"""Issue 13: an open SSE stream costs the server at most 9 KiB of Python memory (target 12).

The test server runs in a thread of this process, so tracemalloc sees its allocations. The
streams are opened with plain blocking sockets from this file; every allocation whose
traceback passes through this file (the client side) is filtered out of the comparison,
which leaves the server's growth per stream: uvicorn's connection and request cycle, the
middleware frames, `infra/sse.py`'s response and the broadcaster slot. (Before issue 13:
≈ 28 KiB; 11.4 KiB with the 12 KiB bound; ≈ 7.9 KiB since the disconnect signal replaced the
per-stream task. `python loadtest/profile_sse_memory.py` breaks the figure down by line.)
"""

from __future__ import annotations

import asyncio
import gc
import socket
import tracemalloc

import httpx

from tests.support.events import new_event
from tests.support.servers import RunningServer

STREAMS = 500
WARM = 50
LIMIT_KIB = 9.0


def _open(port: int, path: str, n: int) -> list[socket.socket]:
    """`n` streams, each read until its first snapshot arrived."""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=60)
        socks.append(s)
        s.sendall(request.encode())
        seen = b""
        while b"event: state" not in seen:
            chunk = s.recv(65536)
            assert chunk, f"stream closed early: {seen[:200]!r}"
            seen += chunk
        assert seen.startswith(b"HTTP/1.1 200"), seen[:200]
    return socks


async def _open_streams(client: httpx.AsyncClient) -> float:
    m = (await client.get("/metrics")).text
    for line in m.splitlines():
        if line.startswith('livevote_sse_streams_open{stream="events"}'):
            return float(line.split()[-1])
    return 0.0


def _server_bytes(snapshot: tracemalloc.Snapshot) -> int:
    ours = snapshot.filter_traces(
        [
            tracemalloc.Filter(False, __file__, all_frames=True),
            tracemalloc.Filter(False, tracemalloc.__file__),
        ]
    )
    return sum(stat.size for stat in ours.statistics("filename"))


async def test_an_open_stream_costs_at_most_9_kib(
    client: httpx.AsyncClient, server: RunningServer
) -> None:
    _, ev = await new_event(client, teams=1)
    port = int(server.url.rsplit(":", 1)[1])
    path = f"/api/events/{ev['id']}/stream"
    tracemalloc.start(4)  # deep enough to see this file in client tracebacks
    socks: list[socket.socket] = []
    try:
        socks += _open(port, path, WARM)  # warm code paths, caches and the channel
        base = await _open_streams(client)
        await asyncio.sleep(0.5)
        gc.collect()
        before = _server_bytes(tracemalloc.take_snapshot())
        socks += _open(port, path, STREAMS)
        assert await _open_streams(client) == base + STREAMS
        await asyncio.sleep(0.5)
        gc.collect()
        after = _server_bytes(tracemalloc.take_snapshot())
    finally:
        tracemalloc.stop()
        for s in socks:
            s.close()
    per_stream = (after - before) / STREAMS / 1024
    assert per_stream <= LIMIT_KIB, (
        f"an open SSE stream costs the server {per_stream:.1f} KiB of Python memory "
        f"(limit {LIMIT_KIB} KiB; see loadtest/profile_sse_memory.py for where it goes)"
    )
