"""HTTP layer of the public election reads: totals (now or `at` a time), top cities,
timeline, reporting order, the SSE stream (report pages sit with the report POST in
controllers.py: Litestar wants one controller per path). Through ElectionReads
(reads.py), which caches each answer under the election's change counter."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from litestar import Controller, get
from litestar.di import Provide
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import ServerSentEvent

from livevote.config import Settings
from livevote.errors import BadRequest
from livevote.infra.broadcaster import Broadcaster, provide_broadcaster
from livevote.infra.sse import sse_stream
from livevote.tallies.deps import election_oid, provide_elections, provide_reads
from livevote.tallies.reads import ElectionReads
from livevote.tallies.schemas import (
    ReportingOrderOut,
    TimelineOut,
    TopCitiesOut,
    TotalsOut,
)
from livevote.tallies.service import ElectionService
from livevote.tallies.stream import channel_key


def parse_time(value: str | None, name: str) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise BadRequest(f"{name}: not an ISO 8601 time: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


Page = Annotated[int, QueryParameter(ge=1, le=1000, description="shallow pages; then `after`")]
Limit = Annotated[int, QueryParameter(ge=1, le=500)]
After = Annotated[str | None, QueryParameter(description="the `next` cursor of the last page")]
Since = Annotated[str | None, QueryParameter(name="from", description="ISO 8601, inclusive")]
Until = Annotated[str | None, QueryParameter(name="to", description="ISO 8601, exclusive")]
At = Annotated[str | None, QueryParameter(description="ISO 8601: totals as they stood then")]
Step = Annotated[int | None, QueryParameter(ge=1, le=86_400, description="seconds per point")]


class ElectionResults(Controller):
    path = "/api/elections"
    tags = ["elections"]
    dependencies = {
        "elections": Provide(provide_elections, sync_to_thread=False),
        "reads": Provide(provide_reads, sync_to_thread=False),
    }

    @get("/{election_id:str}/totals")
    async def totals(
        self,
        election_id: FromPath[str],
        elections: ElectionService,
        reads: ElectionReads,
        city: FromQuery[str | None] = None,
        at: At = None,
    ) -> TotalsOut:
        election = await elections.election(election_oid(election_id))
        return await reads.totals(election, city, parse_time(at, "at"))

    @get("/{election_id:str}/cities/top")
    async def top_cities(
        self,
        election_id: FromPath[str],
        elections: ElectionService,
        reads: ElectionReads,
        since: Since = None,
        until: Until = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 10,
    ) -> TopCitiesOut:
        """Cities by votes reported in [from, to) (the audit log's time of receipt)."""
        election = await elections.election(election_oid(election_id))
        rows = await reads.top_cities(
            election, since=parse_time(since, "from"), until=parse_time(until, "to"), limit=limit
        )
        return TopCitiesOut(rows, since, until)

    @get("/{election_id:str}/timeline")
    async def timeline(
        self,
        election_id: FromPath[str],
        elections: ElectionService,
        reads: ElectionReads,
        city: FromQuery[str | None] = None,
        step: Step = None,
    ) -> TimelineOut:
        """Totals and boxes reported over time (cumulative, one point per `step`)."""
        election = await elections.election(election_oid(election_id))
        return await reads.timeline(election, city=city, step=step)

    @get("/{election_id:str}/reporting-order")
    async def reporting_order(
        self,
        election_id: FromPath[str],
        elections: ElectionService,
        reads: ElectionReads,
        city: FromQuery[str | None] = None,
        after: After = None,
        limit: Limit = 50,
    ) -> ReportingOrderOut:
        """Which boxes reported first: each box's report in order of receipt."""
        election = await elections.election(election_oid(election_id))
        return await reads.reporting_order(election, city=city, after=after, limit=limit)

    @get(
        "/{election_id:str}/stream",
        dependencies={"broadcaster": Provide(provide_broadcaster, sync_to_thread=False)},
    )
    async def stream(
        self,
        election_id: FromPath[str],
        elections: ElectionService,
        broadcaster: Broadcaster,
        settings: Settings,
    ) -> ServerSentEvent:
        """SSE: a full `state` snapshot (national and per-city totals, boxes reported,
        colours, the latest reports), then every newer one."""
        election = await elections.election(election_oid(election_id))
        key = channel_key(str(election["_id"]))
        return sse_stream(broadcaster, key, settings.sse, stream="elections")


route_handlers = [ElectionResults]
