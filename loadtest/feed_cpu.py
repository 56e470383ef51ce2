"""Feed pages: server CPU per request under k6, the load phase alone.

    python loadtest/feed_cpu.py                       # 500 req/s for 15 s, 2 workers
    python loadtest/feed_cpu.py --rate 300 --seconds 10 --pyspy out/feed.svg

Starts `livevote serve --workers N` on an embedded stack (limits raised, as the suite does),
registers the users and creates the polls itself (so the argon2 of setup is not billed to the
run), then runs loadtest/poll-feed.js with those users (-e PRESET) and reads the CPU time of the
uvicorn workers and of NX-27017 + redis-server (psutil) over the k6 run only. CPU per request
is what to compare on a shared box; latency is printed but depends on the neighbours. The
servers' idle CPU (--idle seconds before the run) is measured too, and the per-request figures
are also given net of it (`*_net`).
`--pyspy FILE` records one worker with py-spy for the run (needs py-spy on PATH; a FILE ending
in .txt gets collapsed stacks, `--format raw`, else a flame graph).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file

import argparse
import asyncio
import json
import shutil
import subprocess
import tempfile
import time
from typing import Any

import httpx
import psutil
import redis

from livevote.infra.embedded import EmbeddedStack
from loadtest.lib import LOADTEST, OUT, k6
from loadtest.lib.api import register
from loadtest.lib.procs import Sampler, raise_fd_limit, serve, stack_pids

TAGS = ["sports", "news", "tech", "music", "food"]


async def prepare(url: str, users: int, polls: int) -> list[str]:
    """`users` users (their Bearer tokens) and `polls` polls, as poll-feed.js's setup makes."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        made = []
        for start in range(0, users, 4):  # argon2 is bounded per worker: a few at a time
            made += await asyncio.gather(
                *(register(client, f"feedcpu{i}") for i in range(start, min(users, start + 4)))
            )
        headers = made[0].headers
        for i in range(polls):
            body = {
                "title": f"Load poll {i}: which one do you pick?",
                "options": ["alpha", "beta", "gamma"],
                "tags": [TAGS[i % len(TAGS)]],
            }
            r = await client.post("/api/polls", json=body, headers=headers)
            r.raise_for_status()
    return [u.headers["Authorization"].removeprefix("Bearer ") for u in made]


def workers_of(pid: int) -> list[int]:
    return [
        c.pid
        for c in psutil.Process(pid).children(recursive=True)
        if "spawn_main" in " ".join(c.cmdline())
    ]


def redis_calls(stack: EmbeddedStack) -> dict[str, int]:
    """Calls so far per Redis command (INFO commandstats)."""
    client = redis.Redis.from_url(stack.redis_url)
    try:
        stats: dict[str, Any] = client.info("commandstats")
    finally:
        client.close()
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()}


def run(args: argparse.Namespace, stack: EmbeddedStack) -> dict[str, Any]:
    with serve(stack, args.workers) as server:
        tokens = asyncio.run(prepare(server.url, args.users, args.polls))
        preset = OUT / "feed-preset.json"
        preset.write_text(json.dumps({"tokens": tokens}))
        spy = None
        if args.pyspy:
            target = str(workers_of(server.pid)[0])
            spy = subprocess.Popen(
                ["py-spy", "record", "-o", args.pyspy, "--pid", target]
                + ["--duration", str(args.seconds), "--nonblocking"]
                + (["--format", "raw"] if args.pyspy.endswith(".txt") else []),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
            )
        env = {
            "BASE_URL": server.url,
            "RATE": str(args.rate // 2),  # one iteration = a first and a next page
            "DURATION": f"{args.seconds}s",
            "USERS": str(args.users),
            "PRESET": str(preset),
        }
        with Sampler([server.pid]) as idle, Sampler(stack_pids(stack), children=False) as idle_b:
            time.sleep(args.idle)  # what the server costs with no request at all
        before = redis_calls(stack)
        with Sampler([server.pid]) as app, Sampler(stack_pids(stack), children=False) as backing:
            summary = k6.run(LOADTEST / "poll-feed.js", "feed-cpu", env)
        after = redis_calls(stack)
        if spy is not None:
            spy.wait(60)
    requests = int(k6.count(summary, "http_reqs"))
    per = max(1, requests)
    wall = float(summary["_wall_seconds"])
    idle_rate = idle.cpu_seconds / args.idle if args.idle else 0.0
    idle_rate_b = idle_b.cpu_seconds / args.idle if args.idle else 0.0
    return {
        "requests": requests,
        "requests_per_s": round(requests / args.seconds, 1),
        "dropped": int(k6.count(summary, "dropped_iterations")),
        "failed": k6.metric(summary, "http_req_failed").get("value"),
        "feed_ms": k6.trend(summary, "http_req_duration{name:feed}"),
        "app_cpu_s": round(app.cpu_seconds, 2),
        "backing_cpu_s": round(backing.cpu_seconds, 2),
        "app_cpu_ms_per_request": round(1000 * app.cpu_seconds / per, 3),
        "backing_cpu_ms_per_request": round(1000 * backing.cpu_seconds / per, 3),
        # net of what the same servers burn idle over the run's wall time (change-stream
        # polling, health checks): at a low rate that fixed cost dominates the per-request one
        "idle_cpu_per_s": {"app": round(idle_rate, 3), "backing": round(idle_rate_b, 3)},
        "app_cpu_ms_per_request_net": round(1000 * (app.cpu_seconds - idle_rate * wall) / per, 3),
        "backing_cpu_ms_per_request_net": round(
            1000 * (backing.cpu_seconds - idle_rate_b * wall) / per, 3
        ),
        # Redis commands per request (a pipeline's commands count one by one; its round trip
        # is one); EVALSHA is the rate limit
        "redis_calls_per_request": {
            k: round((n - before.get(k, 0)) / per, 2)
            for k, n in sorted(after.items())
            if n - before.get(k, 0) >= per / 100
        },
        "k6_exit": summary["_exit_code"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rate", type=int, default=500, help="feed requests per second")
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--polls", type=int, default=300)
    parser.add_argument("--idle", type=float, default=10, help="seconds of idle CPU first")
    parser.add_argument("--pyspy", default="", help="py-spy record one worker into this file")
    args = parser.parse_args(argv)
    raise_fd_limit()
    OUT.mkdir(exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix="livevote-feedcpu-"))
    stack = EmbeddedStack(data_dir).start()
    try:
        print(json.dumps(run(args, stack), indent=1))
    finally:
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
