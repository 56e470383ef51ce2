"""The whole pitch-competition evening in headless Chromium against a real server.

The host sets the criteria, the jury's weight and two jurors in the console; three phones
join and score each team (one row of buttons per criterion); the jurors score every team on
their secret pages; the host locks the jury and reveals the places one by one on the screen
(the phones follow), then opens the printable report. Screenshots of the reveal and the
report, and the report as an A4 PDF, are left in test-artifacts/jury/.

Expected (Pitch × 2, Product × 1, jury 40 %, scale 1–5):
    team      phones    aud   | Grace (P, Pr)  | Linus (P, Pr)  | jury  | final
    Aurora    5, 4, 4   4.33  | 5, 4: 4.67     | 4, 4: 4.00     | 4.33  | 4.33
    Borealis  3, 3, 4   3.33  | 3, 3: 3.00     | 2, 2: 2.00     | 2.50  | 1.00 + 2.00 = 3.00
    Comet     2, 3, 2   2.33  | 5, 5: 5.00     | 5, 4: 4.67     | 4.83  | 1.93 + 1.40 = 3.33
so the reveal runs Borealis (3rd), Comet (2nd), Aurora (winner).
"""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from tests.support.artifacts import ARTIFACTS
from tests.support.browser import LAPTOP, PHONE, PROJECTOR, Pages
from tests.support.http import bearer, http_client
from tests.support.servers import RunningServer
from tests.support.users import register_user

pytestmark = pytest.mark.browser

WAIT_MS = 10_000
OUT = ARTIFACTS / "jury"
TEAMS = ["Aurora", "Borealis", "Comet"]
PHONE_SCORES = {"Aurora": [5, 4, 4], "Borealis": [3, 3, 4], "Comet": [2, 3, 2]}
JURY = {
    "Grace": {"Aurora": (5, 4), "Borealis": (3, 3), "Comet": (5, 5)},
    "Linus": {"Aurora": (4, 4), "Borealis": (2, 2), "Comet": (5, 4)},
}


async def set_up_scoring(console: Page) -> None:
    """Criteria Pitch × 2 and Product × 1, jury weight 40 %, through the console's form."""
    await console.get_by_label("Criterion 1 name").fill("Pitch")
    await console.get_by_label("Criterion 1 weight").fill("2")
    await console.get_by_role("button", name="Add criterion").click()
    await console.get_by_label("Criterion 2 name").fill("Product")
    await console.get_by_label("Criterion 2 weight").fill("1")
    await console.locator("#jury-weight").fill("40")
    await expect(console.locator("#jury-weight-out")).to_have_text("40% jury · 60% audience")
    await console.get_by_role("button", name="Save scoring").click()
    await expect(console.locator("#scoring-form")).to_have_class("saved", timeout=WAIT_MS)


async def add_juror(console: Page, name: str) -> str:
    form = console.locator("#juror-form")
    await form.get_by_label("Juror name").fill(name)
    await form.get_by_role("button", name="Add juror").click()
    link = console.get_by_label(f"Secret link for {name}")
    await expect(link).to_be_visible(timeout=WAIT_MS)
    return await link.input_value()


