"""Helpers for the abuse tests: count named points the server reaches (infra/hooks.py)."""

from __future__ import annotations

import collections
import threading

from tests.support.servers import RunningServer


class CountingHooks:
    """Counts every `hooks.reached(point)` of a running server (thread-safe)."""

    def __init__(self) -> None:
        self.points: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    def reached(self, point: str) -> None:
        with self._lock:
            self.points[point] += 1


def count_points(server: RunningServer) -> CountingHooks:
    """Install counting hooks on a running test server (read per request from app.state)."""
    hooks = CountingHooks()
    server.app.state.hooks = hooks
    return hooks


def forwarded(address: str) -> dict[str, str]:
    """Headers of a client at `address` behind the trusted proxy 127.0.0.1."""
    return {"X-Forwarded-For": address}
