"""The poll feed page: /feed (a static shell; everything else through the API, feed.js renders
poll text with textContent only)."""

from __future__ import annotations

from litestar import get
from litestar.response import Template

from livevote.web import render


@get("/feed", include_in_schema=False, sync_to_thread=False)
def feed_page() -> Template:
    """The mobile-first poll feed page."""
    return render.page("feed.html")


route_handlers = [feed_page]