async def test_the_whole_evening(server: RunningServer, pages: Pages) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    async with http_client(server.url) as api:
        host = await register_user(api)
        r = await api.post(
            "/api/events",
            json={"title": "Demo Day", "teams": [{"name": n} for n in TEAMS], "results": "hidden"},
            headers=host["headers"],
        )
        event = r.json()
    eid, code = event["id"], event["code"]
    token = host["token"]
    console = await pages.open(f"{server.url}/host/events/{eid}", token, **LAPTOP)

    await set_up_scoring(console)
    links = {name: await add_juror(console, name) for name in JURY}
    assert all(f"/jury/{eid}#token=" in link for link in links.values())
    async with http_client(server.url) as api:
        view = (await api.get(f"/api/events/{eid}")).json()
    assert [(c["name"], c["weight"]) for c in view["criteria"]] == [
        ("Pitch", 2.0),
        ("Product", 1.0),
    ]
    assert view["jury_weight"] == 0.4 and view["jurors"] == 2

    screen = await pages.open(f"{server.url}/screen/{code}", **PROJECTOR)
    await expect(screen.locator("#conn")).to_have_attribute("data-status", "live", timeout=WAIT_MS)

    # Three phones join; each team goes on stage in turn and every phone scores it.
    phones = []
    for i in range(3):
        phone = await pages.open(f"{server.url}/e/{code}", **PHONE)
        await phone.get_by_label("Your name").fill(f"Phone {i + 1}")
        await phone.get_by_role("button", name="Join event").click()
        await expect(phone.get_by_text("Waiting for the next team")).to_be_visible(timeout=WAIT_MS)
        phones.append(phone)
    for team in TEAMS:
        on_stage = re.compile(rf"^Put on stage\W+{team}$")
        await console.get_by_role("button", name=on_stage).click()
        await expect(console.locator("#stage-name")).to_have_text(team, timeout=WAIT_MS)
        await console.get_by_role("button", name="Open voting").click()
        await expect(console.get_by_role("button", name="Close voting")).to_be_visible()
        for phone, value in zip(phones, PHONE_SCORES[team], strict=True):
            # one row of score buttons per criterion; each phone gives both the same score
            form = phone.get_by_role("form", name=f"Your scores for {team}")
            await expect(form).to_be_visible(timeout=WAIT_MS)
            await expect(form.get_by_role("group")).to_have_count(2)
            if team == "Aurora" and phone is phones[0]:
                await phone.screenshot(path=str(OUT / "phone-criteria.png"))
            await form.get_by_label(f"Pitch: {value} out of 5").check()
            await form.get_by_label(f"Product: {value} out of 5").check()
            await phone.get_by_role("button", name="Send my scores").click()
            await expect(phone.locator("#voted-title")).to_have_text("Thanks — vote received!")
            await expect(phone.locator("#voted-detail")).to_have_text(
                f"You gave {team} {value} out of 5."
            )
        await console.get_by_role("button", name="Close voting").click()
        await expect(console.get_by_role("button", name="Open voting")).to_be_visible()

    # The jurors score every team on their own pages; the grid fills in.
    jurors = {}
    for name, sheets in JURY.items():
        page = await pages.open(links[name], **PHONE)
        await expect(page.locator("#juror-chip")).to_have_text(f"Juror: {name}", timeout=WAIT_MS)
        assert "token" not in page.url  # the fragment leaves the address bar at once
        for team, (pitch, product) in sheets.items():
            sheet = page.get_by_role("form", name=f"Score sheet for {team}")
            await sheet.get_by_label(f"Pitch: {pitch}").check()
            await sheet.get_by_label(f"Product: {product}").check()
            await sheet.get_by_role("button", name=f"Save {team}").click()
            saved = page.get_by_role("form", name=f"Score sheet for {team}")
            await expect(saved.locator("[data-role=status]")).to_have_text("Saved ✓")
        await expect(page.locator("#jury-progress")).to_have_text("3 of 3 teams scored")
        jurors[name] = page
    await jurors["Grace"].screenshot(path=str(OUT / "juror.png"), full_page=True)
    await expect(console.locator("#jury-grid td.done")).to_have_count(6, timeout=WAIT_MS)

    # The host locks the jury: a late change is refused on the juror's page.
    await console.get_by_role("button", name="Lock jury").click()
    await expect(console.locator("#jury-chip")).to_have_text("Locked")
    grace = jurors["Grace"]
    late = grace.get_by_role("form", name="Score sheet for Comet")
    await late.get_by_label("Pitch: 1").check()
    await late.get_by_role("button", name="Update Comet").click()
    await expect(grace.locator("#jury-locked")).to_be_visible(timeout=WAIT_MS)
    await expect(grace.locator("#error")).to_contain_text("locked")

    # Results are hidden, yet the host's teams table shows the combined results: the same
    # audience, jury, final and rank as the API's (the docstring's table).
    async with http_client(server.url) as api:
        r = await api.get(f"/api/events/{eid}/results", headers=host["headers"])
        hidden = await api.get(f"/api/events/{eid}/results")  # still hidden from everyone else
    assert hidden.status_code == 403
    shown = {}
    for row in r.json()["results"]:
        cells = console.locator(f'#team-rows tr[data-team-id="{row["team_id"]}"] td')
        await expect(cells.nth(4)).to_have_text(f"{row['final']:.2f}", timeout=WAIT_MS)
        shown[row["name"]] = (
            [await cells.nth(i).inner_text() for i in range(1, 6)],
            [
                str(row["votes"]),
                f"{row['average']:.1f}",
                f"{row['jury']['average']:.2f}",
                f"{row['final']:.2f}",
                str(row["rank"]),
            ],
        )
    assert all(seen == api_row for seen, api_row in shown.values()), shown
    assert {name: seen for name, (seen, _) in shown.items()} == {
        "Aurora": ["3", "4.3", "4.33", "4.33", "1"],
        "Borealis": ["3", "3.3", "2.50", "3.00", "3"],
        "Comet": ["3", "2.3", "4.83", "3.33", "2"],
    }
    await console.screenshot(path=str(OUT / "console.png"), full_page=True)

    # The reveal, last place first; the screen and the phones show the same place.
    expected = [("3rd place", "Borealis", "3.00"), ("2nd place", "Comet", "3.33")]
    expected.append(("Winner", "Aurora", "4.33"))
    for n, (place, team, final) in enumerate(expected, start=1):
        await console.get_by_role("button", name="Reveal next place").click()
        card = screen.locator("#reveal-current .reveal-card")
        await expect(card.locator(".reveal-team")).to_have_text(team, timeout=WAIT_MS)
        await expect(card.locator(".reveal-place")).to_have_text(place)
        await expect(card.locator(".reveal-score")).to_have_text(final, timeout=WAIT_MS)
        await expect(screen.locator("#reveal-places li")).to_have_count(n - 1)
        if n == 3:  # the winner, with confetti falling
            await expect(screen.locator("#confetti span").first).to_be_attached()
            await screen.screenshot(path=str(OUT / "reveal-winner.png"))
        for phone in phones:
            await expect(phone.locator("#reveal-current .reveal-team")).to_have_text(
                team, timeout=WAIT_MS
            )
        if n == 2:
            await screen.screenshot(path=str(OUT / "reveal-second.png"))
    await phones[0].screenshot(path=str(OUT / "reveal-phone.png"))
    await expect(console.get_by_role("button", name="Reveal next place")).to_be_disabled()

    # A viewer who prefers reduced motion gets the winner without any confetti.
    calm = await pages.open(f"{server.url}/screen/{code}", reduced_motion="reduce", **PROJECTOR)
    await expect(calm.locator("#reveal-current .reveal-team")).to_have_text("Aurora")
    assert await calm.locator("#confetti span").count() == 0
    await calm.screenshot(path=str(OUT / "reveal-reduced-motion.png"))

    # The report: the console opens it; printed to A4 as well.
    async with console.expect_popup() as popup:
        await console.get_by_role("button", name="Print report").click()
    opened = await popup.value
    await expect(opened.get_by_role("heading", name="Demo Day")).to_be_visible(timeout=WAIT_MS)
    report = await pages.open(
        f"{server.url}/api/events/{eid}/report", extra_http_headers=bearer(token), **LAPTOP
    )
    rows = report.locator("table.standings tbody tr")
    await expect(rows).to_have_count(3)
    assert [await rows.nth(i).locator("td").nth(1).inner_text() for i in range(3)] == [
        "Aurora",
        "Comet",
        "Borealis",
    ]
    await expect(report.locator("svg.chart polyline")).to_have_count(3)
    await report.screenshot(path=str(OUT / "report.png"), full_page=True)
    await report.pdf(path=str(OUT / "report.pdf"), format="A4", print_background=True)
    assert (OUT / "report.pdf").stat().st_size > 10_000
