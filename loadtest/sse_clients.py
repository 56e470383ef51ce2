"""Hold N SSE streams to one live event and measure vote-to-screen latency.

    python loadtest/sse_clients.py --url http://127.0.0.1:8000 --streams 1000 [--server-pid PID]

What it does (loadtest/lib/sse.py):
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

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file

import argparse
import json
import os

import uvloop

from loadtest.lib.sse import StreamRun, measure_streams


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
    run = StreamRun(
        url=args.url,
        streams=args.streams,
        votes=args.votes,
        interval=args.interval,
        server_pid=args.server_pid,
        connect_concurrency=args.connect_concurrency,
        connect_timeout=args.connect_timeout,
        drain_timeout=args.drain_timeout,
    )
    result = uvloop.run(measure_streams(run))
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0 if result["connect_failures"] == 0 and result["missed_deliveries"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
