# ruff: noqa: ASYNC110, ASYNC220, ASYNC240 -- a one-off profiling tool: polling and blocking are fine
"""Where does the memory of one SSE subscriber go? (tracemalloc, one server process)

    python loadtest/profile_sse_memory.py --streams 2000

Runs the app in THIS process (uvicorn, uvloop + httptools as `livevote serve` does) on the
embedded stack, with tracemalloc on; loadtest/sse_clients.py (a subprocess) opens the
streams. Python-level allocations are compared between "no stream" and "N streams open",
grouped by source line; RSS is reported alongside (the difference between the two is memory
allocated outside the Python allocator: uvloop transports, kernel socket buffers are not in
RSS at all).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import psutil
import uvicorn

HERE = Path(__file__).resolve().parent


async def main_async(args: argparse.Namespace) -> None:
    from livevote.app import create_app
    from livevote.config import Settings, replace
    from livevote.infra import metrics
    from livevote.infra.embedded import EmbeddedStack, free_port

    stack = EmbeddedStack(Path(tempfile.mkdtemp(prefix="sse-mem-"))).start()
    try:
        settings = replace(
            Settings(demo=False, log_level="WARNING"),
            mongo={"uri": stack.mongo_uri, "database": "ssemem"},
            redis={"url": stack.redis_url},
            limits={"address_per_second": 10_000_000, "user_per_minute": 10_000_000},
        )
        app = create_app(settings)
        port = free_port()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
            http="httptools",
            backlog=4096,
        )
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.05)
        gauge = metrics.SSE_OPEN.labels("events")
        me = psutil.Process()
        client = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "sse_clients.py"),
                "--url",
                f"http://127.0.0.1:{port}",
                "--streams",
                str(args.streams),
                "--votes",
                "3",
                "--interval",
                "6",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Baseline once the event exists and a first stream works (warm code paths).
        while gauge._value.get() < 1:  # type: ignore[attr-defined]
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        import gc

        gc.collect()
        before = tracemalloc.take_snapshot()
        rss_before = me.memory_info().rss
        n_before = gauge._value.get()  # type: ignore[attr-defined]
        deadline = time.monotonic() + 120
        while gauge._value.get() < args.streams and time.monotonic() < deadline:  # type: ignore[attr-defined]
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        gc.collect()
        after = tracemalloc.take_snapshot()
        rss_after = me.memory_info().rss
        n = gauge._value.get() - n_before  # type: ignore[attr-defined]
        stats = after.compare_to(before, "lineno")
        traced = sum(s.size_diff for s in stats)
        print(f"streams added: {n:.0f}")
        print(f"RSS: {rss_before / 2**20:.1f} -> {rss_after / 2**20:.1f} MiB, ")
        print(f"  per stream {(rss_after - rss_before) / max(n, 1) / 1024:.1f} KiB")
        print(f"tracemalloc (Python allocations): per stream {traced / max(n, 1) / 1024:.1f} KiB")
        print("top source lines, bytes per stream:")
        for s in stats[: args.top]:
            frame = s.traceback[0]
            print(
                f"  {s.size_diff / max(n, 1):8.0f} B  {s.count_diff / max(n, 1):5.1f} blocks  "
                f"{os.path.relpath(frame.filename)}:{frame.lineno}"
            )
        by_file = after.compare_to(before, "filename")
        print("by file, bytes per stream:")
        for s in by_file[: args.top]:
            print(f"  {s.size_diff / max(n, 1):8.0f} B  {os.path.relpath(s.traceback[0].filename)}")
        client.kill()
        client.wait(30)
        server.should_exit = True
        await serving
    finally:
        stack.stop()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--streams", type=int, default=2000)
    p.add_argument("--top", type=int, default=25)
    args = p.parse_args()
    tracemalloc.start(1)
    import uvloop

    uvloop.run(main_async(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
