"""Server-rendered event pages over HTTP (no browser): lookups, 404s, QR code, escaping."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import segno

from tests.support.http import http_client
from tests.support.servers import RunningServer
from tests.support.users import register_user


async def create_event(client: httpx.AsyncClient, title: str = "Demo Day") -> dict[str, Any]:
    host = await register_user(client)
    r = await client.post(
        "/api/events",
        json={"title": title, "teams": [{"name": "Nova"}, {"name": "Orbit"}]},
        headers=host["headers"],
    )
    assert r.status_code == 201, r.text
    return {**r.json(), "host": host}


def embedded_data(html: str) -> dict[str, Any]:
    match = re.search(r'<script id="lv-data" type="application/json">(.*?)</script>', html, re.S)
    assert match, "page data missing"
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def qr_path(html: str) -> str:
    match = re.search(r'<svg[^>]*>.*?\sd="([^"]+)"', html, re.S)
    assert match, "no inline QR svg"
    return match.group(1)


async def test_pages_render_for_a_known_code(client: httpx.AsyncClient) -> None:
    event = await create_event(client)
    code = event["code"]
    for path in (
        f"/e/{code}",
        f"/e/{code.lower()}",
        f"/screen/{code}",
        f"/host/events/{event['id']}",
    ):
        r = await client.get(path)
        assert r.status_code == 200, (path, r.status_code)
        assert r.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in r.headers["content-security-policy"]
        assert r.headers["cache-control"] == "no-store"
        data = embedded_data(r.text)
        assert data["event_id"] == event["id"]
        assert data["event"]["code"] == code
        assert data["max_score"] == 5
        assert [t["name"] for t in data["event"]["teams"]] == ["Nova", "Orbit"]
    for path in ("/", "/host"):
        r = await client.get(path)
        assert r.status_code == 200 and "<form" in r.text


async def test_unknown_code_or_id_is_a_friendly_html_404(client: httpx.AsyncClient) -> None:
    for path in (
        "/e/ZZZZZZ",
        "/screen/ZZZZZZ",
        "/host/events/0123456789abcdef01234567",
        "/host/events/not-an-id",
        "/e/%24where",
    ):
        r = await client.get(path)
        assert r.status_code == 404, path
        assert r.headers["content-type"].startswith("text/html"), path
        assert "problem+json" not in r.headers["content-type"]
        assert "<h1>" in r.text and "Join event" in r.text


async def test_join_form_redirects_to_the_normalised_code(client: httpx.AsyncClient) -> None:
    r = await client.get("/join", params={"code": " ab-c9 "})
    assert r.status_code == 303 and r.headers["location"] == "/e/ABC9"
    r = await client.get("/join", params={"code": ""})
    assert r.status_code == 303 and r.headers["location"] == "/"


async def test_screen_qr_encodes_the_request_base_url(
    server: RunningServer, client: httpx.AsyncClient
) -> None:
    event = await create_event(client)
    r = await client.get(f"/screen/{event['code']}")
    assert '<svg viewBox="0 0 ' in r.text and 'class="qr"' in r.text
    expected = segno.make(f"{server.url}/e/{event['code']}", error="m").svg_inline(
        scale=10, border=2
    )
    assert qr_path(r.text) == qr_path(expected)
    assert event["code"] in r.text


async def test_screen_qr_uses_the_configured_public_url(
    make_server: Callable[..., RunningServer],
) -> None:
    running = make_server(public_url="https://vote.example.org/")
    async with http_client(running.url) as c:
        event = await create_event(c)
        r = await c.get(f"/screen/{event['code']}")
    expected = segno.make(f"https://vote.example.org/e/{event['code']}", error="m")
    assert qr_path(r.text) == qr_path(expected.svg_inline(scale=10, border=2))
    assert "<b>vote.example.org</b>" in r.text


async def test_user_text_is_escaped_in_markup_and_page_data(client: httpx.AsyncClient) -> None:
    event = await create_event(client, title="</script><img src=x onerror=alert(1)>")
    r = await client.get(f"/e/{event['code']}")
    assert "<img src=x" not in r.text
    assert "</script><img" not in r.text
    assert embedded_data(r.text)["event"]["title"] == "</script><img src=x onerror=alert(1)>"


async def test_static_assets_are_served(client: httpx.AsyncClient) -> None:
    for name, kind in (
        ("livevote.css", "text/css"),
        ("livevote.js", "javascript"),
        ("attendee.js", "javascript"),
        ("screen.js", "javascript"),
        ("host.js", "javascript"),
        ("favicon.svg", "image/svg"),
    ):
        r = await client.get(f"/static/{name}")
        assert r.status_code == 200, name
        assert kind in r.headers["content-type"], (name, r.headers["content-type"])
