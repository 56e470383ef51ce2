"""The server-rendered pages of live events (HTML; the JSON API is controllers.py).

    /                     join by code (a form that redirects to /e/<code>)
    /e/{code}             attendee phone page
    /screen/{code}        projector screen with the join QR code
    /host                 host sign-in, create event, list of events
    /host/events/{id}     host console
    /host/events/{id}/tickets  the printable sheet of voter tickets

The attendee, screen and ticket pages speak the event's language when the host set one
(`lang`: web/i18n.py, after a link's ?lang= and before the browser's Accept-Language).

Pages carry the public event view as JSON for a first paint without a round trip; everything
after that comes from the API and the SSE stream. An unknown code or id is a friendly HTML
404, never a problem+json body (a person, not a program, is reading it).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import msgspec
from litestar import Controller, Request, get
from litestar.di import Provide
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from livevote.config import Settings
from livevote.events import views
from livevote.events.http import LOOKUPS
from livevote.events.reveal import reveal_state
from livevote.events.service import EventService, normalise_code, provide_events
from livevote.infra.mongo import Doc
from livevote.infra.ratelimit import MissBudget
from livevote.web import render


def not_found(what: str) -> Template:
    if what == "code":
        return render.not_found(
            "We can't find that event",
            "Check the code on the big screen and try again — codes look like 7KQ4ZP.",
        )
    return render.not_found(
        "This event doesn't exist", "It may have been deleted, or the link is incomplete."
    )


def page_view(doc: Doc | None) -> dict[str, Any] | None:
    """The public event view (plus results when they are visible), as the SSE stream has it."""
    if doc is None:
        return None
    view: dict[str, Any] = msgspec.to_builtins(views.public_view(doc))
    if view.get("results_visible"):
        view["results"] = msgspec.to_builtins(views.results(doc))
    view["reveal"] = reveal_state(doc)
    return view


async def by_code(code: str, events: EventService, budget: MissBudget) -> dict[str, Any] | None:
    """The page view of the event with this code; an unknown code spends one of the address's
    code misses (429 once they are spent: http.code_lookups)."""
    budget.check()
    event = page_view(await events.find_by_code(code))
    if event is None:
        await budget.miss()
    return event


class PagesController(Controller):
    include_in_schema = False
    dependencies = {"events": Provide(provide_events, sync_to_thread=False), **LOOKUPS}

    @get("/")
    async def home(self) -> Template:
        return render.page("home.html")

    @get("/join")
    async def join_by_code(self, code: FromQuery[str] = "") -> Redirect:
        code = "".join(ch for ch in normalise_code(code) if ch.isalnum())[:12]
        return Redirect(path=f"/e/{code}" if code else "/", status_code=303)

    @get("/e/{code:str}")
    async def attendee(
        self, code: FromPath[str], events: EventService, lookups: MissBudget
    ) -> Template:
        event = await by_code(code, events, lookups)
        if event is None:
            return not_found("code")
        data = {
            "event": event,
            "event_id": event["id"],
            "code": event["code"],
            "max_score": event.get("max_score", 5),
        }
        return render.page("attendee.html", event=event, data=data, lang=event["language"])

    @get("/screen/{code:str}")
    async def screen(
        self,
        code: FromPath[str],
        events: EventService,
        settings: Settings,
        request: Request[Any, Any, Any],
        lookups: MissBudget,
    ) -> Template:
        event = await by_code(code, events, lookups)
        if event is None:
            return not_found("code")
        base = render.public_base(request, settings)
        join_url = f"{base}/e/{event['code']}"
        data = {"event": event, "event_id": event["id"], "max_score": event.get("max_score", 5)}
        return render.page(
            "screen.html",
            event=event,
            data=data,
            qr_svg=render.qr_svg(join_url, "QR code to join"),
            join_url=join_url,
            join_host=urlsplit(base).netloc + urlsplit(base).path,
            lang=event["language"],
        )

    @get("/host")
    async def host_index(self) -> Template:
        return render.page("host_index.html", data={"page": "host-index"})

    @get("/host/events/{event_id:str}")
    async def host_event(
        self,
        event_id: FromPath[str],
        events: EventService,
        settings: Settings,
        request: Request[Any, Any, Any],
    ) -> Template:
        event = page_view(await events.find(event_id))
        if event is None:
            return not_found("id")
        base = render.public_base(request, settings)
        data = {
            "page": "host-event",
            "event": event,
            "event_id": event["id"],
            "max_score": event.get("max_score", 5),
        }
        return render.page(
            "host_event.html",
            event=event,
            data=data,
            screen_url=f"{base}/screen/{event['code']}",
            join_url=f"{base}/e/{event['code']}",
        )

    @get("/host/events/{event_id:str}/tickets")
    async def tickets_sheet(self, event_id: FromPath[str], events: EventService) -> Template:
        """The printable sheet of voter tickets (tickets.js asks the API with the host's token:
        tickets exist in clear only in that page, the server keeps their hashes)."""
        event = page_view(await events.find(event_id))
        if event is None:
            return not_found("id")
        data = {"event_id": event["id"], "code": event["code"], "title": event["title"]}
        return render.page("tickets.html", event=event, data=data, lang=event["language"])


route_handlers = [PagesController]
