"""Where does the memory of one SSE subscriber go? The app in THIS process (uvicorn, uvloop +
httptools as `livevote serve` does) on the embedded stack, tracemalloc on, and
loadtest/sse_clients.py (a subprocess) opening the streams. Python-level allocations are
compared between "no stream" and "N streams open", grouped by source line and by file; RSS
is reported alongside (the difference between the two is memory allocated outside the Python
allocator: uvloop transports; kernel socket buffers are not in RSS at all)."""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import psutil
import uvicorn

from livevote.app import create_app
from livevote.config import Settings, replace
from livevote.infra import metrics
from livevote.infra.embedded import EmbeddedStack, free_port
from loadtest.lib import LOADTEST


def _open_streams() -> float:
    value: Any = metrics.SSE_OPEN.labels("events")._value.get()  # prometheus-client internals
    return float(value)


async def profile(streams: int, top: int) -> None:
    """Print the per-stream RSS and Python allocations; tracemalloc must be started."""
    stack = EmbeddedStack(Path(tempfile.mkdtemp(prefix="sse-mem-"))).start()
    try:
        settings = replace(
            Settings(demo=False, log_level="WARNING"),
            mongo={"uri": stack.mongo_uri, "database": "ssemem"},
            redis={"url": stack.redis_url},
            limits={"address_per_second": 10_000_000, "user_per_minute": 10_000_000},
        )
        port = free_port()
        config = uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
            http="httptools",
            proxy_headers=False,  # as `livevote serve` (no proxy-headers frame per stream)
            backlog=4096,
        )
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve())
        while not server.started:  # noqa: ASYNC110 -- uvicorn offers no event to wait on
            await asyncio.sleep(0.05)
        me = psutil.Process()
        client = await asyncio.create_subprocess_exec(
            *(sys.executable, str(LOADTEST / "sse_clients.py")),
            *("--url", f"http://127.0.0.1:{port}", "--streams", str(streams)),
            *("--votes", "3", "--interval", "6"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Baseline once the event exists and a first stream works (warm code paths).
        while _open_streams() < 1:  # noqa: ASYNC110 -- a gauge, nothing to wait on
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        gc.collect()
        before = tracemalloc.take_snapshot()
        rss_before = me.memory_info().rss
        n_before = _open_streams()
        deadline = time.monotonic() + 120
        while _open_streams() < streams and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        gc.collect()
        after = tracemalloc.take_snapshot()
        rss_after = me.memory_info().rss
        n = max(_open_streams() - n_before, 1)
        _print(after, before, streams=n, rss=(rss_before, rss_after), top=top)
        client.kill()
        await client.wait()
        server.should_exit = True
        await serving
    finally:
        stack.stop()


def _print(
    after: tracemalloc.Snapshot,
    before: tracemalloc.Snapshot,
    *,
    streams: float,
    rss: tuple[int, int],
    top: int,
) -> None:
    n = streams
    stats = after.compare_to(before, "lineno")
    traced = sum(s.size_diff for s in stats)
    print(f"streams added: {n:.0f}")
    print(f"RSS: {rss[0] / 2**20:.1f} -> {rss[1] / 2**20:.1f} MiB, ")
    print(f"  per stream {(rss[1] - rss[0]) / n / 1024:.1f} KiB")
    print(f"tracemalloc (Python allocations): per stream {traced / n / 1024:.1f} KiB")
    print("top source lines, bytes per stream:")
    for s in stats[:top]:
        frame = s.traceback[0]
        print(
            f"  {s.size_diff / n:8.0f} B  {s.count_diff / n:5.1f} blocks  "
            f"{os.path.relpath(frame.filename)}:{frame.lineno}"
        )
    print("by file, bytes per stream:")
    for s in after.compare_to(before, "filename")[:top]:
        print(f"  {s.size_diff / n:8.0f} B  {os.path.relpath(s.traceback[0].filename)}")
