"""Servers for tests: the backing MongoDB and Redis, the app in-process under uvicorn, and
`livevote serve` as a subprocess. One copy of each launcher; the conftest fixtures and the
tests that need their own servers (outages, restarts, workers) build on these.

- `open_backing(dir)`: the servers named by MONGODB_URI / REDIS_URL, unchanged, or NX-27017 and
  redis-server started on ephemeral ports (whichever is not named).
- `settings_for(backing, **groups)`: settings with a database and Redis key prefix of their own
  and limits high enough not to get in a test's way; `groups` override whole setting groups.
- `start_server(settings, clock, hooks=..., port=...)`: `create_app` under a real uvicorn
  server in a background thread; `ServerFactory` starts several and stops them all.
- `run_livevote(settings, *args)`: another `livevote` command (recount, indexes) on the
  same database.
- `serve_env` / `start_serve` / `wait_ready` (`wait_until_ready` where no event loop runs) /
  `stop_process`: `livevote serve` as a subprocess.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from litestar import Litestar

from livevote.app import create_app
from livevote.config import UNLIMITED_ENV, Settings, replace
from livevote.infra.embedded import EmbeddedStack, free_port
from livevote.infra.hooks import Hooks
from livevote.infra.resources import Clock, utc_now

_counter = itertools.count()

# Limits no functional test should reach; the rate-limit tests set their own.
GENEROUS_LIMITS = {
    "user_per_minute": 100_000,
    "address_per_second": 100_000,
    "attendee_per_minute": 100_000,
    "joins_per_address_per_minute": 100_000,
    "login_failures_per_account": 1000,
    "login_failures_per_address": 1000,
    "register_per_address_per_minute": 100_000,
    "login_per_address_per_minute": 100_000,
    "pages_per_address_per_minute": 100_000,
    "code_misses_per_address_per_minute": 100_000,
    "hashing_wait_ms": 60_000,  # a loaded test box queues, never sheds, password hashes
}


@dataclass
class Backing:
    """Where the tests' MongoDB and Redis are; `stack` is set when this process started them."""

    mongo_uri: str
    redis_url: str
    stack: EmbeddedStack | None


@contextlib.contextmanager
def open_backing(data_dir: Path) -> Iterator[Backing]:
    """MONGODB_URI / REDIS_URL when set, otherwise embedded servers, stopped on exit."""
    mongo_uri = os.environ.get("MONGODB_URI", "")
    redis_url = os.environ.get("REDIS_URL", "")
    embedded = None
    if not (mongo_uri and redis_url):
        embedded = EmbeddedStack(data_dir).start(mongo=not mongo_uri, redis=not redis_url)
        mongo_uri = mongo_uri or embedded.mongo_uri
        redis_url = redis_url or embedded.redis_url
    try:
        yield Backing(mongo_uri, redis_url, embedded)
    finally:
        if embedded:
            embedded.stop()


def backing_of(stack: EmbeddedStack) -> Backing:
    """A private embedded stack (one a test may kill) as a Backing for `settings_for`."""
    return Backing(stack.mongo_uri, stack.redis_url, stack)


