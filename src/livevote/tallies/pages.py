"""The election pages: the results screen /elections/{id}/screen (bars by party in each
party's colour and order, per-city drill-down, "X of Y boxes reported"; the page carries the
current snapshot for a first paint, updates arrive over the SSE stream: static/elections.js)
and the newsroom console /newsroom[/{id}] (signed in in the browser: elections, reporter
keys, the live dashboard; static/newsroom.js over the JSON API and the same stream)."""

from __future__ import annotations

from bson import ObjectId
from litestar import Controller, get
from litestar.di import Provide
from litestar.params import FromPath
from litestar.response import Template

from livevote.errors import NotFound
from livevote.tallies.deps import provide_elections, provide_reads
from livevote.tallies.reads import ElectionReads
from livevote.tallies.service import ElectionService
from livevote.web import render


class ElectionPages(Controller):
    path = "/elections"
    include_in_schema = False
    dependencies = {
        "elections": Provide(provide_elections, sync_to_thread=False),
        "reads": Provide(provide_reads, sync_to_thread=False),
    }

    @get("/{election_id:str}/screen")
    async def screen(
        self, election_id: FromPath[str], elections: ElectionService, reads: ElectionReads
    ) -> Template:
        try:
            if not ObjectId.is_valid(election_id):
                raise NotFound(f"election {election_id!r} not found")
            election = await elections.election(ObjectId(election_id))
        except NotFound:
            return render.not_found("This election doesn't exist", "The link may be incomplete.")
        return render.page(
            "elections.html",
            election=election,
            data={"election_id": str(election["_id"]), "state": await reads.snapshot(election)},
        )


class NewsroomPages(Controller):
    path = "/newsroom"
    include_in_schema = False

    @get("/")
    async def console(self) -> Template:
        return render.page("newsroom.html", data={"election_id": None})

    @get("/{election_id:str}")
    async def dashboard(self, election_id: FromPath[str]) -> Template:
        # The election is read by the page's script (a missing one shows its own message).
        return render.page("newsroom.html", data={"election_id": election_id})


route_handlers = [ElectionPages, NewsroomPages]
