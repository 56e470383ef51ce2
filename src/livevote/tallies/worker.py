"""The pending-report worker: finishes reports that were stored but not marked applied.

A report stays "pending" if the process that stored it died, or crashed anywhere in the
apply step (a fault-injection hook raising at a crash point is one such crash, handled like
any other). Every process runs one worker (started by `tallies_lifespan`, registered in
app.py). Every `interval` seconds it leases pending reports whose lease ran out — the storing
request holds a report for `settings.pending_report_delay_seconds`, a worker for twice that —
and re-runs the whole apply step, which is harmless to repeat (see service.py). The lease is
a check-and-set (`findOneAndUpdate` on status and lease_until_ms), so two workers never run
the same report at once; if a worker dies holding a lease, the report is picked up when the
lease expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator

from litestar import Litestar
from pymongo.errors import PyMongoError

from livevote.config import Settings
from livevote.infra import metrics
from livevote.infra.hooks import Hooks, provide_hooks
from livevote.infra.resources import Clock
from livevote.tallies.cache import ReadCache
from livevote.tallies.repository import ElectionRepository
from livevote.tallies.service import ElectionService

log = logging.getLogger("livevote.tallies.worker")


class PendingReportWorker:
    def __init__(
        self,
        repo: ElectionRepository,
        settings: Settings,
        clock: Clock,
        hooks: Hooks,
        cache: ReadCache | None = None,
    ) -> None:
        delay = max(settings.pending_report_delay_seconds, 0.05)
        self.elections = ElectionService(repo, clock=clock, hooks=hooks, cache=cache)
        self.interval = min(max(delay / 2, 0.05), 5.0)
        self.lease_ms = int(max(2 * delay, 1.0) * 1000)
        self.owner = f"{os.getpid()}:{id(self):x}"

    async def run_once(self, max_reports: int = 1000) -> int:
        """Lease and finish pending reports until none is due; returns how many finished."""
        done = 0
        while done < max_reports:
            report = await self.elections.claim_due_report(self.lease_ms, self.owner)
            if report is None:
                break
            try:
                await self.elections.finish_report(report)
            except PyMongoError:
                raise  # the database is unwell: end this pass, retry after the interval
            except Exception:
                # A crash mid-apply (or one broken report) must not hold up the others: the
                # report stays pending, is retried when its lease runs out, and stays visible
                # in the pending gauge and the logs.
                metrics.TALLY_REPORTS_RESUMED.labels("failed").inc()
                log.exception("could not apply report", extra={"report_id": report["report_id"]})
                continue
            metrics.TALLY_REPORTS_RESUMED.labels("applied").inc()
            done += 1
        metrics.TALLY_PENDING_REPORTS.set(await self.elections.pending_reports())
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
    worker = PendingReportWorker(
        ElectionRepository(app.state.db),
        app.state.settings,
        app.state.clock,
        provide_hooks(app.state),
        ReadCache(getattr(app.state, "redis", None), app.state.settings.redis.prefix),
    )
    app.state.tallies_worker = worker
    task = asyncio.create_task(worker.run_forever(), name="tallies-pending-worker")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
