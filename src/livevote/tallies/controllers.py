"""HTTP layer of election tallies: parse, call the service, answer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from bson import ObjectId
from litestar import Controller, get, post
from litestar.di import Provide
from litestar.params import FromPath, FromQuery, HeaderParameter, QueryParameter
from litestar.response import ServerSentEvent

from livevote.config import Settings
from livevote.errors import BadRequest
from livevote.infra.auth import Principal, current_user
from livevote.infra.broadcaster import Broadcaster, provide_broadcaster
from livevote.infra.sse import sse_stream
from livevote.infra.validation import object_id
from livevote.tallies import views
from livevote.tallies.deps import provide_elections
from livevote.tallies.schemas import (
    ElectionIn,
    ElectionOut,
    ReportAccepted,
    ReportIn,
    ReportPage,
    TopCitiesOut,
    TotalsOut,
)
from livevote.tallies.service import ElectionService
from livevote.tallies.stream import channel_key

REPORTER_KEY_HEADER = "X-Reporter-Key"


def parse_time(value: str | None, name: str) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise BadRequest(f"{name}: not an ISO 8601 time: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def election_oid(election_id: str) -> ObjectId:
    return object_id(election_id, "election")


ReporterKey = Annotated[
    str | None,
    HeaderParameter(
        name=REPORTER_KEY_HEADER,
        description="the election's reporter key (from its creation response)",
        required=False,
    ),
]
Page = Annotated[int, QueryParameter(ge=1, le=100_000)]
Limit = Annotated[int, QueryParameter(ge=1, le=500)]
Since = Annotated[str | None, QueryParameter(name="from", description="ISO 8601, inclusive")]
Until = Annotated[str | None, QueryParameter(name="to", description="ISO 8601, exclusive")]


class ElectionController(Controller):
    path = "/api/elections"
    tags = ["elections"]
    dependencies = {"elections": Provide(provide_elections, sync_to_thread=False)}

    @post("/", status_code=201, dependencies={"user": Provide(current_user)})
    async def create(
        self, data: ElectionIn, elections: ElectionService, user: Principal
    ) -> ElectionOut:
        doc, key = await elections.create_election(
            name=data.name,
            parties=list(data.parties),
            cities=[(c.name, c.ballot_boxes) for c in data.cities],
            creator_id=user.subject,
        )
        return views.election_out(doc, key)

    @get("/{election_id:str}")
    async def read(self, election_id: FromPath[str], elections: ElectionService) -> ElectionOut:
        return views.election_out(await elections.election(election_oid(election_id)))

    @post("/{election_id:str}/reports", status_code=202)
    async def report(
        self,
        election_id: FromPath[str],
        data: ReportIn,
        elections: ElectionService,
        reporter_key: ReporterKey = None,
    ) -> ReportAccepted:
        report_id, status = await elections.submit_report(
            election_oid(election_id),
            reporter_key,
            report_id=data.report_id,
            ballot_box_id=data.ballot_box_id,
            city=data.city,
            votes=dict(data.votes),
            supersedes=data.supersedes,
        )
        return ReportAccepted(report_id, status)

    @get("/{election_id:str}/reports")
    async def reports(
        self,
        election_id: FromPath[str],
        elections: ElectionService,
        city: FromQuery[str | None] = None,
        since: Since = None,
        until: Until = None,
        page: Page = 1,
        limit: Limit = 50,
    ) -> ReportPage:
        election = await elections.election(election_oid(election_id))
        items, has_more = await elections.reports(
            election,
            city=city,
            since=parse_time(since, "from"),
            until=parse_time(until, "to"),
            page=page,
            limit=limit,
        )
        return ReportPage(items, page, limit, has_more)

    @get("/{election_id:str}/totals")
    async def totals(
        self,
        election_id: FromPath[str],
        elections: ElectionService,
        city: FromQuery[str | None] = None,
    ) -> TotalsOut:
        election = await elections.election(election_oid(election_id))
        return await elections.totals(election, city)

    @get("/{election_id:str}/cities/top")
    async def top_cities(
        self,
        election_id: FromPath[str],
        elections: ElectionService,
        since: Since = None,
        until: Until = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 10,
    ) -> TopCitiesOut:
        """Cities by votes reported in [from, to) (the audit log's time of receipt)."""
        election = await elections.election(election_oid(election_id))
        rows = await elections.top_cities(
            election, since=parse_time(since, "from"), until=parse_time(until, "to"), limit=limit
        )
        return TopCitiesOut(rows, since, until)

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
        """SSE: a full `state` snapshot (national and per-city totals, boxes reported), then
        every newer one."""
        election = await elections.election(election_oid(election_id))
        key = channel_key(str(election["_id"]))
        return sse_stream(broadcaster, key, settings.sse, stream="elections")

    @post(
        "/{election_id:str}/recount", status_code=200, dependencies={"user": Provide(current_user)}
    )
    async def recount(
        self, election_id: FromPath[str], elections: ElectionService, user: Principal
    ) -> dict[str, Any]:
        check = await elections.recount(election_oid(election_id), user.subject)
        return views.recount_out(check)


route_handlers = [ElectionController]
