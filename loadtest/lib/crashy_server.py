"""The app with random crashes in the report pipeline, for the chaos reports mode:

    CHAOS_CRASH_RATE=0.2 CHAOS_SEED=1 LIVEVOTE_PORT=8000 python -m loadtest.lib.crashy_server

`livevote serve` as one uvicorn process (uvloop, httptools), except that every crash point of
the tallies pipeline (livevote/tallies/faults.py) fires with probability CHAOS_CRASH_RATE on
each pass, in the request path and in the pending-report worker alike. The same object is
also the app's fault-injection hooks (infra/hooks.py), so crash points reached through
`hooks.reached` fire the same way.
"""

from __future__ import annotations

import os
import random

import uvicorn

from livevote.app import create_app
from livevote.tallies.faults import FaultInjector, SimulatedCrash


class RandomCrashes(FaultInjector):
    def __init__(self, rate: float, seed: int) -> None:
        super().__init__()
        self.rate = rate
        self.rng = random.Random(seed)

    def reached(self, point: str) -> None:
        with self._lock:
            fire = self.rng.random() < self.rate
        if fire:
            raise SimulatedCrash(f"simulated crash at {point}")


def main() -> None:
    crashes = RandomCrashes(float(os.environ["CHAOS_CRASH_RATE"]), int(os.environ["CHAOS_SEED"]))
    app = create_app(hooks=crashes)
    app.state.fault_injector = crashes
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
