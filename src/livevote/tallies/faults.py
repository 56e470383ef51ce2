"""Named crash points in the report pipeline, for proving exactly-once under failure.

The service calls `faults.reached(point)` at each point below. By default nothing is armed
and the call is a no-op. Arming a point makes the call raise `SimulatedCrash`, which leaves
the report exactly where a process dying at that instant would leave it (stored, partially
applied, not marked applied): the request answers 500 and the pending-report worker finishes
the job later. The object lives on `app.state.fault_injector` (created by the tallies
lifespan when absent) and is shared by the request path and the worker:

    app.state.fault_injector.arm("after_city_totals", times=10)   # next 10 passes crash
    app.state.fault_injector.disarm()

Points, in pipeline order:
    after_store          the raw report is stored (status "pending"), nothing applied
    after_city_totals    the city shard counters moved ($inc) and carry the report marker
    after_audit          the per-party audit entries are written
    before_mark_applied  (corrections) the superseded report is linked; status still pending
There is no separate "national" step: national totals are the sum of the city shards (see
service.py), so they can never disagree with the cities.
"""

from __future__ import annotations

import threading

from livevote.errors import AppError

POINTS = ("after_store", "after_city_totals", "after_audit", "before_mark_applied")


class SimulatedCrash(AppError):
    status, type, title = 500, "simulated-crash", "Simulated crash (fault injection)"


class FaultInjector:
    """Thread-safe: tests arm it from their own thread while the server runs in another."""

    def __init__(self) -> None:
        self._armed: dict[str, int | None] = {}
        self._lock = threading.Lock()
        self.hits: dict[str, int] = {}

    def arm(self, point: str, *, times: int | None = None) -> None:
        """Crash at `point` the next `times` passes (None: until disarmed)."""
        if point not in POINTS:
            raise ValueError(f"unknown crash point {point!r}; known: {POINTS}")
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
        raise SimulatedCrash(f"simulated crash at {point}")
