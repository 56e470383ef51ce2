"""WCAG 2.2 AA, checked by axe-core in headless Chromium: every page, in every state a person
meets it in, and in each of its languages, has 0 violations. Results are saved as JSON under
test-artifacts/axe/ (one file per page, state and language), screenshots of the translated
phone and screen pages under test-artifacts/i18n/."""

from __future__ import annotations

import os
import re
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from livevote.web.i18n import gettext
from tests.e2e.a11y import run_axe, violations
from tests.support import events
from tests.support.artifacts import ARTIFACTS
from tests.support.browser import LAPTOP, PHONE, PROJECTOR, Pages
from tests.support.http import http_client
from tests.support.polls import new_poll
from tests.support.servers import RunningServer
from tests.support.tallies import create_election, report_body, send
from tests.support.users import register_user

pytestmark = pytest.mark.browser

LANGS = ["en", "fr", "es"]
WAIT_MS = 10_000
SHOTS = ARTIFACTS / "i18n"


@pytest.fixture
def open_page(pages: Pages) -> Any:
    """open_page(url, lang, **context) -> Page in its own context, Accept-Language from
    `lang`; uncaught script errors fail the test."""

    async def open_(url: str, lang: str = "en", **context: Any) -> Page:
        return await pages.open(url, bypass_csp=True, locale=lang, **context)

    return open_


async def assert_accessible(page: Page, name: str) -> None:
    await page.wait_for_timeout(350)  # let transitions settle (contrast is read from pixels)
    found = violations(await run_axe(page, name))
    assert not found, "\n".join(found)


async def live_event(api: httpx.AsyncClient, teams: list[str], **extra: Any) -> dict[str, Any]:
    host, event, _team = await events.live_event(api, teams, title="Demo Day", **extra)
    return {**event, "host": host}


async def cast(api: httpx.AsyncClient, event: dict[str, Any], team: int, score: int) -> None:
    attendee = await events.join(api, event["code"])
    r = await api.post(
        f"/api/events/{event['id']}/votes",
        json={"team_id": event["teams"][team]["id"], "score": score},
        headers=attendee["headers"],
    )
    assert r.status_code == 201, r.text


async def sign_in(page: Page, email: str) -> None:
    await page.evaluate(
        """([email]) => fetch("/api/auth/login", {method: "POST",
        headers: {"Content-Type": "application/json"},
        body: JSON.stringify({email, password: "password123"})})
        .then((r) => r.json()).then((out) => localStorage.setItem("lv:host-token",
                                                                  out.access_token))""",
        [email],
    )
    await page.reload()


@pytest.mark.parametrize("lang", LANGS)
async def test_phone_page(server: RunningServer, open_page: Any, lang: str) -> None:
    async with http_client(server.url) as api:
        event = await live_event(api, ["Aurora Borealis Collective", "Nova"])
        await cast(api, event, 0, 3)
    phone = await open_page(f"{server.url}/e/{event['code']}", lang, **PHONE)
    await expect(phone.locator("#conn")).to_have_attribute("data-status", "live", timeout=WAIT_MS)
    await expect(phone.locator("html")).to_have_attribute("lang", lang)
    await assert_accessible(phone, f"phone-join-{lang}")
    await phone.locator("#join-form button[type=submit]").click()
    await expect(phone.locator("#vote-form")).to_be_visible(timeout=WAIT_MS)
    # Strings drawn by the script come from the page's catalogue too.
    await expect(phone.locator("#vote-submit")).to_have_text(gettext(lang, "Send my score"))
    await expect(phone.locator("#conn .label")).to_have_text(gettext(lang, "Live"))
    await assert_accessible(phone, f"phone-vote-{lang}")
    await phone.locator("label.score-option").nth(3).click()
    SHOTS.mkdir(parents=True, exist_ok=True)
    await phone.screenshot(path=str(SHOTS / f"phone-vote-{lang}.png"), full_page=True)
    await phone.locator("#vote-submit").click()
    await expect(phone.locator("#voted-title")).to_be_visible(timeout=WAIT_MS)
    await expect(phone.locator("#results")).to_be_visible(timeout=WAIT_MS)
    await assert_accessible(phone, f"phone-voted-{lang}")
    await phone.screenshot(path=str(SHOTS / f"phone-voted-{lang}.png"), full_page=True)


@pytest.mark.parametrize("lang", LANGS)
async def test_screen_page(server: RunningServer, open_page: Any, lang: str) -> None:
    async with http_client(server.url) as api:
        event = await live_event(api, ["Aurora Borealis Collective", "Nova", "Orbit"])
        await cast(api, event, 0, 4)
        await cast(api, event, 0, 2)
    screen = await open_page(f"{server.url}/screen/{event['code']}", lang, **PROJECTOR)
    await expect(screen.locator("#conn")).to_have_attribute("data-status", "live", timeout=WAIT_MS)
    await expect(screen.locator(".bar-row")).to_have_count(3)
    await expect(screen.locator("#vote-banner")).to_have_text(
        gettext(lang, "Voting open — vote now!")
    )
    await expect(screen.locator(".stage-tag")).to_have_text(gettext(lang, "on stage"))
    qr_name = gettext(lang, "QR code to join: %(url)s") % {"url": f"{server.url}/e/{event['code']}"}
    await expect(screen.locator('.join-card [role="img"]')).to_have_attribute("aria-label", qr_name)
    await expect(screen.locator("html")).to_have_attribute("lang", lang)
    await assert_accessible(screen, f"screen-live-{lang}")
    SHOTS.mkdir(parents=True, exist_ok=True)
    await screen.screenshot(path=str(SHOTS / f"screen-{lang}.png"))

    async with http_client(server.url) as api:
        r = await api.post(f"/api/events/{event['id']}/end", headers=event["host"]["headers"])
        assert r.status_code == 200, r.text
    await expect(screen.locator("#ended")).to_be_visible(timeout=WAIT_MS)
    await assert_accessible(screen, f"screen-ended-{lang}")


