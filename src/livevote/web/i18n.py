"""Languages: English (the source strings), French and Spanish, from gettext catalogues.

    web/locales/<lang>/LC_MESSAGES/messages.po   one catalogue per language (Babel reads the
                                                 .po and compiles it in memory: no build step)

Which language a page speaks, first match wins:
    1. `?lang=fr` in the URL (a host can print a screen link in the event's language),
    2. `lang` passed by the page handler: the event's language set by its host (the attendee,
       screen, juror and ticket pages; `language` in the event view, null when unset),
    3. the browser's Accept-Language,
    4. English.
Only pages that declare `{% set localised = true %}` are translated: home, attendee (phone),
screen, juror, the printable ticket sheet, feed and the 404. The host console, the report,
the newsroom and the election screen stay English (and say `lang="en"`).

Templates use Jinja's i18n extension (`{% trans %}`, `_()`) wired to the request's language;
numbers go through the `number` filter (Babel). A page's script gets its strings through
`{{ js_catalogue("page.js") }}`: a JSON island holding the translations of exactly the msgids
that livevote.js and page.js pass to `LV.t`/`LV.tn` (found by Babel's JavaScript extractor),
so a new page needs nothing but new msgids in its files and the catalogues.

`python -m livevote.web.i18n` brings every catalogue up to date with the msgids found in
templates, scripts and the page handlers (new ones appear untranslated; the unit test
tests/unit/test_i18n.py fails until each has a translation).
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from datetime import datetime
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_datetime
from babel.messages.catalog import Catalog
from babel.messages.extract import extract
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po
from babel.numbers import format_decimal
from babel.support import Translations
from jinja2 import Environment, pass_context
from jinja2.ext import babel_extract
from jinja2.runtime import Context
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup

WEB = Path(__file__).parent
LOCALES_DIR = WEB / "locales"
TEMPLATES = WEB / "templates"
STATIC = WEB / "static"
PAGE_HANDLERS = [WEB.parent / d / "pages.py" for d in ("events", "polls", "tallies")] + [
    WEB.parent / "events" / "jury_controllers.py"  # the juror page's 404
]
LANGUAGES = ("en", "fr", "es")
DEFAULT = "en"
DOMAIN = "messages"
JS_KEYWORDS: dict[str, Any] = {"t": None, "tn": (1, 2)}
# Strings that page handlers hand to the friendly 404 page (render.not_found(heading, text)).
PY_CALLS = frozenset({"not_found"})

Msgid = str | tuple[str, str]


# ---------- choosing the language ----------


def best_language(accept_language: str) -> str | None:
    """The first supported language in an Accept-Language header, by q-value ("fr-CA" -> fr)."""
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        match = re.search(r"q=([^;,\s]*)", params)
        if match:
            try:
                q = float(match.group(1))
            except ValueError:
                continue  # a malformed weight: ignore the entry
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and q > 0:
            ranked.append((-q, i, primary))
    return min(ranked)[2] if ranked else None


def choose(query: str | None, preferred: str | None, accept_language: str | None) -> str:
    if query and query.lower() in LANGUAGES:
        return query.lower()
    if preferred and preferred in LANGUAGES:
        return preferred
    return best_language(accept_language or "") or DEFAULT


def page_language(ctx: Context) -> str:
    """The language of the page being rendered (English for pages that aren't localised)."""
    if not ctx.get("localised"):
        return DEFAULT
    request = ctx.get("request")
    if request is None:
        return choose(None, ctx.get("lang"), None)
    cached = request.scope.get("lv_lang")
    if cached is None:
        cached = choose(
            request.query_params.get("lang"),
            ctx.get("lang"),
            request.headers.get("accept-language"),
        )
        request.scope["lv_lang"] = cached
    return str(cached)


# ---------- catalogues ----------


def po_path(lang: str) -> Path:
    return LOCALES_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def catalog(lang: str) -> Catalog:
    if lang == DEFAULT:
        return Catalog(locale=DEFAULT, domain=DOMAIN)
    with po_path(lang).open("rb") as fp:
        return read_po(fp, locale=lang, domain=DOMAIN)


@cache
def translations(lang: str) -> Translations:
    buf = BytesIO()
    write_mo(buf, catalog(lang))  # fuzzy entries are left out: they show in English
    buf.seek(0)
    return Translations(buf, domain=DOMAIN)


def gettext(lang: str, message: str) -> str:
    return translations(lang).gettext(message)


def ngettext(lang: str, singular: str, plural: str, n: int) -> str:
    return translations(lang).ngettext(singular, plural, n)


def format_number(lang: str, value: float | int, digits: int | None = None) -> str:
    if digits is not None:
        fmt = "#,##0." + "0" * digits if digits else "#,##0"
        return format_decimal(value, format=fmt, locale=lang)
    return format_decimal(value, locale=lang)


# ---------- Jinja ----------


@pass_context
def _gettext(ctx: Context, message: str) -> str:
    return gettext(page_language(ctx), message)


@pass_context
def _ngettext(ctx: Context, singular: str, plural: str, n: int) -> str:
    return ngettext(page_language(ctx), singular, plural, n)


@pass_context
def _number(ctx: Context, value: Any, digits: int | None = None) -> str:
    try:
        return format_number(page_language(ctx), float(value) if digits else value, digits)
    except (TypeError, ValueError):
        return str(value)


@pass_context
def _datetime(ctx: Context, value: datetime, fmt: str = "medium") -> str:
    return format_datetime(value, fmt, locale=Locale.parse(page_language(ctx)))


@pass_context
def _js_catalogue(ctx: Context, *scripts: str) -> Markup:
    """The JSON island read by LV.t: the page's language and the translations of exactly the
    msgids that livevote.js and the page's scripts use."""
    lang = page_language(ctx)
    payload = {"lang": lang, "messages": js_messages(lang, ("livevote.js", *scripts))}
    body = htmlsafe_json_dumps(payload)
    return Markup(f'<script id="lv-i18n" type="application/json">{body}</script>')  # noqa: S704


def install(env: Environment) -> None:
    """Wire the i18n extension, the `number`/`datetime` filters and `js_catalogue`."""
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(  # type: ignore[attr-defined]
        _gettext, _ngettext, newstyle=True
    )
    env.filters["number"] = _number
    env.filters["datetime"] = _datetime
    env.globals["page_language"] = pass_context(page_language)
    env.globals["js_catalogue"] = _js_catalogue


# ---------- which strings exist ----------


def template_msgids(path: Path) -> Iterator[Msgid]:
    options = {"extensions": "jinja2.ext.i18n", "trimmed": "false"}
    with path.open("rb") as fp:
        for _, _, message, _ in babel_extract(fp, ("_", "gettext", "ngettext"), [], options):
            # _(heading) in not_found.html: a variable, its msgids come from the handlers.
            if message is not None and not (isinstance(message, tuple) and None in message):
                yield _msgid(message)


@cache
def script_msgids(name: str) -> tuple[Msgid, ...]:
    with (STATIC / name).open("rb") as fp:
        return tuple(_msgid(m[1]) for m in extract("javascript", fp, keywords=JS_KEYWORDS))


def handler_msgids(path: Path) -> Iterator[str]:
    """String arguments of not_found(...) calls in a page handler module."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        if isinstance(node.func, ast.Attribute) and node.func.attr in PY_CALLS:
            for arg in node.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    yield arg.value


def _msgid(message: Any) -> Msgid:
    if isinstance(message, (tuple, list)):
        singular, plural = (m for m in message if m is not None)
        return (singular, plural)
    return str(message)


def all_msgids() -> dict[Msgid, list[str]]:
    """Every msgid a person can meet, with the files it comes from."""
    found: dict[Msgid, list[str]] = {}
    for path in sorted(TEMPLATES.glob("*.html")):
        for msgid in template_msgids(path):
            found.setdefault(msgid, []).append(f"templates/{path.name}")
    for path in sorted(STATIC.glob("*.js")):
        for msgid in script_msgids(path.name):
            found.setdefault(msgid, []).append(f"static/{path.name}")
    for path in PAGE_HANDLERS:
        if path.exists():
            for text in handler_msgids(path):
                found.setdefault(text, []).append(f"{path.parent.name}/{path.name}")
    return found


def js_messages(lang: str, scripts: tuple[str, ...]) -> dict[str, str | list[str]]:
    """Translations of the scripts' msgids; plural messages as a list of forms. English needs
    none (the msgids are English)."""
    if lang == DEFAULT:
        return {}
    cat = catalog(lang)
    out: dict[str, str | list[str]] = {}
    for name in scripts:
        for msgid in script_msgids(name):
            key = msgid[0] if isinstance(msgid, tuple) else msgid
            message = cat.get(key)
            if message is None or not message.string or message.fuzzy:
                continue
            value = message.string
            out[key] = list(value) if isinstance(value, (tuple, list)) else str(value)
    return out


def update_catalogues() -> None:
    """Add new msgids to each catalogue (untranslated), mark vanished ones obsolete."""
    template = Catalog(domain=DOMAIN)
    for msgid, where in all_msgids().items():
        template.add(msgid, locations=[(w, 0) for w in where])
    for lang in LANGUAGES:
        if lang == DEFAULT:
            continue
        path = po_path(lang)
        if path.exists():
            with path.open("rb") as fp:
                cat = read_po(fp, locale=lang, domain=DOMAIN)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            cat = Catalog(locale=lang, domain=DOMAIN, project="livevote")
        cat.update(template, no_fuzzy_matching=True)
        with path.open("wb") as fp:
            write_po(fp, cat, width=100, omit_header=False, include_previous=False)
        print(f"{path}: {len(cat)} messages", file=sys.stderr)


if __name__ == "__main__":
    update_catalogues()
