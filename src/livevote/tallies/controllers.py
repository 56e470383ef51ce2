"""HTTP layer of election tallies: parse, call the service, answer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.di import Provide
from litestar.params import FromPath, FromQuery, HeaderParameter, QueryParameter
from litestar.response import ServerSentEvent
from pymongo.asynchronous.database import AsyncDatabase

from livevote.config import Settings
from livevote.errors import BadRequest
from livevote.infra.auth import Principal, current_user
from livevote.infra.broadcaster import Broadcaster, provide_broadcaster
from livevote.infra.mongo import Doc
from livevote.infra.resources import Clock
from livevote.infra.sse import sse_stream
from livevote.infra.validation import object_id
from livevote.tallies import queries, service
from livevote.tallies.faults import FaultInjector
from livevote.tallies.recount import recount
from livevote.tallies.repository import ElectionRepository
from livevote.tallies.schemas import (
    CityOut,
    CityVotes,
    ElectionIn,
    ElectionOut,
    ReportAccepted,
    ReportIn,
    ReportOut,
    ReportPage,
    TopCitiesOut,
    TotalsOut,
)
from livevote.tallies.stream import channel_key

REPORTER_KEY_HEADER = "X-Reporter-Key"


def provide_elections(db: AsyncDatabase[Doc]) -> ElectionRepository:
    return ElectionRepository(db)


def provide_faults(state: State) -> FaultInjector:
    faults: FaultInjector | None = getattr(state, "fault_injector", None)
    if faults is None:  # app started without the tallies lifespan
        faults = state.fault_injector = FaultInjector()
    return faults


def parse_time(value: str | None, name: str) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise BadRequest(f"{name}: not an ISO 8601 time: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def election_out(doc: Doc, reporter_key: str | None = None) -> ElectionOut:
    return ElectionOut(
        id=str(doc["_id"]),
        name=doc["name"],
        parties=list(doc["parties"]),
        cities=[CityOut(c["name"], c["ballot_boxes"]) for c in doc["cities"]],
        expected_boxes=doc["expected_boxes"],
        created_at=doc["created_at"].isoformat(),
        creator_id=doc["creator_id"],
        reporter_key=reporter_key,
    )


def report_out(doc: Doc) -> ReportOut:
    received = doc["received_at"]
    if received.tzinfo is None:
        received = received.replace(tzinfo=UTC)
    return ReportOut(
        report_id=doc["report_id"],
        ballot_box_id=doc["ballot_box_id"],
        city=doc["city"],
        votes={p: int(n) for p, n in doc["votes"]},
        status=doc["status"],
        received_at=received.isoformat(),
        kind=doc.get("kind", "report"),
        supersedes=doc.get("supersedes"),
        superseded_by=doc.get("superseded_by"),
    )


async def load(repo: ElectionRepository, election_id: str) -> Doc:
    return await service.get_election(repo, object_id(election_id, "election"))


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
    dependencies = {
        "elections": Provide(provide_elections, sync_to_thread=False),
        "faults": Provide(provide_faults, sync_to_thread=False),
    }

    @post("/", status_code=201, dependencies={"user": Provide(current_user)})
    async def create(
        self, data: ElectionIn, elections: ElectionRepository, user: Principal, clock: Clock
    ) -> ElectionOut:
        doc, key = await service.create_election(
            elections,
            name=data.name,
            parties=list(data.parties),
            cities=[(c.name, c.ballot_boxes) for c in data.cities],
            creator_id=user.subject,
            clock=clock,
        )
        return election_out(doc, key)

    @get("/{election_id:str}")
    async def read(self, election_id: FromPath[str], elections: ElectionRepository) -> ElectionOut:
        return election_out(await load(elections, election_id))

    @post("/{election_id:str}/reports", status_code=202)
    async def report(
        self,
        election_id: FromPath[str],
        data: ReportIn,
        request: Request[Any, Any, Any],
        elections: ElectionRepository,
        faults: FaultInjector,
        clock: Clock,
        settings: Settings,
        reporter_key: ReporterKey = None,
    ) -> ReportAccepted:
        election = await load(elections, election_id)
        service.check_reporter_key(election, reporter_key)
        report_id, status = await service.submit_report(
            elections,
            faults,
            election=election,
            report_id=data.report_id,
            ballot_box_id=data.ballot_box_id,
            city=data.city,
            votes=dict(data.votes),
            supersedes=data.supersedes,
            clock=clock,
            hold_seconds=settings.pending_report_delay_seconds,
        )
        return ReportAccepted(report_id, status)

    @get("/{election_id:str}/reports")
    async def reports(
        self,
        election_id: FromPath[str],
        elections: ElectionRepository,
        city: FromQuery[str | None] = None,
        since: Since = None,
        until: Until = None,
        page: Page = 1,
        limit: Limit = 50,
    ) -> ReportPage:
        election = await load(elections, election_id)
        items, has_more = await queries.list_reports(
            elections,
            election=election,
            city=city,
            since=parse_time(since, "from"),
            until=parse_time(until, "to"),
            page=page,
            limit=limit,
        )
        return ReportPage([report_out(d) for d in items], page, limit, has_more)

    @get("/{election_id:str}/totals")
    async def totals(
        self,
        election_id: FromPath[str],
        elections: ElectionRepository,
        city: FromQuery[str | None] = None,
    ) -> TotalsOut:
        election = await load(elections, election_id)
        t = await queries.totals(elections, election=election, city=city)
        return TotalsOut(t["votes"], t["reported_boxes"], t["expected_boxes"], t["city"])

    @get("/{election_id:str}/cities/top")
    async def top_cities(
        self,
        election_id: FromPath[str],
        elections: ElectionRepository,
        since: Since = None,
        until: Until = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 10,
    ) -> TopCitiesOut:
        """Cities by votes reported in [from, to) (the audit log's time of receipt)."""
        election = await load(elections, election_id)
        rows = await queries.top_cities(
            elections,
            election=election,
            since=parse_time(since, "from"),
            until=parse_time(until, "to"),
            limit=limit,
        )
        return TopCitiesOut([CityVotes(r["city"], r["votes"]) for r in rows], since, until)

    @get(
        "/{election_id:str}/stream",
        dependencies={"broadcaster": Provide(provide_broadcaster, sync_to_thread=False)},
    )
    async def stream(
        self,
        election_id: FromPath[str],
        elections: ElectionRepository,
        broadcaster: Broadcaster,
        settings: Settings,
    ) -> ServerSentEvent:
        """SSE: a full `state` snapshot (national and per-city totals, boxes reported), then
        every newer one."""
        election = await load(elections, election_id)
        key = channel_key(str(election["_id"]))
        return sse_stream(broadcaster, key, settings.sse, stream="elections")

    @post(
        "/{election_id:str}/recount", status_code=200, dependencies={"user": Provide(current_user)}
    )
    async def recount(
        self, election_id: FromPath[str], elections: ElectionRepository, user: Principal
    ) -> dict[str, Any]:
        election = await load(elections, election_id)
        service.require_creator(election, user.subject)
        return await recount(elections, election)


route_handlers = [ElectionController]
