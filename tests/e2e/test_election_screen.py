"""The election results screen in headless Chromium: first paint from the page, live updates
over SSE, per-city drill-down."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.support.artifacts import ARTIFACTS
from tests.support.browser import UNVERSIONED_ASSETS
from tests.support.servers import RunningServer
from tests.support.tallies import create_election, report_body, send
from tests.support.users import register_user

pytestmark = pytest.mark.browser


def _rgb(hex_colour: str) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


async def test_results_screen_live(
    browser: Browser, server: RunningServer, client: httpx.AsyncClient
) -> None:
    u = await register_user(client)
    e = await create_election(client, u["headers"])
    await send(client, e, report_body("r0", "b0", "london", {"tories": 120, "labour": 200}))
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{server.url}/elections/{e['id']}/screen")
    await expect(page.locator("#title")).to_have_text(e["name"])
    assert await page.evaluate(UNVERSIONED_ASSETS) == []
    await expect(page.locator("#conn")).to_have_attribute("data-status", "live", timeout=10_000)
    await expect(page.locator("#reported")).to_have_text("1")
    await expect(page.locator("#expected")).to_have_text("670")
    # bars in the election's display order, each party in its own colour, whoever leads
    bars = page.locator(".el-bar")
    assert await bars.evaluate_all("els => els.map(e => e.dataset.party)") == [
        "tories",
        "labour",
        "libdems",
        "reform",
    ]
    await expect(page.locator(".el-bar.lead")).to_have_attribute("data-party", "labour")
    colours = (await client.get(f"/api/elections/{e['id']}")).json()["colours"]
    swatch = page.locator('.el-bar[data-party="labour"] .el-track i')
    assert await swatch.evaluate("e => e.style.background") == _rgb(colours["labour"])

    await send(client, e, report_body("r1", "b1", "edinburgh", {"tories": 500, "libdems": 40}))
    await expect(page.locator(".el-bar.lead")).to_have_attribute(
        "data-party", "tories", timeout=10_000
    )
    await expect(page.locator(".el-bar").first).to_have_attribute("data-party", "tories")
    assert await swatch.evaluate("e => e.style.background") == _rgb(colours["labour"])
    await expect(page.locator("#reported")).to_have_text("2")
    await expect(page.locator("#total")).to_have_text("860")

    await page.locator('.el-city[data-city="edinburgh"]').click()
    await expect(page.locator("#scope")).to_have_text("edinburgh")
    await expect(page.locator("#expected")).to_have_text("30")
    await expect(page.locator("#total")).to_have_text("540")
    await expect(page.locator("#back")).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(Path(ARTIFACTS) / "election-screen.png"), full_page=True)
    await page.locator("#back").click()
    await expect(page.locator("#scope")).to_have_text("National")
    assert errors == []
    await page.close()


async def test_unknown_election_page_is_404(server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as c:
        r = await c.get("/elections/" + "0" * 24 + "/screen")
        assert r.status_code == 404 and "text/html" in r.headers["content-type"]
        assert (await c.get("/elections/garbage/screen")).status_code == 404
