"""The message catalogues: every msgid a page can show (templates, scripts, the 404 texts the
page handlers pass) is translated in every language, with the same placeholders; the language
is chosen from ?lang=, the page's own language, then Accept-Language; numbers follow the
language; a page's JSON catalogue carries exactly its scripts' strings."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from jinja2 import DictLoader, Environment, select_autoescape

from livevote.web import i18n

TRANSLATED = [lang for lang in i18n.LANGUAGES if lang != i18n.DEFAULT]
PLACEHOLDER = re.compile(r"%\([a-z_]+\)s|\{[a-z_]+\}")


def placeholders(text: str) -> list[str]:
    return sorted(PLACEHOLDER.findall(text))


def test_msgids_are_found_in_templates_scripts_and_handlers() -> None:
    found = i18n.all_msgids()
    assert "Join event" in found  # a template
    assert "Send my score" in found  # attendee.js
    assert ("{n} vote", "{n} votes") in found  # a plural in screen.js
    assert "We can't find that event" in found  # events/pages.py -> not_found.html
    assert "Live" in found and "static/livevote.js" in found["Live"]
    assert all(isinstance(m, (str, tuple)) and m for m in found)


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_msgid_is_translated(lang: str) -> None:
    catalog = i18n.catalog(lang)
    untranslated, fuzzy, wrong_placeholders = [], [], []
    for msgid, where in i18n.all_msgids().items():
        key = msgid[0] if isinstance(msgid, tuple) else msgid
        message = catalog.get(key)
        if message is None or not message.string or not all(message.string):
            untranslated.append(f"{msgid!r} ({', '.join(where)})")
            continue
        if message.fuzzy:
            fuzzy.append(repr(msgid))
        sources = msgid if isinstance(msgid, tuple) else (msgid,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for text in strings:
            if placeholders(str(text)) != placeholders(str(sources[-1])) and placeholders(
                str(text)
            ) != (placeholders(str(sources[0]))):
                wrong_placeholders.append(f"{msgid!r} -> {text!r}")
    assert not untranslated, f"{lang}: untranslated:\n" + "\n".join(untranslated)
    assert not fuzzy, f"{lang}: fuzzy:\n" + "\n".join(fuzzy)
    assert not wrong_placeholders, "\n".join(wrong_placeholders)


@pytest.mark.parametrize("lang", TRANSLATED)
def test_catalogues_have_two_plural_forms(lang: str) -> None:
    translations = i18n.translations(lang)
    assert translations.ngettext("{n} vote", "{n} votes", 1) != translations.ngettext(
        "{n} vote", "{n} votes", 2
    )
    assert i18n.catalog(lang).num_plurals == 2  # LV.tn picks form 0 for "one", else 1


def test_french_plural_zero_is_singular() -> None:
    assert i18n.ngettext("fr", "{n} person here", "{n} people here", 0) == "{n} personne présente"
    assert i18n.ngettext("fr", "{n} person here", "{n} people here", 2) == (
        "{n} personnes présentes"
    )
    assert i18n.ngettext("es", "{n} person here", "{n} people here", 0) == "{n} personas aquí"


@pytest.mark.parametrize(
    ("query", "preferred", "header", "expected"),
    [
        (None, None, None, "en"),
        (None, None, "fr-CA,fr;q=0.9,en;q=0.8", "fr"),
        (None, None, "de-DE,es;q=0.5,fr;q=0.4", "es"),
        (None, None, "en;q=0.1, fr;q=0.9", "fr"),
        (None, None, "fr;q=0, es", "es"),
        (None, None, "de, it", "en"),
        (None, None, "fr;q=bogus, es;q=0.2", "es"),
        ("es", None, "fr", "es"),
        ("ES", "fr", "fr", "es"),
        ("xx", None, "fr", "fr"),
        (None, "es", "fr", "es"),
        (None, "de", "fr", "fr"),
    ],
)
def test_choose_language(
    query: str | None, preferred: str | None, header: str | None, expected: str
) -> None:
    assert i18n.choose(query, preferred, header) == expected


def test_numbers_follow_the_language() -> None:
    assert i18n.format_number("en", 1234.5, 1) == "1,234.5"
    assert i18n.format_number("fr", 4, 1) == "4,0"
    assert i18n.format_number("es", 3.5, 1) == "3,5"
    assert i18n.format_number("fr", 12345).replace("\u202f", " ") == "12 345"


def test_js_catalogue_holds_only_the_page_scripts_strings() -> None:
    attendee = i18n.js_messages("fr", ("livevote.js", "attendee.js"))
    assert attendee["Send my score"] == "Envoyer ma note"
    assert attendee["Live"] == "En direct"  # livevote.js: every page needs it
    assert attendee["{n} vote"] == ["{n} vote", "{n} votes"]  # plural forms as a list
    assert "Poll published" not in attendee  # feed.js only
    assert "Final results" not in attendee  # screen.js only
    assert i18n.js_messages("en", ("livevote.js", "attendee.js")) == {}


def render(source: str, *, localised: bool, headers: dict[str, str], **context: Any) -> str:
    env = Environment(loader=DictLoader({"t.html": source}), autoescape=select_autoescape())
    i18n.install(env)
    request = SimpleNamespace(
        scope={},
        query_params={k: v for k, v in headers.items() if k == "lang"},
        headers={k: v for k, v in headers.items() if k != "lang"},
    )
    return env.get_template("t.html").render(request=request, localised=localised, **context)


def test_templates_translate_only_localised_pages() -> None:
    source = (
        '{{ page_language() }}|{{ _("Join event") }}|'
        "{% trans max=5|number %}average score out of {{ max }}{% endtrans %}|"
        "{{ 4.3|number(1) }}"
    )
    french = render(source, localised=True, headers={"accept-language": "fr"})
    assert french == "fr|Rejoindre l'événement|note moyenne sur 5|4,3"
    spanish = render(source, localised=True, headers={"accept-language": "fr", "lang": "es"})
    assert spanish.startswith("es|Unirse al evento|puntuación media sobre 5|")
    english = render(source, localised=False, headers={"accept-language": "fr"})
    assert english == "en|Join event|average score out of 5|4.3"


def test_translations_escape_the_values_they_carry() -> None:
    out = render(
        "{% trans host=h %}Scan or go to <b>{{ host }}</b> and enter{% endtrans %}",
        localised=True,
        headers={"accept-language": "es"},
        h="<script>",
    )
    assert out == "Escanea o entra en <b>&lt;script&gt;</b> e introduce"


def test_js_catalogue_island_is_safe_json() -> None:
    out = render(
        '{{ js_catalogue("screen.js") }}', localised=True, headers={"accept-language": "es"}
    )
    assert out.startswith('<script id="lv-i18n" type="application/json">{')
    assert "</script>" not in out[len("<script") : -len("</script>")]
    assert '"lang": "es"' in out and "Resultados finales" in out


def test_catalogues_ship_with_the_package() -> None:
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    assert "web/locales/*/LC_MESSAGES/*.po" in pyproject.read_text()
    for lang in TRANSLATED:
        assert i18n.po_path(lang).is_file()
