"""Event votes over HTTP: attendees joined first (timed), then k6 event-votes.js twice on the
same server: MODE=max (200 voters, closed loop: the maximum) and MODE=rate, an open model at
70 % of the maximum the closed loop just measured. Two teams: the same attendees vote for
team A in the max run and for team B after, so one set of joins serves both runs."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from livevote.infra.embedded import EmbeddedStack
from loadtest.lib import LOADTEST, OUT, k6
from loadtest.lib.api import (
    LiveEvent,
    event_total_votes,
    no_cookies,
    open_voting,
    prepare_event,
)
from loadtest.lib.joins import join_many
from loadtest.lib.procs import Sampler, serve, stack_pids

SCRIPT = LOADTEST / "event-votes.js"
VOTERS = "200"  # k6 VUs in both runs


@dataclass
class Voters:
    event: LiveEvent
    tokens: list[str]
    joins: dict[str, Any] = field(default_factory=dict)

    def write(self, name: str, limit: int = 0) -> Path:
        """The TOKENS_FILE event-votes.js reads: one prepared attendee per iteration."""
        path = OUT / f"attendees-{name}.json"
        tokens = self.tokens[:limit] if limit else self.tokens
        body = {"event_id": self.event.id, "team_id": self.event.team_id, "tokens": tokens}
        path.write_text(json.dumps(body))
        return path


async def prepare_voters(url: str, n: int, teams: int = 1) -> Voters:
    """An event with voting open for its first team and `n` joined attendees; times the
    joins (aiohttp, 200 in flight: lib/joins.py; httpx topped out near 130 requests/s here,
    below the joins' own rate)."""
    async with httpx.AsyncClient(base_url=url, timeout=60, cookies=no_cookies()) as client:
        event = await prepare_event(client, "votes load", teams=teams)
    tokens, joins = await join_many(url, event.code, n)
    return Voters(event, tokens, joins)


async def _more_voters(url: str, voters: Voters, n: int) -> None:
    tokens, _ = await join_many(url, voters.event.code, n)
    voters.tokens += tokens


async def _next_team(url: str, event: LiveEvent, index: int) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        await open_voting(client, event, event.team_ids[index])


def run(
    stack: EmbeddedStack,
    *,
    workers: int,
    max_votes: int,
    rate_seconds: int,
    raw_votes_per_s: float,
) -> dict[str, Any]:
    results: dict[str, Any] = {"workers": workers, "raw_votes_per_s": raw_votes_per_s}
    with serve(stack, workers) as server:
        voters = asyncio.run(prepare_voters(server.url, max_votes, teams=2))
        results["joins"] = voters.joins

        # 1. closed loop, 200 voters: the maximum.
        env = {"BASE_URL": server.url, "MODE": "max", "VUS": VOTERS}
        env["TOKENS_FILE"] = str(voters.write("max", limit=max_votes))
        with Sampler([server.pid]) as s, Sampler(stack_pids(stack), children=False) as b:
            summary = k6.run(SCRIPT, "votes-max", env)
        ok = k6.count(summary, "votes_ok")
        counted_a = asyncio.run(event_total_votes(server.url, voters.event.id))
        results["max"] = {
            "votes_ok": int(ok),
            "failed": int(k6.count(summary, "votes_failed")),
            "votes_per_s": round(float(k6.metric(summary, "votes_ok").get("rate", 0)), 1),
            "latency_ms": k6.trend(summary, "vote_ms"),
            "server": {**s.summary(), "backing": b.summary()},
            "counted": counted_a,
            "k6_exit": summary["_exit_code"],
            "client": f"k6, {VOTERS} VUs",
        }

        # 2. open model at 70 % of that maximum, 200 VUs at most (more attendees joined if
        # the first run's do not cover RATE x DURATION).
        rate = max(10, int(results["max"]["votes_per_s"] * 0.7))
        n_rate = int(rate * rate_seconds * 1.05) + 50
        if n_rate > len(voters.tokens):
            asyncio.run(_more_voters(server.url, voters, n_rate - len(voters.tokens)))
        asyncio.run(_next_team(server.url, voters.event, 1))
        env = {"BASE_URL": server.url, "MODE": "rate", "RATE": str(rate)}
        env |= {"DURATION": f"{rate_seconds}s", "VUS": VOTERS}
        env["TOKENS_FILE"] = str(voters.write("rate", limit=n_rate))
        with Sampler([server.pid]) as s, Sampler(stack_pids(stack), children=False) as b:
            summary = k6.run(SCRIPT, "votes-rate", env)
        ok = k6.count(summary, "votes_ok")
        counted = asyncio.run(event_total_votes(server.url, voters.event.id)) - counted_a
        results["rate"] = {
            "target_per_s": rate,
            "client": f"k6, constant arrival rate, at most {VOTERS} VUs",
            "seconds": rate_seconds,
            "votes_ok": int(ok),
            "votes_per_s": round(ok / rate_seconds, 1),
            "failed": int(k6.count(summary, "votes_failed")),
            "dropped": int(k6.count(summary, "dropped_iterations")),
            "latency_ms": k6.trend(summary, "vote_ms"),
            "thresholds_crossed": k6.thresholds_crossed(summary),
            "server": {**s.summary(), "backing": b.summary()},
            "counted": counted,
            "k6_exit": summary["_exit_code"],
        }
    return results
