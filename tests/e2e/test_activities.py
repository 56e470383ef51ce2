"""Activities and Q&A in headless Chromium: the console runs all six kinds, three phones
answer, the projector screen follows live; audience questions are asked, upvoted, pinned.
Screenshots go to test-artifacts/activities-*.png."""

from __future__ import annotations

import asyncio
import re

import pytest
from playwright.async_api import Page, expect

from tests.support.activities import EACH_KIND, town_hall
from tests.support.artifacts import ARTIFACTS
from tests.support.browser import LAPTOP, PHONE, PROJECTOR, Pages
from tests.support.http import http_client
from tests.support.servers import RunningServer

pytestmark = pytest.mark.browser

WAIT_MS = 10_000


async def shot(page: Page, name: str, full: bool = False) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.wait_for_timeout(900)  # bars finish growing
    await page.screenshot(path=str(ARTIFACTS / f"activities-{name}.png"), full_page=full)


async def go_live(console: Page, prompt: str) -> None:
    row = console.locator(".act-row", has_text=prompt)
    await row.get_by_role("button", name=re.compile("^(Go live|Reopen)$")).click()
    await expect(row).to_have_class(re.compile(r"\blive\b"), timeout=WAIT_MS)


async def on_phones(phones: list[Page], prompt: str) -> None:
    for p in phones:
        await expect(p.locator("#act-prompt")).to_have_text(prompt, timeout=WAIT_MS)


async def received(phone: Page) -> None:
    await expect(phone.locator("#act-input .state-title")).to_have_text(
        "Answer received", timeout=WAIT_MS
    )


async def open_streams(server: RunningServer) -> dict[str, int]:
    """livevote_sse_streams_open by stream, once it settled (pages connect asynchronously)."""
    found: dict[str, int] = {}
    async with http_client(server.url) as api:
        for _ in range(50):
            metrics = (await api.get("/metrics")).text
            lines = re.findall(
                r'^livevote_sse_streams_open\{stream="(\w+)"\} (\S+)$', metrics, re.M
            )
            found = {name: int(float(v)) for name, v in lines if float(v)}
            if found == {"events": 5}:
                break
            await asyncio.sleep(0.2)
    return found