@pytest.mark.parametrize("lang", LANGS)
async def test_feed_page(server: RunningServer, open_page: Any, lang: str) -> None:
    async with http_client(server.url) as api:
        owner = await register_user(api)
        tag = f"t{os.urandom(3).hex()}"
        await new_poll(api, owner["headers"], "Tabs or spaces?", ["Tabs", "Spaces"], [tag])
        await new_poll(api, owner["headers"], "Best city?", ["Lisbon", "Berlin"], [tag])
        me = await register_user(api)
    feed = await open_page(f"{server.url}/feed", lang, viewport={"width": 390, "height": 900})
    await expect(feed.locator("html")).to_have_attribute("lang", lang)
    await assert_accessible(feed, f"feed-signed-out-{lang}")
    # A refused sign-in is told in the page's language (the problem's detail stays English).
    await feed.fill("input[name=email]", me["email"])
    await feed.fill("input[name=password]", "not-the-password")
    await feed.click("#auth-submit")
    await expect(feed.locator("#auth-error")).to_have_text(
        gettext(lang, "Wrong email or password."), timeout=WAIT_MS
    )
    await assert_accessible(feed, f"feed-sign-in-refused-{lang}")
    await sign_in(feed, me["email"])
    await expect(feed.locator("#app")).to_be_visible()
    await feed.fill("input[name=tag]", tag)
    await feed.click("#filters button[type=submit]")
    cards = feed.locator("#feed .card")
    await expect(cards).to_have_count(2, timeout=WAIT_MS)
    await expect(cards.first.locator(".skip")).to_have_text(gettext(lang, "Skip"))
    await cards.first.locator(".option").first.click()
    await expect(cards.first.locator(".pct").first).to_have_text(
        re.compile(r"^100\s?%$"), timeout=WAIT_MS
    )
    await feed.locator("#create summary").click()
    await assert_accessible(feed, f"feed-signed-in-{lang}")
    SHOTS.mkdir(parents=True, exist_ok=True)
    await feed.screenshot(path=str(SHOTS / f"feed-{lang}.png"), full_page=True)


@pytest.mark.parametrize("lang", LANGS)
async def test_not_found_page(server: RunningServer, open_page: Any, lang: str) -> None:
    page = await open_page(f"{server.url}/e/NOPE99", lang)
    await expect(page.locator("h1")).to_be_visible()
    await assert_accessible(page, f"not-found-{lang}")


@pytest.mark.parametrize("lang", LANGS)
async def test_home_page(server: RunningServer, open_page: Any, lang: str) -> None:
    page = await open_page(f"{server.url}/", lang)
    await expect(page.locator("html")).to_have_attribute("lang", lang)
    await assert_accessible(page, f"home-{lang}")


async def test_host_pages(server: RunningServer, open_page: Any) -> None:
    async with http_client(server.url) as api:
        event = await live_event(api, ["Lyra", "Mira"])
        await cast(api, event, 0, 5)
    console = await open_page(f"{server.url}/host", "en", **LAPTOP)
    await expect(console.locator("#signin")).to_be_visible()
    await assert_accessible(console, "host-signed-out-en")
    await sign_in(console, event["host"]["email"])
    await expect(console.locator("#dashboard")).to_be_visible()
    await expect(console.locator("#events li")).to_have_count(1, timeout=WAIT_MS)
    await assert_accessible(console, "host-dashboard-en")
    await console.goto(f"{server.url}/host/events/{event['id']}")
    await expect(console.locator("#team-rows tr")).to_have_count(2, timeout=WAIT_MS)
    await assert_accessible(console, "host-console-en")


async def test_election_screen(server: RunningServer, open_page: Any) -> None:
    async with http_client(server.url) as api:
        u = await register_user(api)
        e = await create_election(api, u["headers"])
        await send(api, e, report_body("r0", "b0", "london", {"tories": 120, "labour": 200}))
    page = await open_page(f"{server.url}/elections/{e['id']}/screen", "en", **LAPTOP)
    await expect(page.locator("#conn")).to_have_attribute("data-status", "live", timeout=WAIT_MS)
    await assert_accessible(page, "election-screen-en")
    await page.locator('.el-city[data-city="london"]').click()
    await expect(page.locator("#back")).to_be_visible()
    await assert_accessible(page, "election-screen-city-en")


async def test_host_sets_the_language_of_the_screen_link(
    server: RunningServer, open_page: Any
) -> None:
    async with http_client(server.url) as api:
        event = await live_event(api, ["Lyra", "Mira"])
    console = await open_page(f"{server.url}/host", "en", **LAPTOP)
    await sign_in(console, event["host"]["email"])
    await console.goto(f"{server.url}/host/events/{event['id']}")
    await console.get_by_label("Language of these links").select_option("es")
    screen_url = f"{server.url}/screen/{event['code']}?lang=es"
    await expect(console.locator("#open-screen")).to_have_attribute("href", screen_url)
    await expect(console.locator("#join-url")).to_have_text(
        f"{server.url}/e/{event['code']}?lang=es"
    )
    await assert_accessible(console, "host-console-link-language-en")
    # A browser that prefers French still gets the host's Spanish.
    screen = await open_page(screen_url, "fr", **PROJECTOR)
    await expect(screen.locator("html")).to_have_attribute("lang", "es")
    await expect(screen.locator("#results-heading")).to_have_text(gettext("es", "Live results"))
    # The choice is remembered for this event in this browser.
    await console.reload()
    await expect(console.get_by_label("Language of these links")).to_have_value("es")
