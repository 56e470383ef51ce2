"""Feed at scale: 100,000 polls, users who answered 10,000 of them; server time of a feed page.

    python loadtest/feed_scale.py                   # embedded NX-27017 + redis-server
    MONGODB_URI=... REDIS_URL=... python loadtest/feed_scale.py --polls 100000 --answered 10000

Not part of the test suite. Builds the catalogue with insert_many in big batches straight into
a fresh database (keys from the last days, so the catalogue is "settled"), then times
`feed.feed_page` in-process — the server time of GET /api/polls without HTTP — for:
  spread  a user whose 10,000 answers are spread over the catalogue (every 10th poll)
  dense   a user who answered the newest 10,000 polls (the worst case for a newest-first walk)
Page cache is bypassed (a fresh cache key each call) unless the row says "page cache hit".
The measurement is loadtest/lib/feed_scale.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file

import argparse
import asyncio
import os
import tempfile

from livevote.infra.embedded import EmbeddedStack
from loadtest.lib.feed_scale import Meter, measure


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--polls", type=int, default=100_000)
    parser.add_argument("--answered", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("-n", type=int, default=50, help="timed calls per row")
    args = parser.parse_args(argv)
    mongo_uri, redis_url = os.environ.get("MONGODB_URI", ""), os.environ.get("REDIS_URL", "")
    meter = Meter()
    stack = None
    if not (mongo_uri and redis_url):
        stack = EmbeddedStack(Path(tempfile.mkdtemp(prefix="feed-scale-"))).start(
            mongo=not mongo_uri, redis=not redis_url
        )
        mongo_uri, redis_url = mongo_uri or stack.mongo_uri, redis_url or stack.redis_url
        meter.pids = {s.name: s.proc.pid for s in (stack.mongo, stack.redis) if s is not None}
    try:
        asyncio.run(
            measure(
                polls=args.polls,
                answered=args.answered,
                batch=args.batch,
                n=args.n,
                mongo_uri=mongo_uri,
                redis_url=redis_url,
                meter=meter,
            )
        )
    finally:
        if stack:
            stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
