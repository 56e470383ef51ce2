"""The printed report's integrity section on A4, and the console's Final and Rank columns,
in headless Chromium against a real server.

The report: five windows of one laptop join and vote within seconds (a burst), the host
voids one of them, a juror scores; the report, printed (print media at A4's printable
width and as an A4 PDF, rendered to PNG with pdftoppm), shows the integrity summary without
overflowing the page. Artefacts in test-artifacts/report/.

The console: with results live, every row's audience, jury, final and rank cells follow the
API's results as votes and sheets arrive (through the stream).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.support.artifacts import ARTIFACTS
from tests.support.browser import LAPTOP, Pages
from tests.support.events import join, new_event, open_voting_for
from tests.support.http import bearer, http_client
from tests.support.jury import add_juror, score
from tests.support.servers import RunningServer

pytestmark = pytest.mark.browser

OUT = ARTIFACTS / "report"
WAIT_MS = 10_000
MM = 96 / 25.4  # CSS pixels per millimetre
PRINTABLE_MM = (210 - 2 * 12, 297 - 2 * 14)  # report.css: @page { size: A4; margin: 14mm 12mm }
CRITERIA = [{"name": "Pitch", "weight": 2}, {"name": "Product", "weight": 1}]
OVERFLOWING = """(root) => [...document.querySelectorAll(root + " *")]
    .filter((el) => el.getClientRects().length && el.scrollWidth > el.clientWidth + 1
                    && getComputedStyle(el).overflowX === "visible" && el.clientWidth > 0)
    .map((el) => el.outerHTML.slice(0, 120))"""


async def vote(api: httpx.AsyncClient, eid: str, voter: dict[str, Any], team: str, n: int) -> None:
    body = {"team_id": team, "scores": {"Pitch": n, "Product": n}}
    r = await api.post(f"/api/events/{eid}/votes", json=body, headers=voter["headers"])
    assert r.status_code == 201, r.text


async def test_report_prints_the_integrity_summary_on_a4(
    server: RunningServer, pages: Pages
) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    async with http_client(server.url) as api:
        host, ev = await new_event(api, teams=3, criteria=CRITERIA, max_score=5, jury_weight=0.4)
        eid, teams = ev["id"], [t["id"] for t in ev["teams"]]
        await open_voting_for(api, host, eid, teams[0])
        windows = [await join(api, ev["code"], name=f"Window {i}") for i in range(5)]
        for w in windows:
            await vote(api, eid, w, teams[0], 5)
        await open_voting_for(api, host, eid, teams[1])
        for w in windows[1:3]:
            await vote(api, eid, w, teams[1], 3)
        r = await api.post(
            f"/api/events/{eid}/attendees/{windows[0]['attendee_id']}/void",
            json={"reason": "five private windows on one laptop, voting at once"},
            headers=host["headers"],
        )
        assert r.status_code == 200, r.text
        juror = await add_juror(api, host, eid, "Grace")
        for team, n in zip(teams, (4, 3, 5), strict=True):
            assert (await score(api, juror, eid, team, Pitch=n, Product=n)).status_code == 200
        book = (await api.get(f"/api/events/{eid}/ledger", headers=host["headers"])).json()
        voids = (await api.get(f"/api/events/{eid}/export", headers=host["headers"])).json()
    token = host["headers"]["Authorization"].split()[1]
    width, height = (round(mm * MM) for mm in PRINTABLE_MM)
    report = await pages.open(
        f"{server.url}/api/events/{eid}/report",
        extra_http_headers=bearer(token),
        viewport={"width": width, "height": height},
    )
    await report.emulate_media(media="print")
    section = report.locator("section.integrity")
    await expect(section.get_by_role("heading", name="Integrity")).to_be_visible()
    facts = section.locator(".facts")
    await expect(facts.locator("div", has_text="Voided")).to_contain_text("1")
    await expect(facts.locator("div", has_text="Bursts")).to_contain_text("1")
    await expect(facts.locator(".ledger")).to_contain_text(f"7 votes · {book['short_digest']}")
    void_row = section.locator("table.voids tbody tr")
    await expect(void_row).to_have_count(1)
    await expect(void_row.locator("td").first).to_have_text(voids["voids"][0]["voter"])
    await expect(void_row.locator("td").nth(3)).to_have_text("1")
    assert "Window" not in await report.content()  # no attendee names
    # printed: nothing wider than the printable width, nothing sticking out of its box
    assert await report.evaluate("document.documentElement.scrollWidth") <= width
    assert await report.evaluate(OVERFLOWING, "section.integrity") == []
    box = await section.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width + 1
    await report.screenshot(path=str(OUT / "report-print.png"), full_page=True)
    pdf = await report.pdf(path=str(OUT / "report.pdf"), format="A4", print_background=True)
    pages_in_pdf = len(re.findall(rb"/Type\s*/Page\b", pdf))
    assert 1 <= pages_in_pdf <= 2, pages_in_pdf
    if shutil.which("pdftoppm"):  # the printed pages as images, to look at
        pngs = str(OUT / "report-page")
        command = ["pdftoppm", "-png", "-r", "70", str(OUT / "report.pdf"), pngs]
        await asyncio.to_thread(subprocess.run, command, check=True, timeout=60)


async def console_matches_api(console: Page, api: httpx.AsyncClient, host: Any, eid: str) -> None:
    """Every row of the console's teams table shows the API's audience, jury, final, rank."""
    r = await api.get(f"/api/events/{eid}/results", headers=host["headers"])
    for row in r.json()["results"]:
        cells = console.locator(f'#team-rows tr[data-team-id="{row["team_id"]}"]')
        audience = f"{row['average']:.1f}" if row["votes"] else "–"
        jury = f"{row['jury']['average']:.2f}" if row["jury"]["jurors"] else "–"
        await expect(cells.locator("td.audience")).to_have_text(audience, timeout=WAIT_MS)
        await expect(cells.locator("td.jury")).to_have_text(jury, timeout=WAIT_MS)
        scored = row["votes"] or row["jury"]["jurors"]
        final = f"{row['final']:.2f}" if scored else "–"
        await expect(cells.locator("td.final")).to_have_text(final)
        await expect(cells.locator("td.rank")).to_have_text(str(row["rank"]))


async def test_console_final_and_rank_follow_the_stream(
    server: RunningServer, pages: Pages
) -> None:
    async with http_client(server.url) as api:
        host, ev = await new_event(
            api, teams=3, criteria=CRITERIA, max_score=5, jury_weight=0.4, results="live"
        )
        eid, teams = ev["id"], [t["id"] for t in ev["teams"]]
        token = host["headers"]["Authorization"].split()[1]
        console = await pages.open(f"{server.url}/host/events/{eid}", token=token, **LAPTOP)
        head = console.locator("#team-rows").locator("xpath=..").locator("thead th")
        await expect(head).to_have_text(
            ["Team", "Votes", "Audience average", "Jury average", "Final", "Rank", "Stage"]
        )
        await expect(console.locator("#team-rows td.final")).to_have_text(["–", "–", "–"])
        await expect(console.locator("#conn")).to_have_attribute("data-status", "live")

        await open_voting_for(api, host, eid, teams[0])
        voters = [await join(api, ev["code"]) for _ in range(3)]
        for voter, n in zip(voters, (5, 4, 4), strict=True):
            await vote(api, eid, voter, teams[0], n)
        await open_voting_for(api, host, eid, teams[1])
        await vote(api, eid, voters[0], teams[1], 3)
        await console_matches_api(console, api, host, eid)

        # a juror scores: the jury moves the final scores and the ranking (B overtakes)
        juror = await add_juror(api, host, eid, "Linus")
        for team, n in zip(teams, (1, 5, 4), strict=True):
            assert (await score(api, juror, eid, team, Pitch=n, Product=n)).status_code == 200
        await console_matches_api(console, api, host, eid)
        ranks = (await api.get(f"/api/events/{eid}/results")).json()["results"]
        assert [r["rank"] for r in ranks] == [2, 1, 3]
        OUT.mkdir(parents=True, exist_ok=True)
        await console.screenshot(path=str(OUT / "console-final-rank.png"))
