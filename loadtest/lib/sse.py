"""SSE clients: thousands of raw-socket streams in one process (vote-to-screen latency), and
a reconnecting httpx reader (Last-Event-ID) for the chaos run.

The raw-socket stream costs a few KiB per connection on the client side, so one client
process can hold 10k. The state payload carries no server timestamp, so the latency of vote k
on a stream is the arrival of the first `state` whose vote count reaches k minus the client's
own send time of vote k (one monotonic clock, `time.perf_counter`: everything runs in this
process). A state's vote count is the sum of its result rows' own `votes` (parsed, not
grepped: a row also nests `audience.votes`, and counting both matched a state to a vote sent
later: negative latencies). The client shares the machine with the server: its own event-loop
delay is included (the figures are upper bounds). Each stream is an asyncio.Protocol that
parses its frames in `data_received`, and a frame's arrival is that call's time: a
StreamReader and a task per stream (the client before) woke 10k tasks per update and kept
one core ≈ 90 % busy in the vote phase (issue 13, py-spy of the client).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any, cast
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


class _StreamProtocol(asyncio.Protocol):
    """One stream as a protocol: the event loop hands it the bytes and it parses the chunked
    body and the frames right there — no StreamReader, no task woken per frame. A frame's
    time is when the loop read its last bytes (the `data_received` call)."""

    def __init__(self, s: Stream, request: bytes) -> None:
        self.s = s
        self.request = request
        self.started = time.perf_counter()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.raw = b""  # bytes not parsed yet (head, or an incomplete chunk)
        self.text = b""  # body text not yet ended by a blank line
        self.chunked: bool | None = None  # None until the head is read

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self.raw += data
        if self.chunked is None and not self._head(now):
            return
        if self.chunked:
            self._chunks()
        else:
            self.text, self.raw = self.text + self.raw, b""
        if b"\n\n" in self.text:
            *frames, self.text = self.text.replace(b"\r\n", b"\n").split(b"\n\n")
            for frame in frames:
                self.s.on_frame(frame, now)

    def _head(self, now: float) -> bool:
        end = self.raw.find(b"\r\n\r\n")
        if end < 0:
            return False
        head, self.raw = self.raw[: end + 4], self.raw[end + 4 :]
        status = int(head.split(b" ", 2)[1])
        if status != 200:
            self.s.error = f"HTTP {status}"
            self._close()
            return False
        self.s.connected_at = now - self.started
        self.chunked = b"transfer-encoding: chunked" in head.lower()
        return True

    def _chunks(self) -> None:
        while (eol := self.raw.find(b"\r\n")) >= 0:
            size = int(self.raw[:eol].split(b";")[0].strip(), 16)
            if size == 0:
                self._close()
                return
            end = eol + 2 + size
            if len(self.raw) < end + 2:
                return
            self.text += self.raw[eol + 2 : end]
            self.raw = self.raw[end + 2 :]

    def _close(self) -> None:
        self.s.ready.set()
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None and not self.s.error:
            self.s.error = f"{type(exc).__name__}: {exc}"[:200]
        self.s.ready.set()
        if not self.closed.done():
            self.closed.set_result(None)


async def hold_stream(host: str, port: int, path: str, s: Stream, stop: asyncio.Event) -> None:
    """GET `path` as text/event-stream and feed every frame to `s` until `stop` (or until the
    task is cancelled, or the server ends the stream)."""
    loop = asyncio.get_running_loop()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n"
        "Cache-Control: no-cache\r\n\r\n"
    ).encode()
    transport: asyncio.BaseTransport | None = None
    try:
        transport, protocol = await loop.create_connection(
            lambda: _StreamProtocol(s, request), host, port
        )
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait((protocol.closed, stopping), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
    except asyncio.CancelledError:
        pass
    except Exception as exc:
        s.error = f"{type(exc).__name__}: {exc}"[:200]
    finally:
        s.ready.set()
        if transport is not None:
            transport.close()


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
