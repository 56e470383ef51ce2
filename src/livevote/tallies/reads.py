"""Public reads of an election: totals (now or at a time), the screen's snapshot, report
pages, top cities, the timeline and the reporting order. Each answer is cached per process
under the election's change counter (cache.py); the SSE builder asks for a fresh snapshot
(it runs right after a change, before the counter may have moved).

Bounds: report pages walk a keyset cursor (`after`), `page` only goes as deep as
MAX_SKIP rows; top cities without a time window come from the counter shards (one row per
city), with one from the audit log's time index; a timeline has at most MAX_POINTS points.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from pymongo.asynchronous.database import AsyncDatabase

from livevote.errors import BadRequest, NotFound
from livevote.infra.mongo import Doc
from livevote.tallies import views
from livevote.tallies.cache import ReadCache
from livevote.tallies.keys import decode_cursor, epoch_ms
from livevote.tallies.queries import ElectionQueries
from livevote.tallies.repository import ElectionRepository
from livevote.tallies.schemas import (
    CityVotes,
    ReportingOrderOut,
    ReportPage,
    TimelineOut,
    TotalsAtOut,
    TotalsOut,
)

MAX_SKIP = 10_000
MAX_POINTS = 500
AUTO_POINTS = 60
LATEST = 12


def _ms(at: datetime | None) -> int | None:
    return None if at is None else epoch_ms(at)


def _city(election: Doc, city: str | None) -> int | None:
    if city is None:
        return None
    for i, c in enumerate(election["cities"]):
        if c["name"] == city:
            return i
    raise NotFound(f"city {city!r} not found in this election")


def _cursor(after: str | None) -> tuple[int, str] | None:
    if not after:
        return None
    decoded = decode_cursor(after)
    if decoded is None:
        raise BadRequest(f"after: not a cursor from this API: {after!r}")
    return decoded


class ElectionReads:
    def __init__(
        self, db: AsyncDatabase[Doc], repo: ElectionRepository, cache: ReadCache | None = None
    ) -> None:
        self.repo = repo
        self.queries = ElectionQueries(db)
        self.cache = cache or ReadCache(None, "")

    async def totals(self, election: Doc, city: str | None, at: datetime | None) -> TotalsOut:
        ci = _city(election, city)
        eid = str(election["_id"])
        if at is not None:
            return await self.cache.read(
                eid, ("totals-at", ci, epoch_ms(at)), lambda: self._totals_at(election, ci, at)
            )

        async def compute() -> TotalsOut:
            return views.totals_out(election, await self.repo.shard_totals(eid, ci), ci)

        return await self.cache.read(eid, ("totals", ci), compute)

    async def _totals_at(self, election: Doc, ci: int | None, at: datetime) -> TotalsAtOut:
        eid, at_ms = str(election["_id"]), epoch_ms(at)
        city = None if ci is None else election["cities"][ci]["name"]
        votes = dict.fromkeys(election["parties"], 0)
        async for e in self.queries.audit_stream(eid, city, at_ms):
            votes[e["party"]] = votes.get(e["party"], 0) + int(e["delta"])
        reported = await self.queries.count_reported_before(eid, city, at_ms)
        expected = (
            election["expected_boxes"] if ci is None else election["cities"][ci]["ballot_boxes"]
        )
        stamp = at.astimezone(UTC).isoformat()
        return TotalsAtOut(votes, reported, expected, city, stamp)

    async def snapshot(self, election: Doc, *, fresh: bool = False) -> Doc:
        """National and per-city totals, progress and the latest reports (screen, SSE)."""
        eid = str(election["_id"])

        async def compute() -> Doc:
            shards = await self.repo.shard_totals(eid)
            latest = await self.queries.latest_reports(eid, LATEST)
            return views.snapshot(election, shards, latest)

        return await compute() if fresh else await self.cache.read(eid, "snapshot", compute)

    async def reports(
        self,
        election: Doc,
        *,
        city: str | None,
        since: datetime | None,
        until: datetime | None,
        page: int,
        limit: int,
        after: str | None,
    ) -> ReportPage:
        cursor = _cursor(after)
        skip = 0 if cursor else (page - 1) * limit
        if skip > MAX_SKIP:
            raise BadRequest(
                f"page goes at most {MAX_SKIP} reports deep: follow `next` (the `after` cursor)"
            )
        eid = str(election["_id"])

        async def compute() -> ReportPage:
            docs = await self.queries.list_reports(
                eid,
                city=city,
                since_ms=_ms(since),
                until_ms=_ms(until),
                after=cursor,
                skip=skip,
                limit=limit + 1,
            )
            return views.report_page(docs, page, limit)

        what = ("reports", city, _ms(since), _ms(until), page, limit, after)
        return await self.cache.read(eid, what, compute)

    async def top_cities(
        self, election: Doc, *, since: datetime | None, until: datetime | None, limit: int
    ) -> list[CityVotes]:
        """Cities by votes reported in [since, until) (the audit log's time of receipt)."""
        eid = str(election["_id"])

        async def compute() -> list[CityVotes]:
            if since is None and until is None:
                snap = await self.snapshot(election)
                return views.top_cities_of_snapshot(snap, limit)
            rows = await self.queries.top_cities(eid, _ms(since), _ms(until), limit)
            return views.top_cities(rows)

        return await self.cache.read(eid, ("top", _ms(since), _ms(until), limit), compute)

    async def timeline(self, election: Doc, *, city: str | None, step: int | None) -> TimelineOut:
        _city(election, city)
        eid = str(election["_id"])
        return await self.cache.read(
            eid, ("timeline", city, step), lambda: self._timeline(election, city, step)
        )

    async def _timeline(self, election: Doc, city: str | None, step: int | None) -> TimelineOut:
        """Cumulative votes and boxes at the end of each `step` seconds, from the first
        report to the last (one pass over the audit log, oldest first)."""
        eid = str(election["_id"])
        times = await self.queries.first_report_times(eid, city)
        entries = [e async for e in self.queries.audit_stream(eid, city, None)]
        if not entries and not times:
            return TimelineOut(city, step or 60, [])
        first = min([*times, *(int(e["at_ms"]) for e in entries)])
        last = max([*times, *(int(e["at_ms"]) for e in entries)])
        span = max(1, math.ceil((last - first + 1) / 1000))
        step = max(step or math.ceil(span / AUTO_POINTS), math.ceil(span / MAX_POINTS), 1)
        step_ms = step * 1000
        start = first - first % step_ms
        n = (last - start) // step_ms + 1
        deltas: list[dict[str, int]] = [{} for _ in range(n)]
        boxes = [0] * n
        for e in entries:
            i = (int(e["at_ms"]) - start) // step_ms
            deltas[i][e["party"]] = deltas[i].get(e["party"], 0) + int(e["delta"])
        for t in times:
            boxes[(t - start) // step_ms] += 1
        return views.timeline(election, city, step, start, deltas, boxes)

    async def reporting_order(
        self, election: Doc, *, city: str | None, after: str | None, limit: int
    ) -> ReportingOrderOut:
        """Which boxes reported first: plain reports by time of receipt."""
        _city(election, city)
        cursor = _cursor(after)
        eid = str(election["_id"])

        async def compute() -> ReportingOrderOut:
            docs = await self.queries.reporting_order(eid, city, cursor, limit + 1)
            return views.reporting_order(docs, limit)

        return await self.cache.read(eid, ("order", city, after, limit), compute)
