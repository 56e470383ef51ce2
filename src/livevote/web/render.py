"""The one render helper every HTML page goes through: templates, security headers, asset
versions, the friendly 404 and QR codes. Domains keep their own routes in `<domain>/pages.py`
and call `page(...)` / `not_found(...)`; nothing else here knows about a domain.

Pages embed names that users typed: the Content-Security-Policy lets no inline script run,
only our own files, and every page answers with the same headers.
"""

from __future__ import annotations

import hashlib
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import segno
from litestar import Request
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.template.config import TemplateConfig

from livevote.config import Settings
from livevote.web import i18n

WEB = Path(__file__).parent
STATIC = WEB / "static"
TEMPLATES = WEB / "templates"

SECURITY_HEADERS = {
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


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    """Jinja over templates/, with the i18n extension and the locale filters (web/i18n.py)."""

    def configure(engine: JinjaTemplateEngine) -> None:
        i18n.install(engine.engine)

    return TemplateConfig(
        directory=TEMPLATES, engine=JinjaTemplateEngine, engine_callback=configure
    )


@cache
def asset_version() -> str:
    """A fingerprint of the static files, so browsers never run a stale script."""
    digest = hashlib.sha256()
    for path in sorted(STATIC.glob("*")):
        if path.is_file():
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def page(name: str, status: int = 200, **context: Any) -> Template:
    """Render `templates/<name>` with the shared headers and the asset version."""
    context.setdefault("asset_version", asset_version())
    return Template(
        template_name=name, context=context, status_code=status, headers=SECURITY_HEADERS
    )


def not_found(heading: str, message: str) -> Template:
    """The friendly HTML 404 (a person, not a program, is reading it)."""
    return page("not_found.html", 404, heading=heading, message=message)


def public_base(request: Request[Any, Any, Any], settings: Settings) -> str:
    """The base URL printed in links and QR codes (LIVEVOTE_PUBLIC_URL wins)."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    return str(request.base_url).rstrip("/")


@lru_cache(maxsize=1024)
def qr_svg(url: str, title: str = "QR code") -> str:
    """A QR code as inline SVG, scaled by CSS (no width/height attributes). Cached: a
    screen reloaded a thousand times draws its code once."""
    qr = segno.make(url, error="m")
    return str(
        qr.svg_inline(scale=10, border=2, omitsize=True, svgclass="qr", title=f"{title}: {url}")
    )
