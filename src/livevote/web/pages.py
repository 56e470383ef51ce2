"""The server-rendered pages of live events (HTML; the JSON API lives in livevote.events).

    /                     join by code (a form that redirects to /e/<code>)
    /e/{code}             attendee phone page
    /screen/{code}        projector screen with the join QR code
    /host                 host sign-in, create event, list of events
    /host/events/{id}     host console

Pages carry the public event view as JSON for a first paint without a round trip; everything
after that comes from the API and the SSE stream. An unknown code or id is a friendly HTML
404, never a problem+json body (a person, not a program, is reading it).
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec
import segno
from litestar import Controller, Request, get
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from pymongo.asynchronous.database import AsyncDatabase

from livevote.config import Settings
from livevote.events import views
from livevote.events.repository import EventRepository
from livevote.infra.mongo import Doc

STATIC = Path(__file__).parent / "static"

# Pages embed user-typed names: no inline scripts may run, only our own files.
_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'self'"
    ),
}


@cache
def asset_version() -> str:
    """A fingerprint of the static files, so browsers never run a stale script."""
    digest = hashlib.sha256()
    for path in sorted(STATIC.glob("*")):
        if path.is_file():
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def public_base(request: Request[Any, Any, Any], settings: Settings) -> str:
    if settings.public_url:
        return settings.public_url.rstrip("/")
    return str(request.base_url).rstrip("/")


def join_qr_svg(url: str) -> str:
    """The join QR code as inline SVG, scaled by CSS (no width/height attributes)."""
    qr = segno.make(url, error="m")
    return str(
        qr.svg_inline(
            scale=10, border=2, omitsize=True, svgclass="qr", title=f"QR code to join: {url}"
        )
    )


def normalise_code(code: str) -> str:
    return code.strip().upper()


def _page(name: str, status: int = 200, **context: Any) -> Template:
    context.setdefault("asset_version", asset_version())
    return Template(template_name=name, context=context, status_code=status, headers=_HEADERS)


def not_found(what: str) -> Template:
    if what == "code":
        heading = "We can't find that event"
        message = "Check the code on the big screen and try again — codes look like 7KQ4ZP."
    else:
        heading = "This event doesn't exist"
        message = "It may have been deleted, or the link is incomplete."
    return _page("not_found.html", 404, heading=heading, message=message)


async def page_view(
    db: AsyncDatabase[Doc], *, code: str | None = None, event_id: str | None = None
) -> dict[str, Any] | None:
    """The public event view (plus results when they are visible), as the SSE stream has it."""
    repo = EventRepository(db)
    if code is not None:
        doc = await repo.by_code(normalise_code(code))
        if doc is None and code != normalise_code(code):
            doc = await repo.by_code(code)
    else:
        doc = await repo.get(event_id or "")
    if doc is None:
        return None
    view: dict[str, Any] = msgspec.to_builtins(views.public_view(doc))
    if view.get("results_visible"):
        view["results"] = msgspec.to_builtins(views.results(doc))
    return view


class PagesController(Controller):
    include_in_schema = False

    @get("/")
    async def home(self) -> Template:
        return _page("home.html")

    @get("/join")
    async def join_by_code(self, code: FromQuery[str] = "") -> Redirect:
        code = "".join(ch for ch in normalise_code(code) if ch.isalnum())[:12]
        return Redirect(path=f"/e/{code}" if code else "/", status_code=303)

    @get("/e/{code:str}")
    async def attendee(self, code: FromPath[str], db: AsyncDatabase[Doc]) -> Template:
        event = await page_view(db, code=code)
        if event is None:
            return not_found("code")
        data = {
            "event": event,
            "event_id": event["id"],
            "code": event["code"],
            "max_score": event.get("max_score", 5),
        }
        return _page("attendee.html", event=event, data=data)

    @get("/screen/{code:str}")
    async def screen(
        self,
        code: FromPath[str],
        db: AsyncDatabase[Doc],
        settings: Settings,
        request: Request[Any, Any, Any],
    ) -> Template:
        event = await page_view(db, code=code)
        if event is None:
            return not_found("code")
        base = public_base(request, settings)
        join_url = f"{base}/e/{event['code']}"
        data = {"event": event, "event_id": event["id"], "max_score": event.get("max_score", 5)}
        return _page(
            "screen.html",
            event=event,
            data=data,
            qr_svg=join_qr_svg(join_url),
            join_url=join_url,
            join_host=urlsplit(base).netloc + urlsplit(base).path,
        )

    @get("/host")
    async def host_index(self) -> Template:
        return _page("host_index.html", data={"page": "host-index"})

    @get("/host/events/{event_id:str}")
    async def host_event(
        self,
        event_id: FromPath[str],
        db: AsyncDatabase[Doc],
        settings: Settings,
        request: Request[Any, Any, Any],
    ) -> Template:
        event = await page_view(db, event_id=event_id)
        if event is None:
            return not_found("id")
        base = public_base(request, settings)
        data = {
            "page": "host-event",
            "event": event,
            "event_id": event["id"],
            "max_score": event.get("max_score", 5),
        }
        return _page(
            "host_event.html",
            event=event,
            data=data,
            screen_url=f"{base}/screen/{event['code']}",
            join_url=f"{base}/e/{event['code']}",
        )


route_handlers = [PagesController]
