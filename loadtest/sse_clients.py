"""Hold N SSE streams to one live event and measure vote-to-screen latency.

    python loadtest/sse_clients.py --url http://127.0.0.1:8000 --streams 1000 [--server-pid PID]

What it does:
1. sets the event up through the public API (a host account, an event with one team on stage,
   voting open, results live) and joins `--votes` attendees (before any stream opens, so join
   updates do not mix with vote updates);
2. opens `--streams` connections to GET /api/events/{id}/stream (raw asyncio sockets: an SSE
   client per stream costs a few KiB here, so one client process can hold 10k) and waits for
   each one's first `state` snapshot;
3. with --server-pid, reads the server's RSS (the process and its children) before and after
   the streams are open: (after - before) / streams is the memory cost of one subscriber;
4. casts the votes one by one (`--interval` apart) through fresh HTTP connections. The state
   payload carries no server timestamp, so the latency of vote k on a stream is the arrival
   time of the first `state` whose vote count reaches k minus the client's own send time of
   vote k (the same clock: everything runs in this process);
5. prints one JSON document (also written to --out): connect times, per-stream latencies
   p50/p95/p99/max, streams that missed a vote, RSS figures.

The client shares the machine with the server: its own event-loop delay is included in the
latencies (they are upper bounds), and it reports its CPU time so that cost is visible.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

VOTES_RE = re.compile(rb'"votes":(\d+)')


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of an unsorted list; 0 for an empty one."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def summary_ms(values_s: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values_s]
    return {
        "count": len(ms),
        "p50": round(percentile(ms, 50), 2),
        "p95": round(percentile(ms, 95), 2),
        "p99": round(percentile(ms, 99), 2),
        "max": round(max(ms), 2) if ms else 0.0,
    }


def tree_rss(pid: int) -> int:
    """RSS in bytes of a process and its children (uvicorn workers)."""
    import psutil

    root = psutil.Process(pid)
    total = root.memory_info().rss
    for child in root.children(recursive=True):
        try:
            if "spawn_main" in " ".join(child.cmdline()):  # workers, not embedded servers
                total += child.memory_info().rss
        except psutil.Error:
            pass
    return total


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# -- the event under test -------------------------------------------------------------------
@dataclass
class LiveEvent:
    id: str
    code: str
    team_id: str  # on stage, voting open
    host_headers: dict[str, str]
    team_ids: list[str]


async def prepare_event(
    client: httpx.AsyncClient, title: str = "load test", teams: int = 1
) -> LiveEvent:
    """A host, an event whose first team is on stage with voting open, live results."""
    name = f"host{uuid.uuid4().hex[:10]}"
    email = f"{name}@example.com"
    r = await client.post(
        "/api/auth/register", json={"username": name, "email": email, "password": "password123"}
    )
    r.raise_for_status()
    r = await client.post("/api/auth/login", json={"email": email, "password": "password123"})
    r.raise_for_status()
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    r = await client.post(
        "/api/events",
        json={
            "title": title,
            "teams": [{"name": f"Team {chr(65 + i)}"} for i in range(teams)],
            "results": "live",
        },
        headers=headers,
    )
    r.raise_for_status()
    event = r.json()
    team_ids = [t["id"] for t in event["teams"]]
    live = LiveEvent(event["id"], event["code"], team_ids[0], headers, team_ids)
    await open_voting(client, live, team_ids[0])
    return live


async def open_voting(client: httpx.AsyncClient, event: LiveEvent, team_id: str) -> None:
    """Put `team_id` on stage and open voting for it (as the host)."""
    r = await client.put(
        f"/api/events/{event.id}/stage", json={"team_id": team_id}, headers=event.host_headers
    )
    r.raise_for_status()
    r = await client.put(
        f"/api/events/{event.id}/voting", json={"open": True}, headers=event.host_headers
    )
    r.raise_for_status()
    event.team_id = team_id


async def join_attendees(client: httpx.AsyncClient, code: str, n: int) -> list[str]:
    sem = asyncio.Semaphore(50)

    async def one(i: int) -> str:
        async with sem:
            r = await client.post("/api/events/join", json={"code": code, "name": f"a{i}"})
            r.raise_for_status()
            return str(r.json()["token"])

    return list(await asyncio.gather(*(one(i) for i in range(n))))


# -- one SSE stream -------------------------------------------------------------------------
@dataclass
class Stream:
    seen_votes: int = -1
    frames: int = 0
    connected_at: float = 0.0
    first_state: float = 0.0
    error: str = ""
    arrivals: dict[int, float] = field(default_factory=dict)  # vote k → arrival time
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    def on_frame(self, frame: bytes, now: float) -> None:
        if b"event: state" not in frame:
            return  # retry hints and heartbeats
        self.frames += 1
        total = sum(int(m) for m in VOTES_RE.findall(frame))
        if self.seen_votes < 0:
            self.seen_votes = total
            self.first_state = now
            self.ready.set()
            return
        for k in range(self.seen_votes + 1, total + 1):
            self.arrivals.setdefault(k, now)
        self.seen_votes = max(self.seen_votes, total)


async def hold_stream(host: str, port: int, path: str, s: Stream, stop: asyncio.Event) -> None:
    writer = None
    try:
        start = time.perf_counter()
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n"
            "Cache-Control: no-cache\r\n\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        if status != 200:
            s.error = f"HTTP {status}"
            s.ready.set()
            return
        s.connected_at = time.perf_counter() - start
        chunked = b"transfer-encoding: chunked" in head.lower()
        buf = b""
        while not stop.is_set():
            if chunked:
                line = await reader.readuntil(b"\r\n")
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    break
                data = (await reader.readexactly(size + 2))[:-2]
            else:
                data = await reader.read(65536)
                if not data:
                    break
            now = time.perf_counter()
            buf += data.replace(b"\r\n", b"\n")
            while b"\n\n" in buf:
                frame, buf = buf.split(b"\n\n", 1)
                s.on_frame(frame, now)
    except asyncio.CancelledError:
        pass
    except Exception as exc:
        s.error = f"{type(exc).__name__}: {exc}"[:200]
    finally:
        s.ready.set()
        if writer is not None:
            writer.close()


# -- the run ----------------------------------------------------------------------------------
async def run(args: argparse.Namespace) -> dict[str, Any]:
    fd_limit = raise_fd_limit()
    if fd_limit < args.streams + 200:
        raise SystemExit(f"open-file limit {fd_limit} is too low for {args.streams} streams")
    url = urlsplit(args.url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    cpu0 = time.process_time()
    async with httpx.AsyncClient(base_url=args.url, timeout=60) as api:
        event = await prepare_event(api, f"sse load {args.streams}")
        tokens = await join_attendees(api, event.code, args.votes)
    await asyncio.sleep(0.5)  # let the join updates settle
    rss_before = tree_rss(args.server_pid) if args.server_pid else 0

    path = f"/api/events/{event.id}/stream"
    stop = asyncio.Event()
    streams = [Stream() for _ in range(args.streams)]
    tasks: list[asyncio.Task[None]] = []
    connect_start = time.perf_counter()
    sem = asyncio.Semaphore(args.connect_concurrency)

    async def open_one(s: Stream) -> None:
        async with sem:
            tasks.append(asyncio.create_task(hold_stream(host, port, path, s, stop)))
            await s.ready.wait()

    await asyncio.wait_for(
        asyncio.gather(*(open_one(s) for s in streams)), timeout=args.connect_timeout
    )
    connect_seconds = time.perf_counter() - connect_start
    failed = [s.error for s in streams if s.error or s.seen_votes < 0]
    await asyncio.sleep(1.0)
    rss_after = tree_rss(args.server_pid) if args.server_pid else 0

    # Votes, one by one, each through a fresh connection.
    sent: dict[int, float] = {}
    vote_http: list[float] = []
    vote_errors: list[str] = []
    base = max(s.seen_votes for s in streams if s.seen_votes >= 0)
    async with httpx.AsyncClient(
        base_url=args.url,
        timeout=30,
        limits=httpx.Limits(max_keepalive_connections=0),
    ) as voter:
        for i, token in enumerate(tokens):
            k = base + i + 1
            t0 = time.perf_counter()
            sent[k] = t0
            r = await voter.post(
                f"/api/events/{event.id}/votes",
                json={"team_id": event.team_id, "score": 1 + i % 5},
                headers={"Authorization": f"Bearer {token}"},
            )
            vote_http.append(time.perf_counter() - t0)
            if r.status_code != 201:
                vote_errors.append(f"{r.status_code} {r.text[:120]}")
            await asyncio.sleep(max(0.0, args.interval - (time.perf_counter() - t0)))
    # Wait until every live stream has seen the last vote (or give up).
    last = base + len(tokens)
    deadline = time.perf_counter() + args.drain_timeout
    while time.perf_counter() < deadline:
        if all(s.seen_votes >= last for s in streams if not s.error and s.seen_votes >= 0):
            break
        await asyncio.sleep(0.1)
    stop.set()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

    latencies: list[float] = []
    missed = 0
    for s in streams:
        if s.error or s.seen_votes < 0:
            continue
        for k, t_send in sent.items():
            arrived = s.arrivals.get(k)
            if arrived is None:
                missed += 1
            else:
                latencies.append(arrived - t_send)
    per_stream = (rss_after - rss_before) / max(1, args.streams - len(failed))
    return {
        "streams": args.streams,
        "event_id": event.id,
        "connected": args.streams - len(failed),
        "connect_failures": len(failed),
        "connect_failure_samples": failed[:5],
        "connect_seconds": round(connect_seconds, 2),
        "connect_ms": summary_ms([s.connected_at for s in streams if s.connected_at]),
        "votes": len(tokens),
        "vote_errors": vote_errors[:5],
        "vote_error_count": len(vote_errors),
        "vote_http_ms": summary_ms(vote_http),
        "vote_to_screen_ms": summary_ms(latencies),
        "deliveries": len(latencies),
        "missed_deliveries": missed,
        "server_rss_before_mib": round(rss_before / 2**20, 1),
        "server_rss_after_mib": round(rss_after / 2**20, 1),
        "rss_per_stream_kib": round(per_stream / 1024, 2) if args.server_pid else None,
        "client_cpu_seconds": round(time.process_time() - cpu0, 2),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--url", default=os.environ.get("BASE_URL", "http://127.0.0.1:8000"))
    p.add_argument("--streams", type=int, default=1000)
    p.add_argument("--votes", type=int, default=20, help="votes to time (one attendee each)")
    p.add_argument("--interval", type=float, default=0.5, help="seconds between votes")
    p.add_argument("--server-pid", type=int, default=0, help="measure this server's RSS")
    p.add_argument("--connect-concurrency", type=int, default=200)
    p.add_argument("--connect-timeout", type=float, default=180)
    p.add_argument("--drain-timeout", type=float, default=30)
    p.add_argument("--out", help="also write the JSON result here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import uvloop

        result = uvloop.run(run(args))
    except ImportError:
        result = asyncio.run(run(args))
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    return 0 if result["connect_failures"] == 0 and result["missed_deliveries"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
