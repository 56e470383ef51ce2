"""The newsroom evening in headless Chromium: an election created in the console, reports
arriving from the `livevote report` CLI, the dashboard and the results screen updating live,
a correction marked, a key revoked. Screenshots go to test-artifacts/."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.e2e.a11y import run_axe, violations
from tests.support.artifacts import ARTIFACTS
from tests.support.browser import UNVERSIONED_ASSETS
from tests.support.servers import RunningServer
from tests.support.users import register_user

pytestmark = pytest.mark.browser


async def cli(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "livevote",
        "report",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.evaluate("window.scrollTo(0, 0)")  # the sticky top bar stays on top
    await page.screenshot(path=str(Path(ARTIFACTS) / name), full_page=True)


async def test_newsroom_evening(
    browser: Browser, server: RunningServer, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    u = await register_user(client)
    # bypass_csp: axe-core is injected into the pages (tests/e2e/a11y.py)
    context = await browser.new_context(bypass_csp=True, viewport={"width": 1366, "height": 900})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # sign in and create an election in the console (cities pasted as CSV)
    await page.goto(f"{server.url}/")
    await page.get_by_role("link", name="Newsroom").click()
    await page.get_by_label("Email").fill(u["email"])
    await page.get_by_label("Password").fill("password123")
    await page.get_by_role("button", name="Sign in").click()
    await page.locator("#create-form [name=name]").fill("General Election 2026")
    await page.locator("#create-form [name=parties]").fill(
        "Conservative #0087dc\nLabour #e4003b\nLib Dems #faa61a"
    )
    await page.locator("#create-form [name=cities]").fill(
        "city,ballot boxes\nLondon,6\nLeeds,3\nYork,2"
    )
    assert await page.evaluate(UNVERSIONED_ASSETS) == []
    await shot(page, "newsroom-console.png")
    assert violations(await run_axe(page, "newsroom-console")) == []
    await page.get_by_role("button", name="Create election").click()
    await expect(page).to_have_url(re.compile(r"/newsroom/[0-9a-f]{24}$"))
    election_id = page.url.rsplit("/", 1)[1]
    await expect(page.locator("#title")).to_have_text("General Election 2026")
    await expect(page.locator("#new-key")).to_be_visible()
    wide_key = (await page.locator("#new-key-value").text_content() or "").strip()
    assert len(wide_key) >= 40
    await expect(page.locator("#conn")).to_have_attribute("data-status", "live", timeout=10_000)

    # a key for Leeds only
    await page.locator("#key-city").select_option("Leeds")
    await page.get_by_role("button", name="Create key").click()
    await expect(page.locator("#new-key-scope")).to_have_text("It reports for Leeds only.")
    leeds_key = (await page.locator("#new-key-value").text_content() or "").strip()
    assert leeds_key != wide_key
    await expect(page.locator(".nr-keyrow")).to_have_count(2)

    screen = await context.new_page()
    await screen.set_viewport_size({"width": 1600, "height": 900})
    await screen.goto(f"{server.url}/elections/{election_id}/screen")
    await expect(screen.locator("#conn")).to_have_attribute("data-status", "live", timeout=10_000)

    # reports arrive from the CLI tool
    base = ["--url", server.url, "--election", election_id]
    code, out = await cli(
        *base,
        "--key",
        wide_key,
        "--city",
        "London",
        "--box",
        "L-1",
        "Conservative=120",
        "Labour=200",
        "Lib Dems=45",
    )
    assert code == 0 and out.startswith("202"), out
    first_id = out.split()[2]
    boxes = tmp_path / "boxes.csv"
    boxes.write_text(
        "city,box,Conservative,Labour,Lib Dems\nLondon,L-2,90,160,30\nYork,Y-1,140,60,20\n"
    )
    code, out = await cli(*base, "--key", wide_key, "--csv", str(boxes))
    assert code == 0 and out.count("202") == 2, out
    code, out = await cli(
        *base,
        "--key",
        leeds_key,
        "--city",
        "Leeds",
        "--box",
        "D-1",
        "Conservative=70",
        "Labour=130",
    )
    assert code == 0, out
    code, out = await cli(*base, "--key", leeds_key, "--city", "York", "--box", "Y-2", "Labour=1")
    assert code == 1 and "403" in out and "reporter-key-city" in out, out
    code, out = await cli(*base, "--key", wide_key, "--city", "London", "--box", "L-1", "Labour=1")
    assert code == 1 and "409" in out and "box-already-reported" in out, out

    await expect(page.locator("#stat-reported")).to_have_text("4", timeout=10_000)
    await expect(page.locator("#stat-expected")).to_have_text("11")
    await expect(page.locator("#stat-votes")).to_have_text(re.compile(r"^1[,.\s ]?065$"))
    await expect(page.locator(".nr-report")).to_have_count(4)
    await expect(page.locator('#cities tr[data-city="York"] td').nth(1)).to_have_text("1 / 2")
    await expect(page.locator('#cities tr[data-city="York"] .nr-stack i')).to_have_count(3)
    await expect(page.locator("#chart path[data-party]")).to_have_count(3, timeout=10_000)
    await expect(screen.locator("#reported")).to_have_text("4", timeout=10_000)
    colours = await screen.locator(".el-bar .el-track i").evaluate_all(
        "els => els.map(e => getComputedStyle(e).backgroundColor)"
    )
    assert colours == ["rgb(0, 135, 220)", "rgb(228, 0, 59)", "rgb(250, 166, 26)"]

    # a correction from the box: marked on the dashboard, totals move by the difference
    code, out = await cli(
        *base,
        "--key",
        wide_key,
        "--city",
        "London",
        "--box",
        "L-1",
        "--corrects",
        first_id,
        "Conservative=120",
        "Labour=210",
        "Lib Dems=45",
    )
    assert code == 0, out
    await expect(page.locator(".nr-report.correction")).to_have_count(1, timeout=10_000)
    await expect(page.locator(".nr-report.correction .nr-badge")).to_have_text("Correction")
    await expect(page.locator("#stat-votes")).to_have_text(re.compile(r"^1[,.\s ]?075$"))
    await expect(page.locator("#stat-reported")).to_have_text("4")
    await shot(page, "newsroom-dashboard.png")
    assert violations(await run_axe(page, "newsroom-dashboard")) == []

    await screen.locator('.el-city[data-city="London"]').click()
    await expect(screen.locator("#scope")).to_have_text("London")
    await expect(screen.locator("#total")).to_have_text(re.compile(r"^655$"))
    await shot(screen, "newsroom-screen-london.png")
    await screen.locator("#back").click()
    await shot(screen, "newsroom-screen.png")

    # revoke the Leeds key: the next report with it is refused
    await page.get_by_role("button", name=re.compile("Revoke the Leeds key")).click()
    await expect(page.locator(".nr-keyrow.revoked")).to_have_count(1)
    code, out = await cli(*base, "--key", leeds_key, "--city", "Leeds", "--box", "D-2", "Labour=5")
    assert code == 1 and "401" in out and "reporter-key-revoked" in out, out

    # the console lists the election
    await page.get_by_role("link", name="All elections").click()
    await expect(page.locator(".nr-election")).to_have_count(1)
    assert errors == []
    await context.close()
