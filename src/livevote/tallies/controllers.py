"""HTTP layer of election tallies, the writes and the creator's endpoints: elections, reporter
keys, reports, recount. Parse, call the service, answer. Public reads are in results.py."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, delete, get, post
from litestar.di import Provide
from litestar.params import FromPath, FromQuery, HeaderParameter

from livevote.errors import ValidationFailed
from livevote.infra.auth import Principal, current_user
from livevote.tallies import views
from livevote.tallies.deps import election_oid, provide_elections, provide_reads
from livevote.tallies.reads import ElectionReads
from livevote.tallies.results import After, ElectionResults, Limit, Page, Since, Until, parse_time
from livevote.tallies.schemas import (
    ElectionIn,
    ElectionList,
    ElectionOut,
    PartyIn,
    ReportAccepted,
    ReporterKeyIn,
    ReporterKeyList,
    ReporterKeyOut,
    ReportIn,
    ReportPage,
)
from livevote.tallies.service import ElectionService

REPORTER_KEY_HEADER = "X-Reporter-Key"

ReporterKey = Annotated[
    str | None,
    HeaderParameter(
        name=REPORTER_KEY_HEADER,
        description="a reporter key of the election (election-wide, or for the report's city)",
        required=False,
    ),
]
Creator = {"user": Provide(current_user)}


class ElectionController(Controller):
    path = "/api/elections"
    tags = ["elections"]
    dependencies = {
        "elections": Provide(provide_elections, sync_to_thread=False),
        "reads": Provide(provide_reads, sync_to_thread=False),
    }

    @post("/", status_code=201, dependencies=Creator)
    async def create(
        self, data: ElectionIn, elections: ElectionService, user: Principal
    ) -> ElectionOut:
        parties = [
            (p.name, p.colour) if isinstance(p, PartyIn) else (p, None) for p in data.parties
        ]
        doc, key_doc, key = await elections.create_election(
            name=data.name,
            parties=parties,
            cities=[(c.name, c.ballot_boxes) for c in data.cities],
            creator_id=user.subject,
        )
        return views.election_out(doc, key, key_doc["_id"])

    @get("/", dependencies=Creator)
    async def mine(self, elections: ElectionService, user: Principal) -> ElectionList:
        """The caller's elections, newest first (the newsroom console)."""
        docs = await elections.elections_of(user.subject)
        return ElectionList([views.election_out(d) for d in docs])

    @get("/{election_id:str}")
    async def read(self, election_id: FromPath[str], elections: ElectionService) -> ElectionOut:
        return views.election_out(await elections.election(election_oid(election_id)))

    @post("/{election_id:str}/reporter-keys", status_code=201, dependencies=Creator)
    async def create_key(
        self,
        election_id: FromPath[str],
        data: ReporterKeyIn,
        elections: ElectionService,
        user: Principal,
    ) -> ReporterKeyOut:
        """A reporter key for one city (or election-wide without `city`); shown once."""
        election = await elections.election(election_oid(election_id))
        doc, key = await elections.keys.create(election, user.subject, data.city)
        return views.key_out(doc, key)

    @get("/{election_id:str}/reporter-keys", dependencies=Creator)
    async def list_keys(
        self, election_id: FromPath[str], elections: ElectionService, user: Principal
    ) -> ReporterKeyList:
        election = await elections.election(election_oid(election_id))
        docs = await elections.keys.list(election, user.subject)
        return ReporterKeyList([views.key_out(d) for d in docs])

    @delete("/{election_id:str}/reporter-keys/{key_id:str}", status_code=204, dependencies=Creator)
    async def revoke_key(
        self,
        election_id: FromPath[str],
        key_id: FromPath[str],
        elections: ElectionService,
        user: Principal,
    ) -> None:
        """Revoke a key: every process refuses its next report."""
        election = await elections.election(election_oid(election_id))
        await elections.keys.revoke(election, user.subject, key_id)

    @post("/{election_id:str}/reports", status_code=202)
    async def report(
        self,
        election_id: FromPath[str],
        data: ReportIn,
        elections: ElectionService,
        reporter_key: ReporterKey = None,
    ) -> ReportAccepted:
        if data.corrects and data.supersedes and data.corrects != data.supersedes:
            raise ValidationFailed("corrects and supersedes name different reports")
        report_id, status = await elections.submit_report(
            election_oid(election_id),
            reporter_key,
            report_id=data.report_id,
            ballot_box_id=data.ballot_box_id,
            city=data.city,
            votes=dict(data.votes),
            supersedes=data.corrects or data.supersedes,
        )
        return ReportAccepted(report_id, status)

    @get("/{election_id:str}/reports")
    async def reports(
        self,
        election_id: FromPath[str],
        elections: ElectionService,
        reads: ElectionReads,
        city: FromQuery[str | None] = None,
        since: Since = None,
        until: Until = None,
        page: Page = 1,
        limit: Limit = 50,
        after: After = None,
    ) -> ReportPage:
        """The audit log by time of receipt; page through it with `after` = `next`."""
        election = await elections.election(election_oid(election_id))
        return await reads.reports(
            election,
            city=city,
            since=parse_time(since, "from"),
            until=parse_time(until, "to"),
            page=page,
            limit=limit,
            after=after,
        )

    @post("/{election_id:str}/recount", status_code=200, dependencies=Creator)
    async def recount(
        self, election_id: FromPath[str], elections: ElectionService, user: Principal
    ) -> dict[str, Any]:
        check = await elections.recount(election_oid(election_id), user.subject)
        return views.recount_out(check)


route_handlers = [ElectionController, ElectionResults]
