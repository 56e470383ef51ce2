"""Crash injection for tests: a `Hooks` implementation (livevote.infra.hooks) that raises
`InjectedCrash` at armed points. Pass it to `create_app(settings, hooks=...)` (or
`make_server(hooks=...)`); the request path and the background workers of that app share it.

    faults = FaultInjector()
    server = make_server(hooks=faults)
    faults.arm("after_city_totals", times=10)   # the next 10 passes crash there
    faults.disarm()

The request that crashes answers 500 with the problem type `simulated-crash` (so a test or
a chaos run tells injected crashes from real ones); whatever the pipeline had written stays
as a dying process would leave it, for the worker to finish.
"""

from __future__ import annotations

import asyncio
import threading

from livevote.errors import AppError


class InjectedCrash(AppError):
    """Raised at an armed point: the process "dies" there. A test-only error: not part of
    the app's error tree (livevote/errors.py)."""

    status, type, title = 500, "simulated-crash", "Simulated crash (fault injection)"


class FaultInjector:
    """Thread-safe: tests arm it from their own thread while the server runs in another."""

    def __init__(self, points: tuple[str, ...] | None = None) -> None:
        self.points = points  # when given, arming an unknown point is a test bug
        self._armed: dict[str, int | None] = {}
        self._lock = threading.Lock()
        self.hits: dict[str, int] = {}

    def arm(self, point: str, *, times: int | None = None) -> None:
        """Crash at `point` the next `times` passes (None: until disarmed)."""
        if self.points is not None and point not in self.points:
            raise ValueError(f"unknown crash point {point!r}; known: {self.points}")
        with self._lock:
            self._armed[point] = times

    def disarm(self, point: str | None = None) -> None:
        with self._lock:
            if point is None:
                self._armed.clear()
            else:
                self._armed.pop(point, None)

    def reached(self, point: str) -> None:
        with self._lock:
            if point not in self._armed:
                return
            remaining = self._armed[point]
            if remaining is not None:
                if remaining <= 1:
                    del self._armed[point]
                else:
                    self._armed[point] = remaining - 1
            self.hits[point] = self.hits.get(point, 0) + 1
        raise InjectedCrash(f"injected crash at {point}")


class PauseAt:
    """Hooks that hold the server at one point (the whole server thread waits there) while
    the test does something else against the database, then let it go on: a deterministic
    interleaving of a request with, say, a recount.

        pause = PauseAt()
        server = make_server(hooks=pause)
        pause.arm("batch.after_seal")
        task = asyncio.create_task(client.post(...))
        await pause.held()           # the request is held at the point
        ...                          # the racing work, on the test's own client
        pause.release(); await task
    """

    def __init__(self, limit: float = 60.0) -> None:
        self.limit = limit
        self._point: str | None = None
        self._lock = threading.Lock()
        self._held = threading.Event()
        self._go = threading.Event()

    def arm(self, point: str) -> None:
        with self._lock:
            self._point = point
            self._held.clear()
            self._go.clear()

    def reached(self, point: str) -> None:
        with self._lock:
            if point != self._point:
                return
            self._point = None  # once
        self._held.set()
        if not self._go.wait(self.limit):
            raise InjectedCrash(f"paused at {point} and never released")

    async def held(self) -> None:
        """Wait (without blocking the test's loop) until a request is held at the point."""
        if not await asyncio.to_thread(self._held.wait, self.limit):
            raise TimeoutError("the armed point was never reached")

    def release(self) -> None:
        self._go.set()
