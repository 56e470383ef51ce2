"""The live event pages in headless Chromium against a real server.

The flow of the issue: the host signs in and creates an event in the console, the projector
screen shows the join QR code and the code, a phone (its own browser context, mobile viewport)
joins and votes once the host has put a team on stage and opened voting, and the screen's bar
for that team moves without a reload. Plus: "already voted" survives a phone reload (even with
localStorage wiped), and the screen reconnects by itself across a server restart.
"""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest
import segno
from playwright.async_api import Page, expect

from livevote.infra.embedded import free_port
from tests.support.artifacts import ARTIFACTS
from tests.support.browser import LAPTOP, PHONE, PROJECTOR, Pages
from tests.support.events import live_event
from tests.support.http import http_client
from tests.support.servers import Backing, RunningServer, settings_for, start_server
from tests.support.users import register_user

pytestmark = pytest.mark.browser

WAIT_MS = 10_000
UNLABELLED = """() => [...document.querySelectorAll("input, select, textarea, button")]
    .filter((el) => el.type !== "hidden" && el.getClientRects().length)
    .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label")
                    && !(el.tagName === "BUTTON" && el.textContent.trim()))
    .map((el) => el.outerHTML)"""


def qr_path(svg: str) -> str:
    match = re.search(r'\sd="([^"]+)"', svg)
    assert match, svg[:200]
    return match.group(1)


async def sign_in_and_create(page: Page, email: str, title: str, teams: list[str]) -> str:
    """Drive /host: sign in, create an event; returns the event id from the console URL."""
    login = page.locator("#login-form")
    await login.get_by_label("Email").fill(email)
    await login.get_by_label("Password").fill("password123")
    await login.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="New event")).to_be_visible()
    await page.get_by_label("Event title").fill(title)
    await page.get_by_label("Teams").fill("\n".join(teams))
    await page.get_by_role("button", name="Create event").click()
    await page.wait_for_url(re.compile(r"/host/events/[0-9a-f]{24}$"))
    return page.url.rsplit("/", 1)[1]