async def test_six_kinds_and_questions(server: RunningServer, pages: Pages) -> None:
    async with http_client(server.url) as api:
        hall, _ = await town_hall(api, EACH_KIND[1:])  # the console adds the poll itself
    host, eid, code = hall.host, hall.id, hall.event["code"]

    console = await pages.open(f"{server.url}/host/events/{eid}", host["token"], **LAPTOP)
    await expect(console.locator(".act-row")).to_have_count(5, timeout=WAIT_MS)
    # The console adds the poll itself, then moves it to the top of the run sheet.
    form = console.locator("#act-create")
    await form.get_by_label("Kind").select_option("choice")
    await form.get_by_label("Question", exact=True).fill("Lunch: where do we go?")
    await form.get_by_label("Options").fill("Pizza place\nNoodle bar\nSalad bowl")
    await form.get_by_role("button", name="Add activity").click()
    await expect(console.locator(".act-row")).to_have_count(6, timeout=WAIT_MS)
    for place in range(4, -1, -1):
        await console.get_by_role("button", name='Move "Lunch: where do we go?" up').click()
        row = console.locator(".act-row").nth(place)
        await expect(row).to_contain_text("Lunch", timeout=WAIT_MS)

    screen = await pages.open(f"{server.url}/screen/{code}", **PROJECTOR)
    phones = []
    for name in ("Ana", "Ben", "Cy"):
        p = await pages.open(f"{server.url}/e/{code}", **PHONE)
        await p.get_by_label("Your name").fill(name)
        await p.get_by_role("button", name="Join event").click()
        await expect(p.locator("#join")).to_be_hidden(timeout=WAIT_MS)
        phones.append(p)
    ana, ben, cy = phones
    # Each page (console, screen, three phones) reads ONE stream: the event's, whose
    # `activities` frames its activities script shares (LV.live); no second connection.
    assert await open_streams(server) == {"events": 5}

    # 1. choice
    await go_live(console, "Lunch: where do we go?")
    await on_phones(phones, "Lunch: where do we go?")
    for p, pick in zip(phones, ["Noodle bar", "Noodle bar", "Pizza place"], strict=True):
        await p.get_by_label(pick).check()
        await p.get_by_role("button", name="Send my answer").click()
        await received(p)
    await expect(screen.locator("#act-screen-count")).to_have_text("3 answers", timeout=WAIT_MS)
    await expect(screen.locator(".act-bar", has_text="Noodle bar")).to_contain_text("2 · 67%")
    await shot(screen, "screen-choice")
    await shot(ana, "phone-choice", full=True)

    # 2. word cloud: accents and case fold together
    await go_live(console, "One word for this year?")
    await on_phones(phones, "One word for this year?")
    for p, words in zip(
        phones, [["Growth", "Café"], ["growth", "cafe", "focus"], ["GROWTH"]], strict=True
    ):
        for i, w in enumerate(words):
            await p.get_by_label(f"Word {i + 1}").fill(w)
        await p.get_by_role("button", name="Send my answer").click()
        await received(p)
    cloud = screen.locator("svg.act-cloud")
    # Screen readers get the words as a list with their counts; the picture is hidden from them.
    listed = screen.locator(".act-cloud-words li")
    await expect(listed.first).to_have_text(
        re.compile("^Growth: 3 mentions$", re.I), timeout=WAIT_MS
    )
    await expect(listed).to_have_count(3)
    await expect(cloud).to_have_attribute("aria-hidden", "true")
    await expect(cloud.locator("text")).to_have_count(3)
    await shot(screen, "screen-wordcloud")

    # 3. rating
    await go_live(console, "How was the keynote?")
    await on_phones(phones, "How was the keynote?")
    for p, v in zip(phones, [5, 4, 4], strict=True):
        await p.get_by_role("button", name=f"{v} out of 5").click()
        await received(p)
    await expect(screen.locator(".act-average b")).to_have_text("4.3", timeout=WAIT_MS)
    await shot(screen, "screen-rating")

    # 4. open text, moderated: markup shows as text, only once approved
    await go_live(console, "What should we change?")
    await on_phones(phones, "What should we change?")
    texts = ["More <b>coffee</b> breaks", "Shorter meetings", "Nothing, great job"]
    for p, text in zip(phones, texts, strict=True):
        await p.get_by_label("Your answer").fill(text)
        await p.get_by_role("button", name="Send my answer").click()
        await received(p)
    await expect(screen.locator(".act-text")).to_have_count(0)
    await expect(console.locator(".act-text.pending")).to_have_count(3, timeout=WAIT_MS)
    for text in texts[:2]:
        row = console.locator(".act-text", has_text=text)
        await row.get_by_role("button", name="Approve").click()
        await expect(row).to_have_class(re.compile("approved"), timeout=WAIT_MS)
    await expect(screen.locator(".act-text")).to_have_count(2, timeout=WAIT_MS)
    await expect(screen.locator(".act-text").filter(has_text="<b>coffee</b>")).to_have_count(1)
    assert await screen.locator(".act-text b").count() == 0  # never parsed as markup
    await shot(screen, "screen-open")
    await shot(console, "console", full=True)

    # 5. ranking (Borda)
    await go_live(console, "Rank our priorities")
    await on_phones(phones, "Rank our priorities")
    await ana.get_by_role("button", name="Move Customers up").click()  # H C P
    await ana.get_by_role("button", name="Send my ranking").click()
    await received(ana)
    for p in (ben, cy):  # H P C
        await p.get_by_role("button", name="Send my ranking").click()
        await received(p)
    first = screen.locator(".act-bar").first
    await expect(first).to_contain_text("1. Hiring", timeout=WAIT_MS)
    await expect(first).to_contain_text("6 pts")
    await shot(screen, "screen-ranking")

    # 6. quiz: answers hidden until the reveal, then the leaderboard
    await go_live(console, "When was the company founded?")
    await on_phones(phones, "When was the company founded?")
    await expect(screen.locator("#act-screen-timer")).to_be_visible(timeout=WAIT_MS)
    for p, pick in zip(phones, ["2015", "2015", "2012"], strict=True):
        await p.get_by_role("button", name=pick).click()
        await received(p)
    await expect(screen.locator("#act-screen-count")).to_have_text("3 answers", timeout=WAIT_MS)
    await shot(screen, "screen-quiz-open")
    row = console.locator(".act-row", has_text="When was the company founded?")
    await row.get_by_role("button", name="Reveal answer").click()
    await expect(screen.locator(".act-leaders li")).to_have_count(3, timeout=WAIT_MS)
    await expect(screen.locator(".act-leaders li").last).to_contain_text("Cy")
    await expect(ana.get_by_text(re.compile(r"Correct! \+\d+ points"))).to_be_visible(
        timeout=WAIT_MS
    )
    await expect(cy.get_by_text("Not this time — 0 points")).to_be_visible()
    await shot(screen, "screen-quiz-revealed")
    await shot(ana, "phone-quiz", full=True)

    # Q&A: ask, upvote, the screen's side list follows; the host pins one
    await console.locator(".act-row.live").get_by_role("button", name="Close").click()
    await expect(screen.locator("#act-screen")).to_be_hidden(timeout=WAIT_MS)
    await ana.get_by_label("Ask the speaker").fill("Will there be a <i>remote</i> option?")
    await ana.get_by_role("button", name="Send question").click()
    await ben.get_by_label("Ask the speaker").fill("When is the next town hall?")
    await ben.get_by_label("Ask anonymously").check()
    await ben.get_by_role("button", name="Send question").click()
    for p in (ben, cy):
        up = p.get_by_role("button", name="Upvote: Will there be a <i>remote</i> option?")
        await up.click()
        await expect(up).to_be_disabled(timeout=WAIT_MS)
    top = screen.locator("#act-screen-qa .qa-item").first
    await expect(top).to_contain_text("<i>remote</i>", timeout=WAIT_MS)
    await expect(top.locator(".qa-votes b")).to_have_text("2")
    other = console.locator("#qa-host-list .qa-item", has_text="next town hall")
    await other.get_by_role("button", name="Pin").click()
    await expect(screen.locator("#act-screen-qa .qa-item").first).to_contain_text(
        "next town hall", timeout=WAIT_MS
    )
    await expect(screen.locator("#act-screen-final .act-leaders li")).to_have_count(3)
    await shot(screen, "screen-questions")
    await shot(ben, "phone-questions", full=True)
