"""The app with random crashes in the report pipeline, for the chaos reports mode:

    CHAOS_CRASH_RATE=0.2 CHAOS_SEED=1 LIVEVOTE_PORT=8000 python -m loadtest.lib.crashy_server

`livevote serve` as one uvicorn process (uvloop, httptools), except that every crash point of
the tallies pipeline (tallies/service.py CRASH_POINTS) fires with probability CHAOS_CRASH_RATE on
each pass, in the request path and in the pending-report worker alike, through the app's
fault-injection hooks (infra/hooks.py).
"""

from __future__ import annotations

import os
import random
import threading

import uvicorn

from livevote.app import create_app
from livevote.errors import AppError


class SimulatedCrash(AppError):
    """The process "dies" at a crash point (answers 500 simulated-crash, like the tests')."""

    status, type, title = 500, "simulated-crash", "Simulated crash (fault injection)"


class RandomCrashes:
    """`Hooks` that crash at every point with probability `rate` (thread-safe)."""

    def __init__(self, rate: float, seed: int) -> None:
        self.rate = rate
        self.rng = random.Random(seed)
        self._lock = threading.Lock()

    def reached(self, point: str) -> None:
        with self._lock:
            fire = self.rng.random() < self.rate
        if fire:
            raise SimulatedCrash(f"simulated crash at {point}")


def main() -> None:
    crashes = RandomCrashes(float(os.environ["CHAOS_CRASH_RATE"]), int(os.environ["CHAOS_SEED"]))
    app = create_app(hooks=crashes)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(os.environ["LIVEVOTE_PORT"]),
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