async def test_host_creates_screen_shows_phone_votes_bar_moves(
    server: RunningServer, pages: Pages
) -> None:
    async with http_client(server.url) as api:
        host = await register_user(api)

    # Host console: sign in and create an event in the UI.
    console = await pages.open(f"{server.url}/host", **LAPTOP)
    event_id = await sign_in_and_create(
        console, host["email"], "Pitch Night", ["Aurora", "Borealis", "Comet"]
    )
    code = (await console.locator(".console-title .chip.code").inner_text()).strip()
    assert re.fullmatch(r"[2-9A-HJKMNP-Z]{6}", code), code
    await expect(console.locator("#team-rows tr")).to_have_count(3)
    aurora_id = await console.locator("#team-rows tr", has_text="Aurora").get_attribute(
        "data-team-id"
    )
    assert aurora_id

    # Projector: the QR code encodes <base>/e/<code>, the code is shown in big letters.
    screen = await pages.open(f"{server.url}/screen/{code}", **PROJECTOR)
    qr = screen.locator(".join-card svg.qr")
    await expect(qr).to_have_count(1)
    expected = segno.make(f"{server.url}/e/{code}", error="m").svg_inline(scale=10, border=2)
    assert qr_path(await qr.evaluate("el => el.outerHTML")) == qr_path(expected)
    await expect(screen.locator("#code")).to_have_text(code)
    await expect(screen.locator("#conn")).to_have_attribute("data-status", "live", timeout=WAIT_MS)
    await expect(screen.locator("#stage-team")).to_have_text("Waiting for the next team")
    await screen.evaluate("window.__sameDocument = true")

    # Phone: join before anything is on stage.
    phone = await pages.open(f"{server.url}/e/{code}", **PHONE)
    await phone.get_by_label("Your name").fill("Ada")
    await phone.get_by_role("button", name="Join event").click()
    await expect(phone.get_by_text("Waiting for the next team")).to_be_visible(timeout=WAIT_MS)
    await expect(screen.locator("#attendees")).to_have_text("1", timeout=WAIT_MS)

    # Host puts Aurora on stage and opens voting; screen and phone follow live.
    await console.get_by_role("button", name=re.compile(r"^Put on stage\W+Aurora$")).click()
    await expect(screen.locator("#stage-team")).to_have_text("Aurora", timeout=WAIT_MS)
    await expect(console.locator("#stage-name")).to_have_text("Aurora")
    await console.get_by_role("button", name="Open voting").click()
    await expect(screen.locator("#vote-banner")).to_have_class(re.compile(r"\bopen\b"))
    await expect(console.get_by_role("button", name="Close voting")).to_be_visible()

    bar = screen.locator(f'.bar-row[data-team-id="{aurora_id}"]')
    await expect(bar.locator(".votes")).to_have_text("0 votes")
    assert await bar.locator(".fill").evaluate("el => el.getBoundingClientRect().width") == 0

    # Phone votes 4 out of 5.
    await expect(phone.get_by_role("group", name="Your score for Aurora")).to_be_visible(
        timeout=WAIT_MS
    )
    await phone.get_by_label("4 out of 5").check()
    clicked = time.monotonic()
    await phone.get_by_role("button", name="Send my score").click()
    # The screen's bar moves without a reload: 1 vote, average 4.0, 80 % wide.
    await expect(bar.locator(".votes")).to_have_text("1 vote", timeout=WAIT_MS)
    tap_to_screen = time.monotonic() - clicked
    await expect(phone.locator("#voted-title")).to_have_text("Thanks — vote received!")
    await expect(phone.locator("#voted-detail")).to_have_text("You gave Aurora 4 out of 5.")
    await expect(bar.locator(".avg")).to_have_text("4.0")
    await expect(bar.locator(".fill")).to_have_attribute(
        "style", re.compile(r"width:\s*80%"), timeout=WAIT_MS
    )
    await screen.wait_for_function(
        """sel => {
            const fill = document.querySelector(sel);
            const track = fill.parentElement.getBoundingClientRect().width;
            return Math.abs(fill.getBoundingClientRect().width - 0.8 * track) < 2;
        }""",
        arg=f'.bar-row[data-team-id="{aurora_id}"] .fill',
        timeout=WAIT_MS,
    )
    assert await screen.evaluate("window.__sameDocument === true"), "the screen reloaded"
    await expect(screen.locator("#votes")).to_have_text("1")

    # The host's table follows as well.
    row = console.locator(f'#team-rows tr[data-team-id="{aurora_id}"]')
    await expect(row.locator("td").nth(1)).to_have_text("1", timeout=WAIT_MS)
    await expect(row.locator("td").nth(2)).to_have_text("4.0")

    # Every control is labelled; nothing scrolls sideways on a 360 px phone.
    for page in (phone, console, screen):
        assert await page.evaluate(UNLABELLED) == [], page.url
    # (against the phone's own width: a mobile viewport's innerWidth grows with overflow)
    assert await phone.evaluate(
        f"document.documentElement.scrollWidth <= {PHONE['viewport']['width']}"
    )

    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "event-pages-latency.txt").write_text(
        f"phone tap -> projector bar updated (incl. Playwright polling): {tap_to_screen:.3f} s\n"
    )
    await screen.screenshot(path=str(ARTIFACTS / "screen.png"))
    await phone.screenshot(path=str(ARTIFACTS / "phone.png"), full_page=True)
    await console.screenshot(path=str(ARTIFACTS / "host.png"), full_page=True)

    # Closing voting shows on the phone and the screen.
    await console.get_by_role("button", name="Close voting").click()
    await expect(screen.locator("#vote-banner")).to_have_class(re.compile(r"\bclosed\b"))
    await console.get_by_role("button", name=re.compile(r"^Put on stage\W+Borealis$")).click()
    await expect(phone.get_by_text("Voting is closed")).to_be_visible(timeout=WAIT_MS)
    assert event_id


async def _live_event(
    api: httpx.AsyncClient, teams: list[str], results: str = "live"
) -> dict[str, Any]:
    host, event, _team = await live_event(api, teams, title="Demo Day", results=results)
    return {**event, "host": host}


async def test_phone_reload_after_voting_still_says_already_voted(
    server: RunningServer, pages: Pages
) -> None:
    async with http_client(server.url) as api:
        event = await _live_event(api, ["Nova", "Orbit"])
    phone = await pages.open(f"{server.url}/e/{event['code'].lower()}", **PHONE)
    await phone.get_by_role("button", name="Join event").click()  # no name: optional
    await phone.get_by_label("5 out of 5").check()
    await phone.get_by_role("button", name="Send my score").click()
    await expect(phone.locator("#voted-title")).to_have_text("Thanks — vote received!")

    await phone.reload()
    await expect(phone.locator("#voted-title")).to_have_text("You already voted")
    await expect(phone.locator("#voted-detail")).to_have_text("You gave Nova 5 out of 5.")
    await expect(phone.get_by_role("button", name="Send my score")).to_have_count(0)

    # Even with the browser's storage wiped, the server (HttpOnly cookie) remembers.
    await phone.evaluate("localStorage.clear()")
    await phone.reload()
    await expect(phone.locator("#voted-title")).to_have_text("You already voted")
    await expect(phone.locator("#voted-detail")).to_have_text("You gave Nova 5 out of 5.")
    await expect(phone.locator("#join")).to_be_hidden()
    await expect(phone.get_by_role("button", name="Send my score")).to_have_count(0)


