"""One person, one vote in headless Chromium against a real server.

The host prints voter tickets (the sheet: QR code, join link and ticket per badge, 12 per
A4 page; screenshot and PDF saved in test-artifacts/), a phone claims a ticket by its QR
link and votes, checks its vote in the public ledger, and a second browser with the same
ticket is the same voter: "You already voted".
"""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from tests.support.artifacts import ARTIFACTS
from tests.support.browser import LAPTOP, PHONE, Pages
from tests.support.http import http_client
from tests.support.servers import RunningServer
from tests.support.users import register_user

pytestmark = pytest.mark.browser

WAIT_MS = 10_000
MM = 96 / 25.4  # CSS pixels per millimetre
UNLABELLED = """() => [...document.querySelectorAll("input, select, textarea, button")]
    .filter((el) => el.type !== "hidden" && el.getClientRects().length)
    .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label")
                    && !(el.tagName === "BUTTON" && el.textContent.trim()))
    .map((el) => el.outerHTML)"""


async def test_tickets_sheet_claim_by_qr_vote_check_and_second_phone(
    server: RunningServer, pages: Pages
) -> None:
    async with http_client(server.url) as api:
        host = await register_user(api)
        r = await api.post(
            "/api/events",
            json={
                "title": "Fair Pitch",
                "teams": [{"name": "Aurora"}, {"name": "Borealis"}],
                "admission": "tickets",
            },
            headers=host["headers"],
        )
        assert r.status_code == 201, r.text
        event = r.json()
    eid, code = event["id"], event["code"]

    # The host, signed in, opens the console and follows "Print tickets".
    console = await pages.open(f"{server.url}/host/events/{eid}", host["token"], **LAPTOP)
    await expect(console.locator("#admission-chip")).to_have_text("Tickets")
    await console.get_by_role("link", name="Print tickets").click()
    await console.wait_for_url(re.compile(rf"/host/events/{eid}/tickets$"))
    await console.get_by_label("How many tickets?").fill("3")
    await console.get_by_role("button", name="Create tickets").click()
    cards = console.locator(".ticket-card")
    await expect(cards).to_have_count(3, timeout=WAIT_MS)
    await expect(console.locator("#ticket-counts")).to_have_text(
        "3 tickets issued · 0 claimed", timeout=WAIT_MS
    )
    tickets, urls = [], []
    for i in range(3):
        card = cards.nth(i)
        await expect(card.locator("svg.qr")).to_have_count(1)
        ticket = (await card.locator(".ticket-code").inner_text()).strip()
        url = (await card.locator(".ticket-url").inner_text()).strip()
        assert re.fullmatch(r"([2-9A-HJKMNP-Z]{4}-){3}[2-9A-HJKMNP-Z]{4}", ticket), ticket
        assert url == f"{server.url}/e/{code}?ticket={ticket}"
        title = await card.locator("svg.qr title").text_content() or ""
        assert url in title  # the QR code encodes the join link
        tickets.append(ticket)
        urls.append(url)

    # Print layout: A4, 3 columns x 4 rows = 12 tickets per page.
    await console.emulate_media(media="print")
    await console.set_viewport_size({"width": round(190 * MM), "height": round(277 * MM)})
    box = await cards.first.bounding_box()
    assert box is not None
    per_row = int((190 * MM + 3 * MM) // (box["width"] + 3 * MM))
    per_column = int((277 * MM + 3 * MM) // (box["height"] + 3 * MM))
    assert 8 <= per_row * per_column <= 12, (per_row, per_column, box)
    assert await console.locator("#tickets-form").is_hidden()  # only the sheet prints
    ARTIFACTS.mkdir(exist_ok=True)
    await console.screenshot(path=str(ARTIFACTS / "fairness-tickets-sheet.png"), full_page=True)
    pdf = await console.pdf(path=str(ARTIFACTS / "fairness-tickets.pdf"), format="A4")
    assert pdf.startswith(b"%PDF") and len(re.findall(rb"/Type\s*/Page\b", pdf)) == 1
    await console.emulate_media(media="screen")
    await console.set_viewport_size(LAPTOP["viewport"])

    # The host puts Aurora on stage and opens voting.
    async with http_client(server.url) as api:
        team = event["teams"][0]["id"]
        r = await api.put(
            f"/api/events/{eid}/stage", json={"team_id": team}, headers=host["headers"]
        )
        assert r.status_code == 200
        r = await api.put(f"/api/events/{eid}/voting", json={"open": True}, headers=host["headers"])
        assert r.status_code == 200

    # A phone scans the first ticket's QR code: it joins by itself and votes.
    phone = await pages.open(urls[0], **PHONE)
    await expect(phone.get_by_role("group", name="Your score for Aurora")).to_be_visible(
        timeout=WAIT_MS
    )
    assert "ticket=" not in phone.url  # the ticket left the address bar
    await phone.get_by_label("4 out of 5").check()
    await phone.get_by_role("button", name="Send my score").click()
    await expect(phone.locator("#voted-title")).to_have_text("Thanks — vote received!")
    # Check my vote: the receipt is found in the public ledger (results are live).
    await expect(phone.locator("#check-vote")).to_be_visible()
    await phone.get_by_role("button", name="Check my vote").click()
    await expect(phone.locator("#receipts .found")).to_have_text(
        "Found: vote #1, score 4", timeout=WAIT_MS
    )
    await expect(phone.locator("#check-vote-result")).to_contain_text("1 of 1 vote found")
    await phone.screenshot(path=str(ARTIFACTS / "fairness-phone.png"), full_page=True)

    # A second browser with the same ticket is the same voter.
    second = await pages.open(urls[0], **PHONE)
    await expect(second.locator("#voted-title")).to_have_text("You already voted", timeout=WAIT_MS)
    await expect(second.locator("#voted-detail")).to_have_text("You gave Aurora 4 out of 5.")
    await expect(second.get_by_role("button", name="Send my score")).to_have_count(0)

    # A phone without a ticket cannot join.
    stranger = await pages.open(f"{server.url}/e/{code}", **PHONE)
    await expect(stranger.get_by_label("Your ticket")).to_be_visible(timeout=WAIT_MS)
    await stranger.get_by_role("button", name="Join event").click()
    await expect(stranger.locator("#error")).to_contain_text("ticket", timeout=WAIT_MS)

    # The console: one claimed ticket, one attendee, the ledger's digest.
    await console.goto(f"{server.url}/host/events/{eid}")
    await expect(console.locator("#tickets-counts")).to_have_text(
        "3 tickets issued · 1 claimed", timeout=WAIT_MS
    )
    await expect(console.locator("#ledger-count")).to_have_text("1 vote", timeout=WAIT_MS)
    await expect(console.locator("#ledger-digest")).to_have_text(
        re.compile(r"^[0-9a-f]{12}$"), timeout=WAIT_MS
    )
    # The integrity panel follows the live counts: a second ticket claimed (here through the
    # API) shows without Refresh, within the panel's 3 s throttle (its own timer is 15 s).
    summary = console.locator("#integrity-summary")
    await expect(summary).to_contain_text("1 attendee,", timeout=WAIT_MS)
    async with http_client(server.url) as api:
        r = await api.post("/api/events/join", json={"code": code, "ticket": tickets[2]})
        assert r.status_code == 201, r.text
    await expect(summary).to_contain_text("2 attendees,", timeout=8_000)
    await console.screenshot(path=str(ARTIFACTS / "fairness-console.png"), full_page=True)
    for page in (console, phone, stranger):  # every control of the new panels is labelled
        assert await page.evaluate(UNLABELLED) == [], page.url
    screen = await pages.open(f"{server.url}/screen/{code}", **LAPTOP)
    await expect(screen.locator("#ledger-short")).to_have_text(
        re.compile(r"^[0-9a-f]{12} · 1 vote$"), timeout=WAIT_MS
    )

    # A second sheet of 13 tickets prints on two A4 pages (12 + 1).
    await console.goto(f"{server.url}/host/events/{eid}/tickets")
    await console.get_by_label("How many tickets?").fill("13")
    await console.get_by_role("button", name="Create tickets").click()
    await expect(cards).to_have_count(13, timeout=WAIT_MS)
    await console.emulate_media(media="print")
    pdf = await console.pdf(path=str(ARTIFACTS / "fairness-tickets-13.pdf"), format="A4")
    assert len(re.findall(rb"/Type\s*/Page\b", pdf)) == 2