class FakeClock:
    """An injectable clock for day-boundary and expiry tests: set `now` to move time."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or utc_now()

    def __call__(self) -> datetime:
        return self.now


def settings_for(backing: Backing, **groups: Any) -> Settings:
    """Settings on `backing` with their own database and key prefix; `groups` override."""
    n = next(_counter)
    base = Settings(
        demo=False,
        log_level=os.environ.get("LIVEVOTE_TEST_LOG_LEVEL", "WARNING"),
        pending_report_delay_seconds=0.5,
    )
    base = replace(
        base,
        mongo={"uri": backing.mongo_uri, "database": f"t{n}_{uuid.uuid4().hex[:8]}"},
        redis={"url": backing.redis_url, "prefix": f"t{n}_{uuid.uuid4().hex[:6]}:"},
        limits=GENEROUS_LIMITS,
    )
    return replace(base, **groups)


@dataclass
class RunningServer:
    """The app under uvicorn in a background thread of the test process."""

    url: str
    settings: Settings
    app: Litestar
    server: uvicorn.Server
    thread: threading.Thread
    clock: Any = None
    extra: dict[str, Any] = field(default_factory=dict)
    hooks: Hooks | None = None

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def start_server(
    settings: Settings,
    clock: Clock | None = None,
    *,
    hooks: Hooks | None = None,
    port: int | None = None,
) -> RunningServer:
    """`create_app(settings, clock=..., hooks=...)` on 127.0.0.1:`port` (a free one by default),
    returned once uvicorn has started."""
    app = create_app(settings, clock=clock or utc_now, hooks=hooks)
    port = port or free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        loop="asyncio",
        timeout_graceful_shutdown=2,
        proxy_headers=False,
        # The server keeps idle connections longer than clients do (keepalive_expiry in
        # http_client), so a busy machine never writes into a connection being closed.
        timeout_keep_alive=30,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    return RunningServer(
        f"http://127.0.0.1:{port}", settings, app, server, thread, clock, hooks=hooks
    )


class ServerFactory:
    """`make(clock=None, hooks=None, **groups)` starts a server with settings overrides, e.g.
    `make(limits={"user_per_minute": 5})`; `stop_all()` stops every one it started."""

    def __init__(self, backing: Backing) -> None:
        self.backing = backing
        self.started: list[RunningServer] = []

    def __call__(
        self, clock: Clock | None = None, hooks: Hooks | None = None, **groups: Any
    ) -> RunningServer:
        running = start_server(settings_for(self.backing, **groups), clock, hooks=hooks)
        self.started.append(running)
        return running

    def stop_all(self) -> None:
        """Stop every server and drop its database: the session's one embedded server would
        otherwise keep hundreds of SQLite databases open by the end of the suite."""
        for running in self.started:
            running.stop()
        if self.started:
            from pymongo import MongoClient

            client: MongoClient[dict[str, Any]] = MongoClient(
                self.backing.mongo_uri, serverSelectionTimeoutMS=5000
            )
            try:
                for running in self.started:
                    client.drop_database(running.settings.mongo.database)
            except Exception as exc:
                print(f"could not drop test databases: {exc!r}")
            finally:
                client.close()
        self.started.clear()


def run_livevote(
    settings: Settings, *args: str, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """`python -m livevote *args` (e.g. "recount", "polls", "--fix") on `settings`' MongoDB
    database and Redis; its exit code and output (text) are returned, never raised."""
    env = os.environ | {
        "MONGODB_URI": settings.mongo.uri,
        "REDIS_URL": settings.redis.url,
        "LIVEVOTE_MONGO_DATABASE": settings.mongo.database,
        "LIVEVOTE_LOG_LEVEL": "WARNING",
    }
    return subprocess.run(
        [sys.executable, "-m", "livevote", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def serve_env(
    backing: Backing | EmbeddedStack | None, port: int, data_dir: Path, **extra: str
) -> dict[str, str]:
    """Environment for `livevote serve` on 127.0.0.1:`port`: on `backing`'s servers, or with
    its own embedded servers under `data_dir` when `backing` is None. `extra` adds variables."""
    env = {k: v for k, v in os.environ.items() if k not in ("MONGODB_URI", "REDIS_URL")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if backing is not None:
        env |= {"MONGODB_URI": backing.mongo_uri, "REDIS_URL": backing.redis_url}
    env |= {
        "LIVEVOTE_HOST": "127.0.0.1",
        "LIVEVOTE_PORT": str(port),
        "LIVEVOTE_DEMO": "false",
        "LIVEVOTE_DATA_DIR": str(data_dir),
        "LIVEVOTE_LOG_LEVEL": "WARNING",
        "LIVEVOTE_MONGO_DATABASE": f"serve_{uuid.uuid4().hex[:8]}",
        "LIVEVOTE_MONGO_TIMEOUT_MS": "1500",
        "LIVEVOTE_PENDING_REPORT_DELAY_SECONDS": "0.5",
        **UNLIMITED_ENV,
    }
    env |= extra
    return env


def start_serve(env: dict[str, str], log_path: Path, *args: str) -> subprocess.Popen[bytes]:
    """`python -m livevote serve *args` with `env`, output appended to `log_path`, in a process
    group of its own (so `stop_process` can end whatever it spawned as a last resort)."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "livevote", "serve", *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def wait_until_ready(
    url: str,
    limit: float = 60.0,
    path: str = "/health/ready",
    *,
    proc: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
) -> None:
    """Poll `url + path` until it answers 200; RuntimeError after `limit` seconds, or at once
    (with the tail of `log`) when `proc`, the server's process, has exited."""
    deadline = time.monotonic() + limit
    with httpx.Client(base_url=url, timeout=3) as c:
        while True:
            exited = proc is not None and proc.poll() is not None
            if not exited:
                with contextlib.suppress(httpx.HTTPError):
                    if c.get(path).status_code == 200:
                        return
            if exited or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-3000:] if log else ""
                raise RuntimeError(f"{url}{path} not ready (serve exited: {exited}): {tail}")
            time.sleep(0.1)


async def wait_ready(url: str, limit: float = 60.0, path: str = "/health/ready", **kw: Any) -> None:
    """`wait_until_ready` from a coroutine (the event loop keeps running); `kw`: proc, log."""
    await asyncio.to_thread(wait_until_ready, url, limit, path, **kw)


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> int:
    """SIGTERM and wait; SIGKILL its process group if it does not exit in `timeout` s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode
