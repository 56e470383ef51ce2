"""The election results screen: /elections/{id}/screen (bars by party, per-city drill-down,
"X of Y boxes reported"). The page carries the current snapshot for a first paint; updates
arrive over the SSE stream (static/elections.js)."""

from __future__ import annotations

from bson import ObjectId
from litestar import Controller, get
from litestar.params import FromPath
from litestar.response import Template
from pymongo.asynchronous.database import AsyncDatabase

from livevote.infra.mongo import Doc
from livevote.tallies import queries
from livevote.tallies.repository import ElectionRepository
from livevote.web.pages import asset_version

# Names on the page are typed by users: only our own scripts may run.
_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}


class ElectionPages(Controller):
    path = "/elections"
    include_in_schema = False

    @get("/{election_id:str}/screen")
    async def screen(self, election_id: FromPath[str], db: AsyncDatabase[Doc]) -> Template:
        repo = ElectionRepository(db)
        election = None
        if ObjectId.is_valid(election_id):
            election = await repo.election(ObjectId(election_id))
        if election is None:
            return Template(
                template_name="not_found.html",
                context={
                    "heading": "This election doesn't exist",
                    "message": "The link may be incomplete.",
                    "asset_version": asset_version(),
                },
                status_code=404,
                headers=_HEADERS,
            )
        state = await queries.snapshot(repo, election=election)
        return Template(
            template_name="elections.html",
            context={
                "election": election,
                "data": {"election_id": str(election["_id"]), "state": state},
                "asset_version": asset_version(),
            },
            headers=_HEADERS,
        )


route_handlers = [ElectionPages]
