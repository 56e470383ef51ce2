"""`livevote serve` on the embedded stack: it answers, and no server survives it however it ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from livevote.infra.embedded import free_port


def _start(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("MONGODB_URI", "REDIS_URL")} | {
        "LIVEVOTE_DATA_DIR": str(tmp_path / "data"),
        "LIVEVOTE_LOG_LEVEL": "WARNING",
    }
    tmp_path.mkdir(parents=True, exist_ok=True)
    with open(tmp_path / "serve.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "livevote", "serve", "--port", str(port), *extra],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, (tmp_path / "serve.log").read_text()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=1).status_code == 200:
                return proc, port
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("serve did not become ready: " + (tmp_path / "serve.log").read_text())


def _servers_of(proc: subprocess.Popen[bytes]) -> list[psutil.Process]:
    children: list[psutil.Process] = psutil.Process(proc.pid).children(recursive=True)
    return children


def _wait_gone(servers: list[psutil.Process], timeout: float = 15) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    left = servers
    while time.monotonic() < deadline:
        left = [p for p in servers if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        if not left:
            return []
        time.sleep(0.1)
    return left


@pytest.mark.parametrize(
    "how", ["SIGINT", "SIGTERM", pytest.param("SIGKILL", marks=pytest.mark.slow)]
)
def test_no_orphans_after_serve_ends(tmp_path: Path, how: str) -> None:
    proc, port = _start(tmp_path)
    children = _servers_of(proc)
    try:
        names = sorted(" ".join(c.cmdline()) for c in children)
        assert len(children) == 2, names
        assert "nx_27017" in names[0] and "redis-server" in names[1], names
        r = httpx.get(f"http://127.0.0.1:{port}/schema/openapi.json", timeout=5)
        assert r.status_code == 200
        proc.send_signal(getattr(signal, how))
        proc.wait(timeout=30)
        assert _wait_gone(children) == []
    finally:  # a failed assertion must not leave the service (and its servers) running
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


@pytest.mark.slow
def test_two_instances_side_by_side(tmp_path: Path) -> None:
    """Two services side by side, each with its own embedded servers (own pid and log files)."""
    a, port_a = _start(tmp_path / "a")
    b, port_b = _start(tmp_path / "b")
    servers = _servers_of(a) + _servers_of(b)
    assert len(servers) == 4
    try:
        for port in (port_a, port_b):
            assert httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=5).status_code == 200
    finally:
        for p in (a, b):
            p.send_signal(signal.SIGINT)
            p.wait(timeout=30)
    assert _wait_gone(servers) == []