async def test_console_reveals_exports_and_ends(server: RunningServer, pages: Pages) -> None:
    async with http_client(server.url) as api:
        event = await _live_event(api, ["Lyra", "Mira"], results="hidden")
        joined = await api.post("/api/events/join", json={"code": event["code"]})
        assert joined.status_code == 201, joined.text
        r = await api.post(
            f"/api/events/{event['id']}/votes",
            json={"team_id": event["teams"][0]["id"], "score": 3},
            headers={"Authorization": f"Bearer {joined.json()['token']}"},
        )
        assert r.status_code == 201, r.text
    host = event["host"]

    screen = await pages.open(f"{server.url}/screen/{event['code']}", **PROJECTOR)
    await expect(screen.locator("#results-hidden")).to_be_visible()
    await expect(screen.locator(".bar-row")).to_have_count(0)

    # The console keeps its token in localStorage: sign in once through the form.
    console = await pages.open(f"{server.url}/host", **LAPTOP)
    login = console.locator("#login-form")
    await login.get_by_label("Email").fill(host["email"])
    await login.get_by_label("Password").fill("password123")
    await login.get_by_role("button", name="Sign in").click()
    item = console.locator("#events li", has_text="Demo Day")
    await expect(item).to_be_visible()
    await item.get_by_role("link", name="Open").click()
    await console.wait_for_url(f"**/host/events/{event['id']}")

    # The host sees hidden results; the screen does not until they are revealed.
    lyra = console.locator("#team-rows tr", has_text="Lyra")
    await expect(lyra.locator("td").nth(1)).to_have_text("1", timeout=WAIT_MS)
    await expect(lyra.locator("td").nth(2)).to_have_text("3.0")
    await console.get_by_role("button", name="Reveal results").click()
    await expect(screen.locator(".bar-row")).to_have_count(2, timeout=WAIT_MS)
    await expect(screen.locator(".bar-row", has_text="Lyra").locator(".avg")).to_have_text("3.0")
    await expect(console.get_by_role("button", name="Reveal results")).to_be_hidden()

    # Export: fetched with the Bearer token, saved as a file.
    async with console.expect_download() as info:
        await console.get_by_role("button", name="Export CSV").click()
    download = await info.value
    assert download.suggested_filename == f"livevote-{event['code']}.csv"
    text = open(await download.path(), encoding="utf-8").read()  # noqa: ASYNC230
    assert "Lyra" in text and "rank" in text.splitlines()[0]

    # End the event: the console locks, the screen shows final results.
    console.once("dialog", lambda dialog: dialog.accept())
    await console.get_by_role("button", name="End event").click()
    await expect(screen.locator("#ended")).to_be_visible(timeout=WAIT_MS)
    await expect(screen.locator("#results-heading")).to_have_text("Final results")
    await expect(console.get_by_role("button", name="End event")).to_be_disabled()
    await expect(console.locator("#status-chip")).to_have_text("ended")


async def test_screen_reconnects_after_server_restart(stack: Backing, pages: Pages) -> None:
    settings = settings_for(stack)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    srv = start_server(settings, port=port)
    try:
        async with http_client(url) as api:
            event = await _live_event(api, ["Kepler", "Vega"])
        screen = await pages.open(f"{url}/screen/{event['code']}", **PROJECTOR)
        await expect(screen.locator("#conn")).to_have_attribute("data-status", "live")
        await screen.evaluate("window.__sameDocument = true")

        srv.stop()
        await expect(screen.locator("#conn")).to_have_attribute(
            "data-status", "reconnecting", timeout=WAIT_MS
        )
        await expect(screen.locator("#conn")).to_contain_text("Reconnecting")

        # A new process on the same address and data; the host switches teams right away and
        # the screen must catch up on its own.
        srv = start_server(settings, port=port)
        async with http_client(url) as api:
            headers = event["host"]["headers"]
            vega = event["teams"][1]["id"]
            r = await api.put(
                f"/api/events/{event['id']}/stage", json={"team_id": vega}, headers=headers
            )
            assert r.status_code == 200, r.text
        await expect(screen.locator("#conn")).to_have_attribute(
            "data-status", "live", timeout=15_000
        )
        await expect(screen.locator("#stage-team")).to_have_text("Vega", timeout=WAIT_MS)
        assert await screen.evaluate("window.__sameDocument === true")
    finally:
        srv.stop()
