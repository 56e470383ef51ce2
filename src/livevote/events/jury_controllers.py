"""Pitch competition API (DESIGN.md "The pitch competition, complete"): criteria, jurors and
their sheets, the lock and the progress grid, the reveal, duplicate and the report. Parse,
call JuryService, answer; juror routes take the juror's token as `Authorization: Bearer`."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get, post, put
from litestar.di import Provide
from litestar.params import FromPath
from litestar.response import Template

from livevote.config import Settings
from livevote.events import report, views
from livevote.events.fairness import FairnessService, provide_fairness
from livevote.events.http import HOST_EVENT
from livevote.events.jury import JuryService, NewJuror
from livevote.events.jury_schemas import (
    CriteriaIn,
    DuplicateOut,
    JurorIn,
    JurorOut,
    JuryIn,
    RevealOut,
    SheetIn,
    SheetOut,
)
from livevote.events.reveal import reveal_state
from livevote.events.schemas import EventView
from livevote.events.service import EventService, provide_events
from livevote.infra.auth import Principal, bearer_token
from livevote.infra.mongo import Doc
from livevote.web import render

REPORT = {**HOST_EVENT, "fairness": Provide(provide_fairness, sync_to_thread=False)}


def provide_jury(events: EventService) -> JuryService:
    return JuryService.of(events)


def _juror_out(j: NewJuror) -> JurorOut:
    return JurorOut(j.juror_id, j.name, j.token, j.link)


class JuryController(Controller):
    path = "/api/events"
    tags = ["pitch competition"]
    dependencies = {
        "events": Provide(provide_events, sync_to_thread=False),
        "jury": Provide(provide_jury, sync_to_thread=False),
    }

    # -- hosts --------------------------------------------------------------------------
    @put("/{event_id:str}/criteria", dependencies=HOST_EVENT)
    async def criteria(self, event: Doc, data: CriteriaIn, jury: JuryService) -> EventView:
        wanted = [msgspec.to_builtins(c) for c in data.criteria]
        updated = await jury.set_criteria(event=event, criteria=wanted, max_score=data.max_score)
        return views.public_view(updated)

    @post("/{event_id:str}/jurors", status_code=201, dependencies=HOST_EVENT)
    async def add_juror(
        self,
        event: Doc,
        data: JurorIn,
        request: Request[Any, Any, Any],
        jury: JuryService,
        settings: Settings,
    ) -> JurorOut:
        base = render.public_base(request, settings)
        return _juror_out(await jury.add_juror(event=event, name=data.name, base=base))

    @get("/{event_id:str}/jury", dependencies=HOST_EVENT)
    async def progress(self, event: Doc, jury: JuryService) -> dict[str, Any]:
        return await jury.progress(event=event)

    @put("/{event_id:str}/jury", dependencies=HOST_EVENT)
    async def set_jury(self, event: Doc, data: JuryIn, jury: JuryService) -> dict[str, Any]:
        updated = await jury.set_jury(event=event, locked=data.locked, weight=data.jury_weight)
        return await jury.progress(event=updated)

    @post("/{event_id:str}/reveal/next", status_code=200, dependencies=HOST_EVENT)
    async def reveal_next(self, event: Doc, jury: JuryService) -> RevealOut:
        updated = await jury.reveal_next(event=event)
        return RevealOut(views.public_view(updated), reveal_state(updated))

    @post("/{event_id:str}/duplicate", status_code=201, dependencies=HOST_EVENT)
    async def duplicate(
        self,
        event: Doc,
        request: Request[Any, Any, Any],
        jury: JuryService,
        user: Principal,
        settings: Settings,
    ) -> DuplicateOut:
        base = render.public_base(request, settings)
        copy, jurors = await jury.duplicate(event=event, user=user, base=base)
        return DuplicateOut(views.public_view(copy), [_juror_out(j) for j in jurors])

    @get("/{event_id:str}/report", dependencies=REPORT, include_in_schema=False)
    async def report(
        self, event: Doc, events: EventService, fairness: FairnessService, settings: Settings
    ) -> Template:
        secret, eid = settings.jwt.secret, str(event["_id"])
        summary = await fairness.integrity_summary(
            event=event,  # attendees as the export's voter ids
            voter=lambda attendee_id: views.voter_hash(secret, eid, attendee_id),
        )
        log = await events.vote_log(event)
        return report.report_page(event, log, summary, events.clock())

    # -- jurors -------------------------------------------------------------------------
    @get("/{event_id:str}/jury/me")
    async def juror_me(
        self,
        event_id: FromPath[str],
        request: Request[Any, Any, Any],
        events: EventService,
        jury: JuryService,
    ) -> dict[str, Any]:
        event = await events.load(event_id)
        juror = await jury.authenticate(event=event, token=bearer_token(request))
        return await jury.juror_view(event=event, juror=juror)

    @put("/{event_id:str}/jury/scores/{team_id:str}")
    async def put_sheet(
        self,
        event_id: FromPath[str],
        team_id: FromPath[str],
        data: SheetIn,
        request: Request[Any, Any, Any],
        events: EventService,
        jury: JuryService,
    ) -> SheetOut:
        event = await events.load(event_id)
        juror = await jury.authenticate(event=event, token=bearer_token(request))
        sheet = await jury.put_sheet(event=event, juror=juror, team_id=team_id, scores=data.scores)
        return SheetOut(str(event["_id"]), str(juror["_id"]), team_id, sheet)


class JurorPages(Controller):
    """The juror's page: the secret link `/jury/{event_id}#token=...` opens it; the script
    keeps the token from the fragment (never sent to the server) and calls the API."""

    include_in_schema = False
    dependencies = {"events": Provide(provide_events, sync_to_thread=False)}

    @get("/jury/{event_id:str}")
    async def juror_page(self, event_id: FromPath[str], events: EventService) -> Template:
        event = await events.find(event_id)
        if event is None:
            return render.not_found(
                "This jury link doesn't work", "Ask the host for your juror link again."
            )
        data = {"event_id": str(event["_id"]), "title": event["title"]}
        return render.page(
            "juror.html", title=event["title"], data=data, lang=event.get("language") or None
        )


route_handlers = [JuryController, JurorPages]
