"""The load suite: one command, real numbers in loadtest/RESULTS.md.

    python loadtest/run_suite.py                 # everything (about 10 minutes on 2 cores)
    python loadtest/run_suite.py --only votes,sse --sse-sizes 1000

It starts the embedded stack (NX-27017 + redis-server) once, then per scenario a fresh
`livevote serve` subprocess on it (its own database), and measures:

- clients: each load client alone (httpx, aiohttp, k6; 200 connections) against GET
          /health/live for --clients-seconds: the client's own ceiling on this box;
- raw:    the embedded MongoDB's ceiling for one vote's two writes (insert into event_votes +
          the counting findOneAndUpdate with $inc on the event), a direct pymongo async loop
          at each --raw-concurrency: the number the HTTP path is compared with;
- votes:  attendees joining (Python client, 64 concurrent), then k6 loadtest/event-votes.js:
          MODE=max (200 voters, closed loop: the maximum) and MODE=rate at 70 % of the raw
          ceiling (p99 target 100 ms);
- sse:    loadtest/sse_clients.py with 1k / 5k / 10k streams on ONE server process: RSS per
          stream and vote-to-screen latency;
- feed:   the poll feed's k6 script (loadtest/poll-feed.js) at 500 req/s;
- ballots: the ballot-report k6 script (loadtest/ballot-reports.js) at --ballot-rate reports/s
          (one report per ballot box), then a check that every accepted report was applied
          exactly once;
- flat:   one event to --flat-votes votes (aiohttp, closed loop): server CPU per vote per window
          of 1,000 votes, the first window against the last; loadtest/flat-cpu-per-vote.png.
          `--only flat-before --flat-commit edcc8c6 --flat-votes 15000` runs the same on an
          older commit's code (its src/ by git archive, this venv's dependencies): the chart's
          "before" curve, kept by later runs.

For each: throughput, p50/p95/p99, errors, the server's CPU (percent of one core, summed over
the uvicorn processes) and RSS, sampled with psutil every 0.5 s. The scenarios are defined in
loadtest/lib/scenarios.py, the report in loadtest/lib/report.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file

import argparse
import json
import os
import shutil
import tempfile
from datetime import UTC, datetime
from typing import Any

from livevote.infra.embedded import EmbeddedStack
from loadtest.lib import LOADTEST, OUT
from loadtest.lib.chart import CHART
from loadtest.lib.procs import raise_fd_limit
from loadtest.lib.report import git_commit, machine
from loadtest.lib.scenarios import KEPT, NAMES, Options, render, run_all


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--only", default=",".join(NAMES))
    p.add_argument("--workers", type=int, default=2, help="workers for HTTP scenarios")
    p.add_argument("--raw-seconds", type=float, default=6, help="per concurrency level")
    p.add_argument("--raw-concurrency", type=_ints, default=[1, 4, 16, 64, 200])
    p.add_argument("--max-votes", type=int, default=3000)
    p.add_argument("--rate-seconds", type=int, default=20)
    p.add_argument("--sse-sizes", type=_ints, default=[1000, 5000, 10000])
    p.add_argument("--sse-votes", type=int, default=20)
    p.add_argument("--feed-rate", type=int, default=500)
    p.add_argument("--ballot-rate", type=int, default=1000)
    p.add_argument("--seconds", type=int, default=30, help="duration of the feed/ballot runs")
    p.add_argument("--clients-seconds", type=float, default=5)
    p.add_argument("--flat-votes", type=int, default=100_000, help="votes in the flat event")
    p.add_argument("--flat-teams", type=int, default=20, help="attendees = votes / teams")
    p.add_argument("--flat-commit", default="", help="the flat-before scenario's commit")
    p.add_argument("--out", default=str(LOADTEST / "RESULTS.md"))
    p.add_argument(
        "--render-only", action="store_true", help="rewrite RESULTS.md from out/report.json"
    )
    return p.parse_args(argv)


def chart_of(out: str) -> Path:
    """The flat chart lives next to RESULTS.md (which links it by name)."""
    return Path(out).with_name(CHART.name)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    previous = OUT / "report.json"
    if args.render_only:
        Path(args.out).write_text(render(json.loads(previous.read_text()), chart_of(args.out)))
        return 0
    opts = Options(
        workers=args.workers,
        raw_seconds=args.raw_seconds,
        raw_concurrency=args.raw_concurrency,
        max_votes=args.max_votes,
        rate_seconds=args.rate_seconds,
        sse_sizes=args.sse_sizes,
        sse_votes=args.sse_votes,
        feed_rate=args.feed_rate,
        ballot_rate=args.ballot_rate,
        seconds=args.seconds,
        clients_seconds=args.clients_seconds,
        flat_votes=args.flat_votes,
        flat_teams=args.flat_teams,
        flat_commit=args.flat_commit,
    )
    only = set(args.only.split(","))
    raise_fd_limit()  # children inherit it
    OUT.mkdir(exist_ok=True)
    report: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": git_commit(),
        "command": "python loadtest/run_suite.py " + " ".join(argv or sys.argv[1:]),
        "machine": machine(),
        "loadavg_start": [round(x, 1) for x in os.getloadavg()],
    }
    if previous.exists() and only != set(NAMES):
        # Partial re-runs keep the other sections of the last run.
        old = json.loads(previous.read_text())
        report = {**{k: v for k, v in old.items() if k not in only}, **report}
        report["command"] = old.get("command", "") + " ; " + report["command"]
    elif previous.exists():
        old = json.loads(previous.read_text())
        report |= {k: old[k] for k in KEPT if k in old}
    data_dir = Path(tempfile.mkdtemp(prefix="livevote-load-"))
    stack = EmbeddedStack(data_dir).start()
    try:
        run_all(stack, opts, only, report)
    finally:
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    previous.write_text(json.dumps(report, indent=1))
    Path(args.out).write_text(render(report, chart_of(args.out)))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
