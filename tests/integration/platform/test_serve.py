"""`livevote serve` on the embedded stack: it answers, and no server survives it however it ends."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import httpx
import psutil
import pytest

from livevote.infra.embedded import free_port
from tests.support.servers import serve_env, start_serve, stop_process, wait_until_ready


def _start(tmp_path: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    tmp_path.mkdir(parents=True, exist_ok=True)
    log = tmp_path / "serve.log"
    proc = start_serve(serve_env(None, port, tmp_path / "data"), log)
    try:
        wait_until_ready(f"http://127.0.0.1:{port}", proc=proc, log=log)
    except RuntimeError:
        stop_process(proc)
        raise
    return proc, port


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
        stop_process(proc)


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
