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
from livevote.web import render


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
            return render.not_found("This election doesn't exist", "The link may be incomplete.")
        state = await queries.snapshot(repo, election=election)
        return render.page(
            "elections.html",
            election=election,
            data={"election_id": str(election["_id"]), "state": state},
        )


route_handlers = [ElectionPages]
