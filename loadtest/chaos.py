"""Chaos under load: votes from many concurrent clients while MongoDB and Redis are killed.

    python loadtest/chaos.py --duration 120 --clients 400 --faults 30 [--out out.json]
    python loadtest/chaos.py --reports 10000 --sends 3 --crash-rate 0.2

Votes (the default mode, loadtest/lib/chaos_votes.py):
1. starts its own EmbeddedStack (NX-27017 + redis-server) and `livevote serve` as a
   subprocess on it (limits set very high: this measures correctness, not throttling);
2. sets up `--events` live events with `--teams` teams each (results "live"), a host task per
   event that rotates the stage and opens voting every `--rotate` seconds, `--polls` polls
   and `--poll-users` registered users who vote on them, and `--sse` SSE readers that
   reconnect with Last-Event-ID whenever their stream drops;
3. `--clients` attendee clients join events and vote (one vote per attendee per team) while
   a fault task kills NX-27017 or redis-server with SIGKILL `--faults` times at random
   moments and restarts it after 0.3-1.5 s;
4. every client records what was acknowledged: 201 = acknowledged; 503 or a dropped
   connection = unknown, retried with the same body (a 409 already-voted then proves the
   first attempt landed);
5. afterwards it checks (loadtest/lib/chaos_verify.py): every acknowledged vote stored
   exactly once, no stored vote unexplained, every tally equal to its recount (from the
   stored votes), every SSE reader's last state equal to the final results, no 500, no
   request slower than --hang seconds, every 503 with Retry-After and problem+json.

Reports (`--reports N`, loadtest/lib/chaos_reports.py): a server whose tallies crash points
fire at random (`python -m loadtest.lib.crashy_server`, `--crash-rate`) gets N election
reports, each sent `--sends` times concurrently, while NX-27017 is optionally killed
(`--report-faults`); afterwards every report is applied exactly once and the totals equal the
sum of the distinct reports.

The result is one JSON document on stdout (and in --out); the exit code is 0 only if every
check passed. tests/integration/test_chaos.py runs a short form of both modes.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file

import argparse
import asyncio
import json
import time

from loadtest.lib.chaos_reports import run_reports
from loadtest.lib.chaos_votes import run_votes


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--duration", type=float, default=120.0, help="seconds of load")
    p.add_argument("--clients", type=int, default=400, help="concurrent attendee clients")
    p.add_argument("--faults", type=int, default=30, help="kill -9 + restart count")
    p.add_argument("--events", type=int, default=10)
    p.add_argument("--teams", type=int, default=6)
    p.add_argument("--rotate", type=float, default=4.0, help="seconds between stage switches")
    p.add_argument("--polls", type=int, default=10)
    p.add_argument("--poll-users", type=int, default=50)
    p.add_argument("--sse", type=int, default=20, help="SSE readers")
    p.add_argument("--think", type=float, default=4.0, help="mean seconds between a client's votes")
    p.add_argument("--hang", type=float, default=10.0, help="a request slower than this hangs")
    p.add_argument("--seed", type=int, default=int(time.time()))
    p.add_argument("--data-dir", default="")
    p.add_argument("--reports", type=int, default=0, help="reports mode: number of reports")
    p.add_argument("--sends", type=int, default=3)
    p.add_argument("--crash-rate", type=float, default=0.2)
    p.add_argument("--report-faults", type=int, default=0, help="NX-27017 kills in reports mode")
    p.add_argument("--out", default="")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.reports:
        args.clients = min(args.clients, 200)
    result = asyncio.run(run_reports(args) if args.reports else run_votes(args))
    text = json.dumps(result, indent=2, default=str)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
