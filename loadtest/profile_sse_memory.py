"""Where does the memory of one SSE subscriber go? (tracemalloc, one server process)

    python loadtest/profile_sse_memory.py --streams 2000

Runs the app in THIS process (uvicorn, uvloop + httptools as `livevote serve` does) on the
embedded stack, with tracemalloc on; loadtest/sse_clients.py (a subprocess) opens the
streams. Python-level allocations are compared between "no stream" and "N streams open",
grouped by source line; RSS is reported alongside (the difference between the two is memory
allocated outside the Python allocator: uvloop transports, kernel socket buffers are not in
RSS at all). The profile itself is loadtest/lib/sse_memory.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file

import argparse
import tracemalloc

import uvloop

from loadtest.lib.sse_memory import profile


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--streams", type=int, default=2000)
    p.add_argument("--top", type=int, default=25)
    args = p.parse_args(argv)
    tracemalloc.start(1)
    uvloop.run(profile(args.streams, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
