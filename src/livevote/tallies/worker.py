"""The pending-report worker: finishes reports that were stored but not marked applied.

A report stays "pending" if the process that stored it died (or crashed at a fault point)
before the end of the apply step. Every process runs one worker (started by
`tallies_lifespan`, registered in app.py). Every `interval` seconds it leases pending reports
whose lease ran out — the storing request holds a report for
`settings.pending_report_delay_seconds`, a worker for twice that — and re-runs the whole
apply step, which is harmless to repeat (see service.py). The lease is a check-and-set
(`findOneAndUpdate` on status and lease_until_ms), so two workers never run the same report
at once; if a worker dies holding a lease, the report is picked up when the lease expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

from bson import ObjectId
from litestar import Litestar
from pymongo.errors import PyMongoError

from livevote.config import Settings
from livevote.infra import metrics
from livevote.infra.resources import Clock
from livevote.tallies import service
from livevote.tallies.faults import FaultInjector, SimulatedCrash
from livevote.tallies.repository import ElectionRepository

log = logging.getLogger("livevote.tallies.worker")


class PendingReportWorker:
    def __init__(
        self, repo: ElectionRepository, settings: Settings, clock: Clock, faults: FaultInjector
    ) -> None:
        delay = max(settings.pending_report_delay_seconds, 0.05)
        self.repo = repo
        self.clock = clock
        self.faults = faults
        self.interval = min(max(delay / 2, 0.05), 5.0)
        self.lease_ms = int(max(2 * delay, 1.0) * 1000)
        self.owner = f"{os.getpid()}:{id(self):x}"

    async def run_once(self, max_reports: int = 1000) -> int:
        """Lease and finish pending reports until none is due; returns how many finished."""
        elections: dict[str, Any] = {}
        done = 0
        while done < max_reports:
            now_ms = service.epoch_ms(self.clock())
            report = await self.repo.claim_pending(now_ms, self.lease_ms, self.owner)
            if report is None:
                break
            eid = report["election_id"]
            try:
                if eid not in elections:
                    valid = ObjectId.is_valid(eid)
                    elections[eid] = await self.repo.election(ObjectId(eid)) if valid else None
                if elections[eid] is None:
                    raise RuntimeError(f"election {eid} of report {report['report_id']} is gone")
                await service.apply_report(
                    self.repo,
                    self.faults,
                    election=elections[eid],
                    report=report,
                    clock=self.clock,
                )
            except SimulatedCrash:
                metrics.TALLY_REPORTS_RESUMED.labels("crashed").inc()
                continue  # the lease runs out and a later pass retries it
            except PyMongoError:
                raise  # the database is unwell: end this pass, retry after the interval
            except Exception:
                # One broken report must not hold up the others: it is retried when its
                # lease runs out, and stays visible in the pending gauge and the logs.
                metrics.TALLY_REPORTS_RESUMED.labels("failed").inc()
                log.exception("could not apply report", extra={"report_id": report["report_id"]})
                continue
            metrics.TALLY_REPORTS_RESUMED.labels("applied").inc()
            done += 1
        metrics.TALLY_PENDING_REPORTS.set(await self.repo.count_pending())
        return done

    async def run_forever(self) -> None:
        while True:
            try:
                finished = await self.run_once()
                if finished:
                    log.info("finished pending reports", extra={"count": finished})
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("pending-report worker pass failed")
            await asyncio.sleep(self.interval)


@contextlib.asynccontextmanager
async def tallies_lifespan(app: Litestar) -> AsyncIterator[None]:
    """Start this process's pending-report worker (after the MongoDB lifespan)."""
    if getattr(app.state, "fault_injector", None) is None:
        app.state.fault_injector = FaultInjector()
    worker = PendingReportWorker(
        ElectionRepository(app.state.db),
        app.state.settings,
        app.state.clock,
        app.state.fault_injector,
    )
    app.state.tallies_worker = worker
    task = asyncio.create_task(worker.run_forever(), name="tallies-pending-worker")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
