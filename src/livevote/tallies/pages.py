"""The election results screen: /elections/{id}/screen (bars by party, per-city drill-down,
"X of Y boxes reported"). The page carries the current snapshot for a first paint; updates
arrive over the SSE stream (static/elections.js)."""

from __future__ import annotations

from bson import ObjectId
from litestar import Controller, get
from litestar.di import Provide
from litestar.params import FromPath
from litestar.response import Template

from livevote.errors import NotFound
from livevote.tallies.deps import provide_elections
from livevote.tallies.service import ElectionService
from livevote.web import render


class ElectionPages(Controller):
    path = "/elections"
    include_in_schema = False
    dependencies = {"elections": Provide(provide_elections, sync_to_thread=False)}

    @get("/{election_id:str}/screen")
    async def screen(self, election_id: FromPath[str], elections: ElectionService) -> Template:
        try:
            if not ObjectId.is_valid(election_id):
                raise NotFound(f"election {election_id!r} not found")
            election = await elections.election(ObjectId(election_id))
        except NotFound:
            return render.not_found("This election doesn't exist", "The link may be incomplete.")
        return render.page(
            "elections.html",
            election=election,
            data={"election_id": str(election["_id"]), "state": await elections.snapshot(election)},
        )


route_handlers = [ElectionPages]
