"""Faults from outside the app: NX-27017 or redis-server killed with SIGKILL at random moments
and restarted after a short outage."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from livevote.infra.embedded import EmbeddedStack


class ServerKiller:
    """Kills (SIGKILL) and restarts the embedded servers at random moments; `log` has one
    entry per fault."""

    def __init__(self, stack: EmbeddedStack, rng: random.Random) -> None:
        self.stack = stack
        self.rng = rng
        self.log: list[dict[str, Any]] = []
        self.lock = threading.Lock()  # restarts may come from two tasks

    async def one(self, target: str, down: float) -> None:
        t0 = time.monotonic()
        server = self.stack.mongo if target == "mongo" else self.stack.redis
        assert server is not None
        server.kill()
        await asyncio.sleep(down)
        restart = self.stack.restart_mongo if target == "mongo" else self.stack.restart_redis
        await asyncio.to_thread(self._locked, restart)
        self.log.append(
            {"target": target, "down_s": round(down, 2), "total_s": round(time.monotonic() - t0, 2)}
        )

    def _locked(self, fn: Callable[[], None]) -> None:
        with self.lock:
            fn()

    async def run(self, count: int, window: float) -> None:
        """`count` faults spread over `window` seconds, mongo and redis alternating in a
        shuffled order, each down 0.3-1.5 s."""
        targets = ["mongo", "redis"] * (count // 2) + (["mongo"] if count % 2 else [])
        self.rng.shuffle(targets)
        gap = window / max(1, count)
        for target in targets:
            await asyncio.sleep(gap * self.rng.uniform(0.3, 1.0))
            await self.one(target, self.rng.uniform(0.3, 1.5))
