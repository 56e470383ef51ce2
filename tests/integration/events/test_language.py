"""An event's language (DESIGN.md "For everyone"): set at creation or by the host, returned in
the event view, spoken by the attendee, screen, juror and ticket pages (web/i18n.py's order:
?lang= > the event's language > Accept-Language > English); a bad value is a 422 and writes
nothing."""

from __future__ import annotations

import re
from typing import Any

import httpx
from bson import ObjectId

from livevote.events.schemas import EVENT_LANGUAGES
from livevote.web.i18n import LANGUAGES
from tests.support.events import new_event
from tests.support.users import register_user


def problem_type(r: httpx.Response) -> str:
    assert r.headers["content-type"].startswith("application/problem+json"), r.text
    return str(r.json()["type"]).rsplit("/", 1)[-1]


def html_lang(r: httpx.Response) -> str:
    assert r.status_code == 200, r.text
    match = re.search(r'<html lang="([a-z]+)">', r.text)
    assert match, r.text[:200]
    return match.group(1)


def test_the_event_languages_are_the_translated_ones() -> None:
    assert set(EVENT_LANGUAGES) == set(LANGUAGES)


async def test_language_set_at_creation_and_returned_in_the_view(
    client: httpx.AsyncClient,
) -> None:
    _host, plain = await new_event(client)
    assert plain["language"] is None  # each browser's own
    _host, ev = await new_event(client, language="fr")
    assert ev["language"] == "fr"
    assert (await client.get(f"/api/events/{ev['id']}")).json()["language"] == "fr"
    assert (await client.get(f"/api/events/by-code/{ev['code']}")).json()["language"] == "fr"
    _host, ev = await new_event(client, language=None)
    assert ev["language"] is None


async def test_a_bad_language_at_creation_is_refused_and_writes_nothing(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    host = await register_user(client)
    for bad in ("de", "FR", "fr-CA", ""):
        body: dict[str, Any] = {
            "title": "Noche de pitches",
            "teams": [{"name": "Uno"}],
            "language": bad,
        }
        r = await client.post("/api/events", json=body, headers=host["headers"])
        assert r.status_code == 422 and problem_type(r) == "validation-error", r.text
        assert "en, fr, es" in r.json()["detail"]
    body = {"title": "Noche de pitches", "language": 3}
    r = await client.post("/api/events", json=body, headers=host["headers"])
    assert r.status_code == 400, r.text  # a wrong type, as everywhere
    assert await server_db["events"].count_documents({"host_id": host["id"]}) == 0
    assert await server_db["teams"].count_documents({"name": "Uno"}) == 0


async def test_host_changes_the_language(client: httpx.AsyncClient, server_db: Any) -> None:
    host, ev = await new_event(client)
    url = f"/api/events/{ev['id']}/language"
    r = await client.put(url, json={"language": "es"}, headers=host["headers"])
    assert r.status_code == 200 and r.json()["language"] == "es", r.text
    for bad in ({"language": "it"}, {"language": "ES"}):
        r = await client.put(url, json=bad, headers=host["headers"])
        assert r.status_code == 422 and problem_type(r) == "validation-error", r.text
    for bad_body in ({"language": 7}, {}, {"language": "es", "extra": 1}):
        r = await client.put(url, json=bad_body, headers=host["headers"])
        assert r.status_code == 400, r.text
    doc = await server_db["events"].find_one({"_id": ObjectId(ev["id"])})
    assert doc["language"] == "es"  # nothing written by the refused ones
    stranger, _ = await new_event(client)
    r = await client.put(url, json={"language": "fr"}, headers=stranger["headers"])
    assert r.status_code == 403 and problem_type(r) == "forbidden"
    r = await client.put(url, json={"language": "fr"})
    assert r.status_code == 401
    assert (await client.get(f"/api/events/{ev['id']}")).json()["language"] == "es"
    # null: back to each browser's own language (stored as "", never as null: NX-27017)
    r = await client.put(url, json={"language": None}, headers=host["headers"])
    assert r.status_code == 200 and r.json()["language"] is None, r.text
    doc = await server_db["events"].find_one({"_id": ObjectId(ev["id"])})
    assert doc["language"] == ""


async def test_pages_speak_the_events_language(client: httpx.AsyncClient) -> None:
    host, ev = await new_event(client, admission="tickets")
    pages = [
        f"/e/{ev['code']}",
        f"/screen/{ev['code']}",
        f"/jury/{ev['id']}",
        f"/host/events/{ev['id']}/tickets",
    ]
    french = {"Accept-Language": "fr-FR,fr;q=0.9"}
    for page in pages:  # no event language: the browser's
        assert html_lang(await client.get(page, headers=french)) == "fr", page
    r = await client.put(
        f"/api/events/{ev['id']}/language", json={"language": "es"}, headers=host["headers"]
    )
    assert r.status_code == 200, r.text
    for page in pages:
        assert html_lang(await client.get(page, headers=french)) == "es", page
        assert html_lang(await client.get(page)) == "es", page
        # a link's ?lang= still wins
        assert html_lang(await client.get(f"{page}?lang=en", headers=french)) == "en", page
    attendee = (await client.get(pages[0], headers=french)).text
    assert "Tu ticket" in attendee and "Unirse al evento" in attendee
    assert "Hojas de puntuación del jurado" in (await client.get(pages[2])).text
    assert "Tickets de votación" in (await client.get(pages[3])).text
    # The host console stays English whatever the event speaks.
    assert html_lang(await client.get(f"/host/events/{ev['id']}", headers=french)) == "en"


async def test_a_duplicate_keeps_the_language(client: httpx.AsyncClient) -> None:
    host, ev = await new_event(client, language="fr")
    r = await client.post(f"/api/events/{ev['id']}/duplicate", headers=host["headers"])
    assert r.status_code == 201, r.text
    assert r.json()["event"]["language"] == "fr"
