"""The suite's scenarios: each ONE definition (what runs, what it needs, how its section of
RESULTS.md reads), run by one loop that brackets each with the box's load average.

    clients  each load client alone on GET /health/live: its own ceiling (lib/clients.py)
    raw      the embedded MongoDB's ceiling for one vote's two writes (lib/raw.py)
    votes    k6 event-votes.js, max and open model (lib/votes.py); needs raw's ceiling
    sse      sse_clients.py with 1k / 5k / 10k streams on ONE server process (lib/sse.py)
    feed     k6 poll-feed.js at --feed-rate req/s
    ballots  k6 ballot-reports.js at --ballot-rate reports/s, then exactly-once checked
    flat     one event to --flat-votes votes: CPU per vote per 1,000 (lib/flat.py, lib/chart.py)
    flat-before  the same on --flat-commit's code (opt-in: `--only flat-before`)
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient

from livevote.infra.embedded import EmbeddedStack
from loadtest.lib import LOADTEST, OUT, ROOT, clients, flat, k6, raw, report, targets, votes
from loadtest.lib.procs import Sampler, Server, serve, stack_pids

Report = dict[str, Any]


@dataclass
class Options:
    """The suite's sizes (run_suite.py's flags)."""

    workers: int = 2  # for the HTTP scenarios
    raw_seconds: float = 6  # per concurrency level
    raw_concurrency: list[int] = field(default_factory=lambda: [1, 4, 16, 64, 200])
    max_votes: int = 3000
    rate_seconds: int = 20
    sse_sizes: list[int] = field(default_factory=lambda: [1000, 5000, 10000])
    sse_votes: int = 20
    feed_rate: int = 500
    ballot_rate: int = 1000
    seconds: int = 30  # duration of the feed/ballot runs
    clients_seconds: float = 5
    flat_votes: int = 100_000
    flat_teams: int = 20
    flat_commit: str = ""  # the flat-before scenario's commit


@dataclass(frozen=True)
class Scenario:
    name: str
    run: Callable[[EmbeddedStack, Options, Report], Any]
    section: Callable[[Report], list[str]]  # its lines in RESULTS.md ([] when not run)
    needs: tuple[str, ...] = ()  # scenarios whose result it uses (run first if missing)
    opt_in: bool = False  # only with --only naming it


# -- raw, votes, sse ----------------------------------------------------------------------------
def run_raw(stack: EmbeddedStack, opts: Options, _report: Report) -> dict[str, Any]:
    assert stack.mongo is not None
    with Sampler([stack.mongo.proc.pid], children=False) as s:
        result = asyncio.run(raw.sweep(stack.mongo_uri, opts.raw_seconds, opts.raw_concurrency))
    result["nx_cpu"] = s.summary()
    return result


def run_votes(stack: EmbeddedStack, opts: Options, done: Report) -> dict[str, Any]:
    return votes.run(
        stack,
        workers=opts.workers,
        max_votes=opts.max_votes,
        rate_seconds=opts.rate_seconds,
        raw_votes_per_s=done["raw"]["votes_per_s"],
    )


def run_sse(stack: EmbeddedStack, opts: Options, _report: Report) -> list[dict[str, Any]]:
    """sse_clients.py in its own process (its event loop must not share ours), one fresh
    single-worker server per size."""
    runs = []
    for n in opts.sse_sizes:
        with (
            serve(stack, 1) as server,
            Sampler([server.pid]) as s,
            Sampler(stack_pids(stack), children=False) as b,
        ):
            out = OUT / f"sse-{n}.json"
            cmd = [
                *(sys.executable, str(LOADTEST / "sse_clients.py"), "--url", server.url),
                *("--streams", str(n), "--votes", str(opts.sse_votes), "--interval", "0.5"),
                *("--server-pid", str(server.pid), "--out", str(out)),
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            (OUT / f"sse-{n}.log").write_text(proc.stdout + proc.stderr)
            result = (
                json.loads(out.read_text())
                if out.exists()
                else {"streams": n, "error": proc.stderr[-1500:]}
            )
            result["exit_code"] = proc.returncode
        result["server"] = {**s.summary(), "backing": b.summary()}
        runs.append(result)
    return runs


# -- another domain's k6 script -----------------------------------------------------------------
@dataclass(frozen=True)
class K6Script:
    name: str
    script: Path
    env: Callable[[Options], dict[str, str]]
    load_metric: str  # a rate or counter metric of the load phase's requests
    latency_metrics: list[str]
    check: Callable[[Server, dict[str, Any]], dict[str, Any]] | None = None  # after the run


def run_k6_script(spec: K6Script, stack: EmbeddedStack, opts: Options) -> dict[str, Any]:
    """Throughput counts only the load phase's requests over the scenario duration; latency
    is read from the named (sub)metrics; setup() requests are left out."""
    if not spec.script.exists():
        return {"missing": str(spec.script.relative_to(ROOT))}
    with (
        serve(stack, opts.workers) as server,
        Sampler([server.pid]) as s,
        Sampler(stack_pids(stack), children=False) as backing,
    ):
        summary = k6.run(spec.script, spec.name, {"BASE_URL": server.url, **spec.env(opts)})
        extra = spec.check(server, summary) if spec.check else {}
    result = k6.load_phase(
        summary,
        seconds=opts.seconds,
        load_metric=spec.load_metric,
        latency_metrics=spec.latency_metrics,
    )
    return {**result, "server": {**s.summary(), "backing": backing.summary()}, **extra}


def check_exactly_once(server: Server, summary: dict[str, Any]) -> dict[str, Any]:
    return asyncio.run(_exactly_once(server, summary))


async def _exactly_once(server: Server, summary: dict[str, Any]) -> dict[str, Any]:
    """Ballot reports: every accepted report stored once and counted once (the tallies
    domain's own recount: totals and audit log rebuilt from the stored reports)."""
    from livevote.tallies.recount import check
    from livevote.tallies.repository import ElectionRepository

    async def recount_elections(db: Any) -> list[dict[str, Any]]:
        repo = ElectionRepository(db)
        out = []
        for oid in await repo.election_ids():
            election = await repo.election(oid)
            if election is not None:
                found = await check(repo, election)
                out.append(
                    {
                        "ok": found.ok,
                        "reports": found.reports,
                        "applied": found.applied,
                        "pending": found.pending,
                        "differences": found.texts,
                    }
                )
        return out

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(server.extra["mongo_uri"])
    try:
        db = client[server.database]
        deadline = time.monotonic() + 30
        while True:  # reports accepted but not yet applied are finished by the worker
            results = await recount_elections(db)
            if all(r.get("pending", 0) == 0 for r in results) or time.monotonic() > deadline:
                break
            await asyncio.sleep(1)
        accepted = int(k6.count(summary, "reports_applied"))
        stored = sum(int(r.get("reports", 0)) for r in results)
        applied = sum(int(r.get("applied", 0)) for r in results)
        return {
            "exactly_once": {
                "accepted_202": accepted,
                "stored": stored,
                "applied": applied,
                "recount_ok": all(r.get("ok") for r in results),
                "differences": [d for r in results for d in r.get("differences", [])][:5],
                # a request that timed out client-side may still be stored: stored >= accepted
                "ok": bool(results)
                and all(r.get("ok") for r in results)
                and stored == applied >= accepted,
            }
        }
    finally:
        await client.close()


FEED = K6Script(
    "feed",
    LOADTEST / "poll-feed.js",
    # one iteration = a first page and the next one: RATE iterations/s = 2x req/s
    lambda o: {
        "RATE": str(o.feed_rate // 2),
        "DURATION": f"{o.seconds}s",
        "USERS": "50",
        "POLLS": "300",
    },
    load_metric="http_req_failed{phase:load}",
    latency_metrics=["http_req_duration{name:feed}", "http_req_duration{name:feed-next}"],
)
BALLOTS = K6Script(
    "ballots",
    LOADTEST / "ballot-reports.js",
    lambda o: {
        "RATE": str(o.ballot_rate),
        "DURATION": f"{o.seconds}s",
        "VUS": "200",
        # one report per box: a box per iteration, with room to spare (each city <= 1,000)
        "BOXES": str(int(o.ballot_rate * o.seconds * 1.1) + 200),
        "CITIES": str(max(10, o.ballot_rate * o.seconds // 1000)),
    },
    load_metric="iterations",
    latency_metrics=["http_req_duration{name:report}"],
    check=check_exactly_once,
)


def _k6_scenario(spec: K6Script, title: str, target: Callable[[Report], str]) -> Scenario:
    return Scenario(
        spec.name,
        lambda stack, opts, _report: run_k6_script(spec, stack, opts),
        lambda rep: report.k6_section(rep.get(spec.name), title, target),
    )


def run_flat(stack: EmbeddedStack, opts: Options, _report: Report) -> dict[str, Any]:
    return flat.run(stack, workers=opts.workers, votes=opts.flat_votes, teams=opts.flat_teams)


def run_flat_before(stack: EmbeddedStack, opts: Options, _report: Report) -> dict[str, Any]:
    if not opts.flat_commit:
        raise SystemExit("flat-before needs --flat-commit <sha>")
    return flat.run(
        stack,
        workers=opts.workers,
        votes=opts.flat_votes,
        teams=opts.flat_teams,
        commit=opts.flat_commit,
    )


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "clients",
        lambda stack, opts, _r: clients.run(
            stack, workers=opts.workers, seconds=opts.clients_seconds
        ),
        targets.clients_section,
    ),
    Scenario("raw", run_raw, report.raw_section),
    Scenario("votes", run_votes, report.votes_section, needs=("raw",)),
    Scenario("sse", run_sse, report.sse_section),
    _k6_scenario(FEED, "Poll feed page reads (k6 loadtest/poll-feed.js)", report.feed_target),
    _k6_scenario(BALLOTS, "Ballot reports (k6 loadtest/ballot-reports.js)", report.ballot_target),
    Scenario("flat", run_flat, targets.flat_section),
    Scenario("flat-before", run_flat_before, lambda _r: [], opt_in=True),
)
NAMES = tuple(s.name for s in SCENARIOS if not s.opt_in)  # a full run
KEPT = ("flat-before",)  # an older commit's run: carried over by full runs too


def run_all(stack: EmbeddedStack, opts: Options, only: set[str], results: Report) -> None:
    """Run the selected scenarios in order into `results` (plus any they need that the
    results lack), each bracketed by the box's 1-minute load average."""
    wanted = set(only)
    for s in SCENARIOS:
        if s.name in only:
            wanted |= {need for need in s.needs if need not in results}
    loadavg: dict[str, list[float]] = results.setdefault("loadavg", {})
    for s in SCENARIOS:
        if s.name not in wanted:
            continue
        print(f"{s.name} ...", flush=True)
        loadavg[s.name] = [round(os.getloadavg()[0], 1)]
        results[s.name] = s.run(stack, opts, results)
        print(json.dumps(results[s.name]), flush=True)
        loadavg[s.name].append(round(os.getloadavg()[0], 1))


def render(results: Report, chart_path: Path | None = None) -> str:
    """RESULTS.md: the header, every target's verdict, each scenario's section, then
    ANALYSIS.md; the flat chart is redrawn at `chart_path` (next to RESULTS.md, which links
    it by name)."""
    from loadtest.lib import chart

    chart.draw(results, chart_path or chart.CHART)
    return report.render(results, [targets.summary] + [s.section for s in SCENARIOS])
