"""One person, one vote — the API (DESIGN.md "One person, one vote (live events)").

    PUT  /api/events/{id}/admission                 {admission}   host: open | tickets
    POST /api/events/{id}/tickets                   {count}       host → 201 {tickets}
    GET  /api/events/{id}/tickets                                 host → {issued, claimed}
    POST /api/events/{id}/tickets/revoke            {tickets}     host → {revoked}
    GET  /api/events/{id}/integrity                               host → the report
    POST /api/events/{id}/attendees/{aid}/void      {reason}      host → the void
    GET  /api/events/{id}/ledger                                  everyone once visible
    GET  /api/events/{id}/ledger/digest                           the screen's short form
Joining is `POST /api/events/join` (controllers.py, admission.py).
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post, put
from litestar.di import Provide
from litestar.params import FromPath, FromQuery

from livevote.config import Settings
from livevote.events import views
from livevote.events.admission import MAX_TICKETS_PER_EVENT, mode_of
from livevote.events.fairness import FairnessService, provide_fairness
from livevote.events.http import HOST_EVENT, MAYBE_USER
from livevote.events.schemas import (
    AdmissionIn,
    EventView,
    RevokedOut,
    RevokeTicketsIn,
    TicketCounts,
    TicketOut,
    TicketsIn,
    TicketsOut,
    VoidIn,
)
from livevote.events.service import EventService, provide_events
from livevote.infra.auth import Principal
from livevote.infra.mongo import Doc
from livevote.web import render

QR_MAX = 500  # QR codes drawn per request (the printable sheet asks in pages)


class FairnessController(Controller):
    path = "/api/events"
    tags = ["live events: one person, one vote"]
    dependencies = {
        "events": Provide(provide_events, sync_to_thread=False),
        "fairness": Provide(provide_fairness, sync_to_thread=False),
    }

    @put("/{event_id:str}/admission", dependencies=HOST_EVENT)
    async def admission(
        self, event: Doc, data: AdmissionIn, fairness: FairnessService
    ) -> EventView:
        return views.public_view(await fairness.set_admission(event=event, mode=data.admission))

    @post("/{event_id:str}/tickets", status_code=201, dependencies=HOST_EVENT)
    async def issue_tickets(
        self,
        event: Doc,
        data: TicketsIn,
        request: Request[Any, Any, Any],
        fairness: FairnessService,
        settings: Settings,
        qr: FromQuery[bool] = False,
    ) -> TicketsOut:
        tickets = await fairness.issue_tickets(event=event, count=data.count)
        base = f"{render.public_base(request, settings)}/e/{event['code']}?ticket="
        draw = qr and len(tickets) <= QR_MAX
        return TicketsOut(
            [
                TicketOut(
                    t, base + t, render.qr_svg(base + t, "Voter ticket QR code") if draw else None
                )
                for t in tickets
            ]
        )

    @get("/{event_id:str}/tickets", dependencies=HOST_EVENT)
    async def ticket_counts(self, event: Doc, fairness: FairnessService) -> TicketCounts:
        issued, claimed = await fairness.ticket_counts(event=event)
        return TicketCounts(issued, claimed, mode_of(event), MAX_TICKETS_PER_EVENT)

    @post("/{event_id:str}/tickets/revoke", status_code=200, dependencies=HOST_EVENT)
    async def revoke_tickets(
        self, event: Doc, data: RevokeTicketsIn, fairness: FairnessService
    ) -> RevokedOut:
        return RevokedOut(await fairness.revoke_tickets(event=event, tickets=data.tickets))

    @get("/{event_id:str}/integrity", dependencies=HOST_EVENT)
    async def integrity(self, event: Doc, fairness: FairnessService) -> Doc:
        return await fairness.integrity(event=event)

    @post(
        "/{event_id:str}/attendees/{attendee_id:str}/void", status_code=200, dependencies=HOST_EVENT
    )
    async def void(
        self,
        event: Doc,
        attendee_id: FromPath[str],
        data: VoidIn,
        fairness: FairnessService,
        user: Principal,
    ) -> Doc:
        return await fairness.void(
            event=event, attendee_id=attendee_id, reason=data.reason, by=user.subject
        )

    @get("/{event_id:str}/ledger", dependencies=MAYBE_USER)
    async def ledger(
        self,
        event_id: FromPath[str],
        events: EventService,
        fairness: FairnessService,
        user: Principal | None,
    ) -> Response[Doc]:
        event = await events.load(event_id)
        events.check_results_access(event, user)
        body = await fairness.ledger(event_id=str(event["_id"]))
        name = f"livevote-ledger-{event['code']}.json"
        return Response(body, headers={"Content-Disposition": f'inline; filename="{name}"'})

    @get("/{event_id:str}/ledger/digest", dependencies=MAYBE_USER)
    async def ledger_digest(
        self,
        event_id: FromPath[str],
        events: EventService,
        fairness: FairnessService,
        user: Principal | None,
    ) -> Doc:
        event = await events.load(event_id)
        events.check_results_access(event, user)
        full = await fairness.ledger(event_id=str(event["_id"]))
        keys = ("event_id", "count", "counted", "digest", "short_digest")
        return {k: full[k] for k in keys}
