"""SSE clients: thousands of raw-socket streams in one process (vote-to-screen latency), and
a reconnecting httpx reader (Last-Event-ID) for the chaos run.

The raw-socket stream costs a few KiB per connection on the client side, so one client
process can hold 10k. The state payload carries no server timestamp, so the latency of vote k
on a stream is the arrival of the first `state` whose vote count reaches k minus the client's
own send time of vote k (one monotonic clock, `time.perf_counter`: everything runs in this
process). A state's vote count is the sum of its result rows' own `votes` (parsed, not
grepped: a row also nests `audience.votes`, and counting both matched a state to a vote sent
later: negative latencies). The client shares the machine with the server: its own event-loop
delay is included (the figures are upper bounds). A frame's arrival is when the client's
event loop read its last bytes off the socket (`_TimedReader.feed_data`), not when the
stream's task got round to parsing it: at 10k streams the client parses 10k frames per
update on one core, and that queue is the client's, not the server's (issue 13, py-spy of
the client: ≈ 90 % busy during the vote phase, JSON parsing and task wakeups).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, SupportsIndex
from urllib.parse import urlsplit

import httpx
import msgspec

from loadtest.lib.api import LiveEvent, join_attendees, no_cookies, prepare_event
from loadtest.lib.procs import raise_fd_limit, tree_cpu_seconds, tree_rss
from loadtest.lib.stats import summary_ms


class _Row(msgspec.Struct):
    votes: int = 0  # the row's own count; the nested `audience.votes` is not decoded


class _State(msgspec.Struct):
    results: list[_Row] | None = None


_decode_state = msgspec.json.Decoder(_State).decode  # decodes only what it counts


def state_votes(frame: bytes) -> int | None:
    """The vote count a `state` frame shows (the sum of its result rows' `votes`); None for
    another frame (retry hints, heartbeats) or a state without results (hidden)."""
    if b"event: state" not in frame:
        return None
    data = b"\n".join(
        line[5:].lstrip(b" ") for line in frame.split(b"\n") if line.startswith(b"data:")
    )
    try:
        rows = _decode_state(data).results
    except msgspec.DecodeError:
        return None
    if rows is None:
        return None
    return sum(row.votes for row in rows)


def record_arrivals(arrivals: dict[int, float], seen: int, count: int, now: float) -> int:
    """A state showing `count` votes arrived at `now`, after states that showed `seen`: vote
    k (the k-th counted) first reached the screen now for every k in (seen, count]. Returns
    the new high-water mark (a state showing fewer votes than before adds nothing)."""
    for k in range(seen + 1, count + 1):
        arrivals.setdefault(k, now)
    return max(seen, count)


def match_latencies(sent: dict[int, float], arrivals: dict[int, float]) -> tuple[list[float], int]:
    """Vote k's latency = arrival of the first state counting k − k's send time (one clock).
    Returns (latencies in seconds, votes that never arrived)."""
    latencies = [arrivals[k] - t for k, t in sent.items() if k in arrivals]
    return latencies, sum(1 for k in sent if k not in arrivals)


# -- one raw-socket stream ----------------------------------------------------------------------
@dataclass
class Stream:
    seen_votes: int = -1
    frames: int = 0
    connected_at: float = 0.0
    first_state: float = 0.0
    error: str = ""
    arrivals: dict[int, float] = field(default_factory=dict)  # vote k → arrival time
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def live(self) -> bool:
        return not self.error and self.seen_votes >= 0

    def on_frame(self, frame: bytes, now: float) -> None:
        total = state_votes(frame)
        if total is None:
            return
        self.frames += 1
        if self.seen_votes < 0:
            self.seen_votes = total
            self.first_state = now
            self.ready.set()
            return
        self.seen_votes = record_arrivals(self.arrivals, self.seen_votes, total, now)


class _TimedReader(asyncio.StreamReader):
    """A StreamReader that notes when the event loop last fed it bytes."""

    arrived = 0.0

    def feed_data(self, data: Iterable[SupportsIndex]) -> None:  # typeshed's signature
        self.arrived = time.perf_counter()
        super().feed_data(data)


async def _open(host: str, port: int) -> tuple[_TimedReader, asyncio.StreamWriter]:
    """asyncio.open_connection with a `_TimedReader`."""
    loop = asyncio.get_running_loop()
    reader = _TimedReader(limit=1 << 20, loop=loop)
    protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
    transport, _ = await loop.create_connection(lambda: protocol, host, port)
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)


async def hold_stream(host: str, port: int, path: str, s: Stream, stop: asyncio.Event) -> None:
    """GET `path` as text/event-stream and feed every frame to `s` until `stop`; a frame's
    time is when its last bytes were read off the socket (see the module docstring)."""
    writer = None
    try:
        start = time.perf_counter()
        reader, writer = await _open(host, port)
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
            now = reader.arrived
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


# -- the streams run ----------------------------------------------------------------------------
@dataclass
class StreamRun:
    url: str
    streams: int = 1000
    votes: int = 20  # votes to time, one attendee each
    interval: float = 0.5  # seconds between votes
    server_pid: int = 0  # measure this server's RSS (0: do not)
    connect_concurrency: int = 200
    connect_timeout: float = 180
    drain_timeout: float = 30


async def measure_streams(run: StreamRun) -> dict[str, Any]:
    """Set an event up, join the voters, open the streams (each waits for its first state),
    then cast the votes one by one and time their arrival on every stream."""
    fd_limit = raise_fd_limit()
    if fd_limit < run.streams + 200:
        raise SystemExit(f"open-file limit {fd_limit} is too low for {run.streams} streams")
    cpu0 = time.process_time()
    async with httpx.AsyncClient(base_url=run.url, timeout=60, cookies=no_cookies()) as api:
        event = await prepare_event(api, f"sse load {run.streams}")
        # before any stream opens, so join updates do not mix with vote updates
        tokens = await join_attendees(api, event.code, run.votes)
    await asyncio.sleep(0.5)  # let the join updates settle
    rss_before = tree_rss(run.server_pid) if run.server_pid else 0

    stop = asyncio.Event()
    streams = [Stream() for _ in range(run.streams)]
    tasks: list[asyncio.Task[None]] = []
    connect_start = time.perf_counter()
    await _open_streams(run, event, streams, tasks, stop)
    connect_seconds = time.perf_counter() - connect_start
    failed = [s.error for s in streams if not s.live]
    await asyncio.sleep(1.0)
    rss_after = tree_rss(run.server_pid) if run.server_pid else 0

    base = max(s.seen_votes for s in streams if s.seen_votes >= 0)
    cpu_votes0 = tree_cpu_seconds(run.server_pid) if run.server_pid else 0.0
    sent, vote_http, vote_errors = await _cast_votes(run, event, tokens, base)
    last = base + len(tokens)  # wait until every live stream saw the last vote (or give up)
    deadline = time.perf_counter() + run.drain_timeout
    while time.perf_counter() < deadline:
        if all(s.seen_votes >= last for s in streams if s.live):
            break
        await asyncio.sleep(0.1)
    # the server's CPU from the first vote until every stream saw the last one: the votes'
    # own handling plus one fan-out per update (heartbeats are rarer than this phase)
    cpu_votes = tree_cpu_seconds(run.server_pid) - cpu_votes0 if run.server_pid else 0.0
    stop.set()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

    latencies: list[float] = []
    missed = 0
    for s in (s for s in streams if s.live):
        seen, lost = match_latencies(sent, s.arrivals)
        latencies += seen
        missed += lost
    per_stream = (rss_after - rss_before) / max(1, run.streams - len(failed))
    return {
        "streams": run.streams,
        "event_id": event.id,
        "connected": run.streams - len(failed),
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
        # a state can only count a vote already sent: > 0 means the matching is wrong
        "negative_latencies": sum(1 for x in latencies if x < 0),
        "server_rss_before_mib": round(rss_before / 2**20, 1),
        "server_rss_after_mib": round(rss_after / 2**20, 1),
        "rss_per_stream_kib": round(per_stream / 1024, 2) if run.server_pid else None,
        "server_cpu_vote_phase_s": round(cpu_votes, 3) if run.server_pid else None,
        "server_cpu_ms_per_vote": (
            round(1000 * cpu_votes / max(1, len(tokens)), 2) if run.server_pid else None
        ),
        "client_cpu_seconds": round(time.process_time() - cpu0, 2),
    }


async def _open_streams(
    run: StreamRun,
    event: LiveEvent,
    streams: list[Stream],
    tasks: list[asyncio.Task[None]],
    stop: asyncio.Event,
) -> None:
    url = urlsplit(run.url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    path = f"/api/events/{event.id}/stream"
    sem = asyncio.Semaphore(run.connect_concurrency)

    async def open_one(s: Stream) -> None:
        async with sem:
            tasks.append(asyncio.create_task(hold_stream(host, port, path, s, stop)))
            await s.ready.wait()

    await asyncio.wait_for(
        asyncio.gather(*(open_one(s) for s in streams)), timeout=run.connect_timeout
    )


async def _cast_votes(
    run: StreamRun, event: LiveEvent, tokens: list[str], base: int
) -> tuple[dict[int, float], list[float], list[str]]:
    """One vote per token, `interval` apart, each through a fresh connection: the send time
    of vote k, the HTTP latencies, the errors."""
    sent: dict[int, float] = {}
    vote_http: list[float] = []
    vote_errors: list[str] = []
    async with httpx.AsyncClient(
        base_url=run.url, timeout=30, limits=httpx.Limits(max_keepalive_connections=0)
    ) as voter:
        for i, token in enumerate(tokens):
            t0 = time.perf_counter()
            sent[base + i + 1] = t0
            r = await voter.post(
                f"/api/events/{event.id}/votes",
                json={"team_id": event.team_id, "score": 1 + i % 5},
                headers={"Authorization": f"Bearer {token}"},
            )
            vote_http.append(time.perf_counter() - t0)
            if r.status_code != 201:
                vote_errors.append(f"{r.status_code} {r.text[:120]}")
            await asyncio.sleep(max(0.0, run.interval - (time.perf_counter() - t0)))
    return sent, vote_http, vote_errors


# -- a reconnecting reader (chaos) --------------------------------------------------------------
@dataclass
class Reader:
    event_id: str
    last_id: str | None = None
    last_state: dict[str, Any] | None = None
    connects: int = 0
    messages: int = 0


async def read_events(url: str, reader: Reader, stop: asyncio.Event) -> None:
    """Follow an event's stream until `stop`, reconnecting with Last-Event-ID whenever it
    drops; keeps the last `state`."""
    timeout = httpx.Timeout(10.0, read=30.0)
    async with httpx.AsyncClient(base_url=url, timeout=timeout) as c:
        while not stop.is_set():
            headers = {"Last-Event-ID": reader.last_id} if reader.last_id else {}
            try:
                async with c.stream(
                    "GET", f"/api/events/{reader.event_id}/stream", headers=headers
                ) as r:
                    if r.status_code != 200:
                        await asyncio.sleep(0.5)
                        continue
                    reader.connects += 1
                    event: dict[str, str] = {}
                    async for line in r.aiter_lines():
                        if stop.is_set():
                            return
                        if line == "":
                            if event.get("event") == "state" and "data" in event:
                                reader.last_state = json.loads(event["data"])
                                reader.last_id = event.get("id", reader.last_id)
                                reader.messages += 1
                            event = {}
                            continue
                        if line.startswith(":"):
                            continue
                        name, _, value = line.partition(":")
                        event[name] = value[1:] if value.startswith(" ") else value
            except (httpx.HTTPError, json.JSONDecodeError):
                pass
            await asyncio.sleep(0.3)
