"""CPU per vote and per join, A/B between two source trees (issue 13's vote-path work).

    python -m loadtest.profile_votes --votes 3000                       # this tree
    python -m loadtest.profile_votes --votes 3000 --src /tmp/base/src   # an older tree
    python -m loadtest.profile_votes --votes 3000 --pyspy out/votes     # + py-spy raw profiles

One embedded stack and `livevote serve --workers 2` with every limit raised (lib/procs.serve);
`--votes` attendees join (aiohttp, 200 in flight: the join CPU is measured), then k6
event-votes.js MODE=max (200 voters, closed loop) casts one vote each. Printed per run: votes/s,
latency, psutil CPU seconds of the uvicorn workers and of NX-27017 + redis per vote, and the
group commit batches (so operations per vote = operations per batch / mean batch size).
On a shared box judge by the CPU per vote, not by the rates or latencies.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import tempfile
from pathlib import Path

import httpx
import psutil

from livevote.infra.embedded import EmbeddedStack
from loadtest.lib import LOADTEST, OUT, k6
from loadtest.lib.api import event_total_votes
from loadtest.lib.procs import Sampler, serve, stack_pids
from loadtest.lib.votes import prepare_voters


def _workers(pid: int) -> list[int]:
    kids = psutil.Process(pid).children(recursive=True)
    return [c.pid for c in kids if "spawn_main" in " ".join(c.cmdline())]


def _batches(url: str, kind: str) -> list[str]:
    text = httpx.get(url + "/metrics").text
    wanted = ("livevote_group_commit_batch_size_sum", "livevote_group_commit_batch_size_count")
    return [ln for ln in text.splitlines() if ln.startswith(wanted) and f'"{kind}"' in ln]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--votes", type=int, default=3000)
    p.add_argument("--src", type=Path, default=None, help="another tree's src/ (A/B)")
    p.add_argument("--pyspy", default="", help="py-spy raw output prefix, one file per worker")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="lv-profile-") as data:
        stack = EmbeddedStack(Path(data)).start()
        try:
            with serve(stack, 2, args.src) as server:
                with Sampler([server.pid]) as js, Sampler(stack_pids(stack), children=False) as jb:
                    voters = asyncio.run(prepare_voters(server.url, args.votes))
                n = max(len(voters.tokens), 1)
                print("joins", json.dumps(voters.joins), _batches(server.url, "event_joins"))
                print(f"join CPU ms: app {js.cpu_seconds / n * 1000:.3f}", end=" ")
                print(f"NX+redis {jb.cpu_seconds / n * 1000:.3f}")
                env = {"BASE_URL": server.url, "MODE": "max", "VUS": "200"}
                env["TOKENS_FILE"] = str(voters.write("profile"))
                spy = ["py-spy", "record", "--format", "raw", "--nonblocking", "--duration", "12"]
                spies = [
                    subprocess.Popen([*spy, "--pid", str(w), "-o", f"{args.pyspy}-{w}.txt"])
                    for w in (_workers(server.pid) if args.pyspy else [])
                ]
                with Sampler([server.pid]) as s, Sampler(stack_pids(stack), children=False) as b:
                    summary = k6.run(LOADTEST / "event-votes.js", "profile-votes", env)
                for proc in spies:
                    proc.wait()
                ok = max(k6.count(summary, "votes_ok"), 1)
                counted = asyncio.run(event_total_votes(server.url, voters.event.id))
                rate = float(k6.metric(summary, "votes_ok").get("rate", 0))
                print(f"votes ok {ok:.0f} counted {counted} at {rate:.1f}/s", end=" ")
                print(f"latency {k6.trend(summary, 'vote_ms')}")
                print(f"vote CPU ms: app {s.cpu_seconds / ok * 1000:.3f}", end=" ")
                print(
                    f"NX+redis {b.cpu_seconds / ok * 1000:.3f}", _batches(server.url, "event_votes")
                )
        finally:
            stack.stop()
    print(f"k6 output: {OUT}")


if __name__ == "__main__":
    main()
