"""Processes: `livevote serve` on an embedded stack, started and stopped; CPU and RSS sampled.

Two ways to launch the server, for two kinds of run:
- `serve(stack, workers)`: the load suite's context manager: a fresh database per scenario,
  `--workers N`, ready when /health/ready answers, the whole process tree stopped after;
- `server_env` + `start_server` + `wait_ready` + `stop_process`: chaos, fuzz and the
  reliability tests, which restart the backing servers under it and read its log.
Both raise every rate limit: one load generator on one address stands for thousands of
clients, and these runs measure the service, not the limiter.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from livevote.config import UNLIMITED_ENV
from livevote.infra.embedded import EmbeddedStack, free_port
from loadtest.lib import OUT


# -- sampling -----------------------------------------------------------------------------------
@dataclass
class Sample:
    cpu: float  # percent of one core, summed over the process tree
    rss: int


class Sampler:
    """Samples CPU and RSS of a set of processes every `interval` seconds in a thread, and
    the CPU time they consumed between enter and exit."""

    def __init__(self, roots: list[int], interval: float = 0.5, children: bool = True) -> None:
        self.roots = roots
        self.interval = interval
        self.children = children
        self.samples: list[Sample] = []
        self.cpu_seconds = 0.0
        self._cpu_start: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._procs: dict[int, psutil.Process] = {}

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
                        if "spawn_main" in " ".join(c.cmdline())  # uvicorn workers only
                    ]
        # Keep one Process object per pid: cpu_percent() measures since its previous call.
        for p in procs:
            self._procs.setdefault(p.pid, p)
        return [self._procs[p.pid] for p in procs]

    def _cpu_now(self) -> dict[int, float]:
        times: dict[int, float] = {}
        for p in self._tree():
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                times[p.pid] = t.user + t.system
        return times

    def _run(self) -> None:
        self._cpu_start = self._cpu_now()
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

    def cpu_seconds_now(self) -> float:
        """User + system CPU seconds the processes have consumed so far (a running total:
        the difference of two readings is the CPU spent in between)."""
        return sum(self._cpu_now().values())

    def __enter__(self) -> Sampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
        end = self._cpu_now()
        # CPU time consumed during the run: unlike % of wall time, hardly affected by
        # neighbours on a shared box (they slow us down but do not bill us their CPU).
        self.cpu_seconds = sum(t - self._cpu_start.get(pid, 0.0) for pid, t in end.items())

    def summary(self) -> dict[str, float]:
        if not self.samples:
            return {"cpu_avg": 0.0, "cpu_max": 0.0, "rss_max_mib": 0.0}
        busy = [s.cpu for s in self.samples]
        return {
            "cpu_seconds": round(self.cpu_seconds, 2),
            "cpu_avg": round(sum(busy) / len(busy), 1),
            "cpu_max": round(max(busy), 1),
            "rss_max_mib": round(max(s.rss for s in self.samples) / 2**20, 1),
        }


def stack_pids(stack: EmbeddedStack) -> list[int]:
    """NX-27017 and redis-server: their CPU is part of every scenario's cost."""
    return [srv.proc.pid for srv in (stack.mongo, stack.redis) if srv is not None]


def tree_rss(pid: int) -> int:
    """RSS in bytes of a process and its uvicorn workers (not the embedded servers)."""
    root = psutil.Process(pid)
    total = int(root.memory_info().rss)
    for child in root.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if "spawn_main" in " ".join(child.cmdline()):
                total += int(child.memory_info().rss)
    return total


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its uvicorn workers (as `tree_rss`)."""
    root = psutil.Process(pid)
    total = proc_cpu_seconds(pid)
    for child in root.children(recursive=True):
        with contextlib.suppress(psutil.Error, OSError):
            if "spawn_main" in " ".join(child.cmdline()):
                total += proc_cpu_seconds(child.pid)
    return total


def raise_fd_limit() -> int:
    """Soft open-file limit up to the hard one (children inherit it); returns the new soft."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# -- the suite's server: one per scenario -------------------------------------------------------
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
def serve(
    stack: EmbeddedStack, workers: int, src: Path | None = None, **env_extra: str
) -> Iterator[Server]:
    """`livevote serve --workers N` on `stack` with its own database; stopped (tree and all)
    on exit. `src`: run the `livevote` package found there (an older commit's source tree,
    first on PYTHONPATH) with this venv's dependencies."""
    port = free_port()
    database = f"load_{uuid.uuid4().hex[:8]}"
    OUT.mkdir(exist_ok=True)
    log = OUT / f"serve-{database}.log"
    env = os.environ | UNLIMITED_ENV
    env |= {
        "MONGODB_URI": stack.mongo_uri,
        "REDIS_URL": stack.redis_url,
        "LIVEVOTE_MONGO_DATABASE": database,
        "LIVEVOTE_REDIS_PREFIX": f"{database}:",
        "LIVEVOTE_DEMO": "false",
        "LIVEVOTE_LOG_LEVEL": "WARNING",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), env.get("PYTHONPATH")]))
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
        _wait_serving(server)
        time.sleep(0.5 if workers == 1 else 2.0)  # every worker up
        yield server
    finally:
        _stop_tree(proc)


def _wait_serving(server: Server, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while True:
        if server.proc.poll() is not None:
            raise RuntimeError(f"livevote serve exited: {server.log.read_text()[-2000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"livevote serve not ready: {server.log.read_text()[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.url}/health/ready", timeout=2).status_code == 200:
                return
        time.sleep(0.2)


def _stop_tree(proc: subprocess.Popen[bytes]) -> None:
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


# -- chaos, fuzz and the reliability tests: one long-lived server -------------------------------
def server_env(stack: EmbeddedStack, port: int, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a `livevote serve` on `stack`, database "chaos", short MongoDB
    timeouts (an outage answers 503 quickly) and no rate limits; `extra` overrides."""
    env = dict(os.environ)
    env.update(
        {
            "MONGODB_URI": stack.mongo_uri,
            "REDIS_URL": stack.redis_url,
            "LIVEVOTE_HOST": "127.0.0.1",
            "LIVEVOTE_PORT": str(port),
            "LIVEVOTE_DEMO": "false",
            "LIVEVOTE_DATA_DIR": str(data_dir),
            "LIVEVOTE_LOG_LEVEL": "WARNING",
            "LIVEVOTE_MONGO_DATABASE": "chaos",
            "LIVEVOTE_MONGO_TIMEOUT_MS": "1500",
            "LIVEVOTE_PENDING_REPORT_DELAY_SECONDS": "0.5",
            **UNLIMITED_ENV,
        }
    )
    env.update(extra)
    return env


def start_server(
    env: dict[str, str], log_path: Path, cmd: list[str] | None = None
) -> subprocess.Popen[bytes]:
    """`livevote serve` (or `cmd`) with `env`, output appended to `log_path`."""
    with open(log_path, "ab") as logf:
        return subprocess.Popen(
            cmd or [sys.executable, "-m", "livevote", "serve"],
            env=env,
            stdout=logf,
            stderr=logf,
            stdin=subprocess.DEVNULL,
        )


async def wait_ready(url: str, limit: float = 60.0, path: str = "/health/ready") -> None:
    deadline = time.monotonic() + limit
    async with httpx.AsyncClient(base_url=url, timeout=3) as c:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if (await c.get(path)).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url}{path} not ready after {limit}s")
            await asyncio.sleep(0.2)


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> int:
    """SIGTERM, then SIGKILL after `timeout`; returns the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode
