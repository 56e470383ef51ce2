"""The chaos client: calls that retry an outage the way a phone app would (honouring
Retry-After), and the bookkeeping of every answer: statuses, 5xx, malformed 503s, hangs."""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from loadtest.lib.api import User

PROBLEM = "application/problem+json"
DURATION_LINE = re.compile(r"^livevote_http_request_duration_seconds_(count|bucket)\{(.*)\} (\S+)$")


@dataclass
class Stats:
    statuses: Counter[int] = field(default_factory=Counter)
    transport_errors: Counter[str] = field(default_factory=Counter)
    bad_503: int = 0  # a 503 without Retry-After or not problem+json
    errors_500: list[str] = field(default_factory=list)
    slow: int = 0  # requests slower than the hang threshold, as the client saw them
    slow_paths: Counter[str] = field(default_factory=Counter)
    max_latency: float = 0.0
    timeouts: int = 0  # no answer within 2 x the hang threshold
    requests: int = 0

    def record(self, r: httpx.Response, elapsed: float, hang: float) -> None:
        self.requests += 1
        self.statuses[r.status_code] += 1
        self.max_latency = max(self.max_latency, elapsed)
        if elapsed > hang:
            self.slow += 1
            self.slow_paths[f"{r.request.method} {r.status_code} {shape(r.request.url.path)}"] += 1
        if r.status_code == 503:
            ok = r.headers.get("retry-after", "").isdigit() and r.headers.get(
                "content-type", ""
            ).startswith(PROBLEM)
            if not ok:
                self.bad_503 += 1
        if r.status_code >= 500 and r.status_code != 503:
            self.errors_500.append(f"{r.status_code} {r.request.url.path} {r.text[:200]}")

    def figures(self) -> dict[str, Any]:
        """What the clients saw, for the result document."""
        return {
            "requests": self.requests,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "transport_errors": dict(self.transport_errors),
            "responses_5xx_not_503": len(self.errors_500),
            "examples_5xx": self.errors_500[:5],
            "bad_503": self.bad_503,
            "client_timeouts": self.timeouts,
            "slow_requests": self.slow,
            "slow_request_kinds": dict(self.slow_paths.most_common(10)),
            "max_latency_s": round(self.max_latency, 2),
        }


def server_slow_requests(metrics_text: str, over: str = "5.0") -> int:
    """Requests the server itself took longer than `over` seconds to answer (from its own
    duration histogram), SSE streams excluded (long by design)."""
    total: dict[tuple[str, str], float] = {}
    under: dict[tuple[str, str], float] = {}
    for line in metrics_text.splitlines():
        m = DURATION_LINE.match(line)
        if not m or "stream" in m.group(2):
            continue
        labels = dict(kv.split("=", 1) for kv in m.group(2).split(","))
        key = (labels.get("method", ""), labels.get("route", ""))
        if m.group(1) == "count":
            total[key] = float(m.group(3))
        elif labels.get("le") == f'"{over}"':
            under[key] = float(m.group(3))
    return int(sum(total[k] - under.get(k, 0.0) for k in total))


def shape(path: str) -> str:
    """A path with its ids replaced by {id}: requests grouped by route."""
    return "/".join("{id}" if len(p) == 24 else p for p in path.split("/"))


@dataclass
class Outcome:
    """What one client knows about one vote (keyed by (target, team/option, voter))."""

    value: int
    final: str  # acked | already-voted | closed | unknown | rejected-<status>
    attempts: int
    uncertain: bool  # some attempt ended without a definite answer (503 / dropped)


@dataclass
class World:
    """Everything the chaos clients set up and know: events, polls, and the outcome of every
    vote they sent."""

    events: list[dict[str, Any]] = field(default_factory=list)
    host_headers: dict[str, str] = field(default_factory=dict)
    open_team: dict[str, str | None] = field(default_factory=dict)
    polls: list[dict[str, Any]] = field(default_factory=list)
    poll_users: list[User] = field(default_factory=list)
    event_votes: dict[tuple[str, str, str], Outcome] = field(default_factory=dict)
    poll_votes: dict[tuple[str, str], Outcome] = field(default_factory=dict)
    joins: Counter[str] = field(default_factory=Counter)


def classify(r: httpx.Response | None) -> str:
    """A vote's final answer, as an Outcome's `final`."""
    if r is None or r.status_code >= 500:
        return "unknown"
    if r.status_code == 201:
        return "acked"
    if r.status_code == 409:
        kind = str(r.json().get("type", "")).rsplit("/", 1)[-1]
        return "already-voted" if kind == "already-voted" else "closed"
    return f"rejected-{r.status_code}"


class Api:
    """A thin client that retries outages the way a phone app would (honouring Retry-After)."""

    def __init__(
        self, client: httpx.AsyncClient, stats: Stats, hang: float, stop_at: float
    ) -> None:
        self.c = client
        self.stats = stats
        self.hang = hang
        self.stop_at = stop_at

    async def call(
        self, method: str, url: str, *, retry: bool = True, **kw: Any
    ) -> tuple[httpx.Response | None, bool]:
        """Returns (final response or None, uncertain): uncertain if some attempt ended in a
        503 or a dropped connection (the write may or may not have happened)."""
        uncertain = False
        while True:
            start = time.monotonic()
            r: httpx.Response | None
            try:
                r = await self.c.request(method, url, **kw)
            except httpx.TimeoutException:
                self.stats.slow += 1
                self.stats.timeouts += 1
                self.stats.slow_paths[f"{method} timeout {shape(url)}"] += 1
                self.stats.transport_errors["timeout"] += 1
                r = None
            except httpx.TransportError as exc:
                self.stats.transport_errors[type(exc).__name__] += 1
                r = None
            elapsed = time.monotonic() - start
            if r is not None:
                self.stats.record(r, elapsed, self.hang)
                if r.status_code not in (503, 500):
                    return r, uncertain
                wait = float(r.headers.get("retry-after", "1") or 1)
            else:
                wait = 0.5
            uncertain = True
            if not retry or time.monotonic() > self.stop_at:
                return r, uncertain
            await asyncio.sleep(min(wait, 2.0) * random.uniform(0.5, 1.0))
