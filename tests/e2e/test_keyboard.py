"""Keyboard alone, and small screens: a phone joins and votes with Tab, Enter and Space (arrow
keys move within the score radio group, as in any radio group); the host puts a team on stage
and opens and closes voting the same way; every focused control shows a visible focus ring;
the stage change and the vote reach screen readers through the live region; the phone page
has no sideways scroll at 320 px wide (= a 640 px phone at 200 % zoom) in every language;
`prefers-reduced-motion` stops the bars and the live dot from moving."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Page, expect

from livevote.web.i18n import LANGUAGES, gettext
from tests.support import events
from tests.support.artifacts import ARTIFACTS
from tests.support.browser import Pages
from tests.support.http import http_client
from tests.support.servers import RunningServer

pytestmark = pytest.mark.browser

WAIT_MS = 10_000
NARROW: dict[str, Any] = {
    "viewport": {"width": 320, "height": 640},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
}

# What the focused element shows: focus-visible must match, and the element (or, for the
# visually hidden radio inputs, the score face after it) must draw an outline or a ring.
FOCUS = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const drawn = (node) => {
    if (!node) return false;
    const s = getComputedStyle(node);
    const outline = s.outlineStyle !== "none" && parseFloat(s.outlineWidth) >= 2;
    return outline || (s.boxShadow && s.boxShadow !== "none");
  };
  const r = el.getBoundingClientRect();
  return {
    tag: el.tagName.toLowerCase(),
    id: el.id,
    name: (el.getAttribute("aria-label") || el.textContent || el.value || "").trim(),
    type: el.type || "",
    visible: el.matches(":focus-visible") &&
             (drawn(el) || (el.type === "radio" && drawn(el.nextElementSibling))),
    onScreen: r.bottom > 0 && r.right > 0 && r.top < innerHeight && r.left < innerWidth
              || el.type === "radio",
  };
}"""
# A mobile viewport widens itself to overflowing content (innerWidth grows with it, so
# `scrollWidth <= innerWidth` always holds): every check compares the page's width with the
# phone's own 320 px.
FITS_320 = "document.documentElement.scrollWidth <= 320"


@pytest.fixture
def open_page(pages: Pages) -> Any:
    """open_page(url, **context) -> Page (tests/e2e/conftest.py: `pages`)."""
    return pages.open


async def tab_to(page: Page, matches: Any, limit: int = 40) -> dict[str, Any]:
    """Press Tab until the focused element satisfies `matches`; every element passed on the way
    must show its focus. Returns the focused element's description."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        focused = await page.evaluate(FOCUS)
        assert focused is not None, "focus left the page"
        assert focused["visible"], f"no visible focus on {focused}"
        if matches(focused):
            return dict(focused)
    raise AssertionError(f"never reached the control after {limit} Tabs")


async def new_event(api: Any, teams: list[str]) -> dict[str, Any]:
    host, event = await events.new_event(api, teams, title="Keyboard Night")
    return {**event, "host": host}


async def test_phone_join_and_vote_by_keyboard(server: RunningServer, open_page: Any) -> None:
    async with http_client(server.url) as api:
        event = await new_event(api, ["Aurora", "Nova"])
        aurora = event["teams"][0]["id"]
        await events.open_voting_for(api, event["host"], event["id"], aurora)

    phone = await open_page(f"{server.url}/e/{event['code']}", **NARROW)
    await expect(phone.locator("#conn")).to_have_attribute("data-status", "live", timeout=WAIT_MS)

    # The first Tab reaches the skip link, shown on screen; Enter moves to the content.
    skip = await tab_to(phone, lambda f: True, limit=1)
    assert skip["name"] == "Skip to content" and skip["onScreen"], skip
    await phone.keyboard.press("Enter")
    assert phone.url.endswith("#main")

    await tab_to(phone, lambda f: f["id"] == "join-name")
    await phone.keyboard.type("Ada")
    await tab_to(phone, lambda f: f["name"] == "Join event")
    await phone.keyboard.press("Enter")
    await expect(phone.locator("#vote-form")).to_be_visible(timeout=WAIT_MS)
    await expect(phone.locator("#announcer")).to_have_text(
        "You joined. Aurora is on stage.", timeout=WAIT_MS
    )

    # Into the score group: Space picks the focused score, arrows move within the group.
    first = await tab_to(phone, lambda f: f["type"] == "radio")
    assert first["name"] == "1 out of 5", first
    await phone.keyboard.press("Space")
    await expect(phone.get_by_label("1 out of 5")).to_be_checked()
    for _ in range(3):
        await phone.keyboard.press("ArrowRight")
    await expect(phone.get_by_label("4 out of 5")).to_be_checked()
    focused = await phone.evaluate(FOCUS)
    assert focused["visible"], focused
    await tab_to(phone, lambda f: f["id"] == "vote-submit")
    await phone.keyboard.press("Enter")
    await expect(phone.locator("#voted-detail")).to_have_text(
        "You gave Aurora 4 out of 5.", timeout=WAIT_MS
    )
    await expect(phone.locator("#announcer")).to_contain_text(
        "Vote received: 4 out of 5 for Aurora.", timeout=WAIT_MS
    )
    assert await phone.evaluate(FITS_320)


async def test_host_stage_and_voting_by_keyboard(server: RunningServer, open_page: Any) -> None:
    async with http_client(server.url) as api:
        event = await new_event(api, ["Lyra", "Mira"])
    host = event["host"]
    console = await open_page(f"{server.url}/host", viewport={"width": 1280, "height": 900})
    screen = await open_page(f"{server.url}/screen/{event['code']}")
    await expect(screen.locator("#conn")).to_have_attribute("data-status", "live", timeout=WAIT_MS)

    # Sign in with the keyboard.
    await tab_to(console, lambda f: f["tag"] == "input" and f["type"] == "email")
    await console.keyboard.type(host["email"])
    await tab_to(console, lambda f: f["type"] == "password")
    await console.keyboard.type("password123")
    await console.keyboard.press("Enter")
    await expect(console.locator("#dashboard")).to_be_visible(timeout=WAIT_MS)

    # Open the event from the list: a link, followed with Enter.
    await tab_to(console, lambda f: f["tag"] == "a" and f["name"] == "Open", limit=60)
    await console.keyboard.press("Enter")
    await console.wait_for_url(f"**/host/events/{event['id']}")
    await expect(console.locator("#team-rows tr")).to_have_count(2, timeout=WAIT_MS)

    # Put Mira on stage (Enter), open voting (Space), close it again (Enter).
    await tab_to(console, lambda f: bool(re.fullmatch(r"Put on stage\W+Mira", f["name"])))
    await console.keyboard.press("Enter")
    await expect(console.locator("#stage-name")).to_have_text("Mira", timeout=WAIT_MS)
    await expect(screen.locator("#stage-team")).to_have_text("Mira", timeout=WAIT_MS)
    await expect(screen.locator("#announcer")).to_have_text("Mira is on stage.")
    await expect(console.locator("#announcer")).to_have_text("Mira is on stage.")

    # The pressed button is gone (Mira is on stage): focus moves on to the voting toggle.
    focused = await console.evaluate(FOCUS)
    assert focused["id"] == "voting-toggle" and focused["visible"], focused
    await console.keyboard.press("Space")
    await expect(console.get_by_role("button", name="Close voting")).to_be_visible(timeout=WAIT_MS)
    await expect(screen.locator("#vote-banner")).to_have_class(re.compile(r"\bopen\b"))
    await expect(screen.locator("#announcer")).to_have_text("Voting is open.")
    focused = await console.evaluate(FOCUS)
    assert focused["id"] == "voting-toggle" and focused["visible"], focused
    await console.keyboard.press("Enter")
    await expect(console.get_by_role("button", name="Open voting")).to_be_visible(timeout=WAIT_MS)
    await expect(screen.locator("#vote-banner")).to_have_class(re.compile(r"\bclosed\b"))
    await expect(screen.locator("#announcer")).to_have_text("Voting is closed.")


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_phone_at_320px_in_every_language(
    server: RunningServer, open_page: Any, lang: str
) -> None:
    async with http_client(server.url) as api:
        event = await new_event(api, ["The Extraordinarily Long-Named Collective", "Nova"])
        await events.open_voting_for(api, event["host"], event["id"], event["teams"][0]["id"])
    phone = await open_page(f"{server.url}/e/{event['code']}?lang={lang}", **NARROW)
    await expect(phone.locator("html")).to_have_attribute("lang", lang)
    assert await phone.evaluate(FITS_320), "join form scrolls sideways"
    await phone.locator("#join-form button[type=submit]").click()
    await expect(phone.locator("#vote-submit")).to_have_text(gettext(lang, "Send my score"))
    assert await phone.evaluate(FITS_320), "score form scrolls sideways"
    # Every score stays on screen and at least 44 px square (a thumb, not a stylus).
    boxes = await phone.locator("label.score-option").evaluate_all(
        "els => els.map((el) => el.getBoundingClientRect().toJSON())"
    )
    assert len(boxes) == 5
    for box in boxes:
        assert box["left"] >= 0 and box["right"] <= 320, box
        assert box["width"] >= 44 and box["height"] >= 44, box
    await phone.locator("label.score-option").nth(4).click()
    await phone.locator("#vote-submit").click()
    await expect(phone.locator("#voted-title")).to_be_visible(timeout=WAIT_MS)
    assert await phone.evaluate(FITS_320), "thank-you card scrolls sideways"
    shots = ARTIFACTS / "i18n"
    shots.mkdir(parents=True, exist_ok=True)
    await phone.screenshot(path=str(shots / f"phone-320-{lang}.png"), full_page=True)


async def test_reduced_motion_is_respected(server: RunningServer, open_page: Any) -> None:
    async with http_client(server.url) as api:
        event = await new_event(api, ["Vega", "Deneb"])
    motion = "([sel, prop]) => getComputedStyle(document.querySelector(sel))[prop]"
    calm = await open_page(f"{server.url}/screen/{event['code']}", reduced_motion="reduce")
    await expect(calm.locator(".bar-row")).to_have_count(2, timeout=WAIT_MS)
    await expect(calm.locator("#conn")).to_have_attribute("data-status", "live", timeout=WAIT_MS)
    assert await calm.evaluate(motion, [".bar-row .fill", "transitionDuration"]) == "0s"
    assert await calm.evaluate(motion, ["#conn .dot", "animationName"]) == "none"
    # Without the preference the bars do glide and the live dot pulses (the check can fail).
    lively = await open_page(f"{server.url}/screen/{event['code']}")
    await expect(lively.locator("#conn")).to_have_attribute("data-status", "live", timeout=WAIT_MS)
    assert await lively.evaluate(motion, [".bar-row .fill", "transitionDuration"]) != "0s"
    assert await lively.evaluate(motion, ["#conn .dot", "animationName"]) != "none"


async def from_the_top(page: Page) -> None:
    """Start again from the page's first stop, the skip link (a new activity replaced the
    controls that had the focus), and follow it into the content with Enter."""
    await page.locator(".skip-link").focus()
    await page.keyboard.press("Enter")


async def test_phone_answers_activities_and_upvotes_by_keyboard(
    server: RunningServer, open_page: Any
) -> None:
    """At 320 px with Tab, Space, Enter (and arrows inside the radio group): answer a poll and a
    rating, upvote a question; every stop shows its focus; the live region tells the new
    activity and the answer; the results' bars don't move under prefers-reduced-motion."""
    async with http_client(server.url) as api:
        event = await new_event(api, ["Aurora"])
        headers = event["host"]["headers"]
        base = f"/api/events/{event['id']}"
        made = []
        for spec in (
            {"kind": "choice", "prompt": "Lunch?", "options": ["Pizza", "Noodles", "Salad"]},
            {"kind": "rating", "prompt": "How was the keynote?", "scale": 5},
        ):
            r = await api.post(f"{base}/activities", json=spec, headers=headers)
            assert r.status_code == 201, r.text
            made.append(r.json())
        poll, rating = made
        r = await api.put(
            f"{base}/activities/{poll['id']}/results", json={"visible": True}, headers=headers
        )
        assert r.status_code == 200, r.text

    phone = await open_page(f"{server.url}/e/{event['code']}", reduced_motion="reduce", **NARROW)
    await expect(phone.locator("#conn")).to_have_attribute("data-status", "live", timeout=WAIT_MS)
    await tab_to(phone, lambda f: f["name"] == "Join event")
    await phone.keyboard.press("Enter")
    await expect(phone.locator("#join")).to_be_hidden(timeout=WAIT_MS)

    async with http_client(server.url) as api:
        r = await api.put(f"{base}/activity", json={"activity_id": poll["id"]}, headers=headers)
        assert r.status_code == 200, r.text
    await expect(phone.locator("#act-prompt")).to_have_text("Lunch?", timeout=WAIT_MS)
    await expect(phone.locator("#announcer")).to_contain_text("New activity (Poll): Lunch?")
    # Into the options (a radio group): Space picks, an arrow moves to the next option.
    await from_the_top(phone)
    await tab_to(phone, lambda f: f["type"] == "radio")
    await phone.keyboard.press("Space")
    await expect(phone.get_by_label("Pizza")).to_be_checked()
    await phone.keyboard.press("ArrowDown")
    await expect(phone.get_by_label("Noodles")).to_be_checked()
    focused = await phone.evaluate(FOCUS)
    assert focused["visible"], focused
    await tab_to(phone, lambda f: f["name"] == "Send my answer")
    await phone.keyboard.press("Enter")
    await expect(phone.locator("#act-input .state-title")).to_have_text(
        "Answer received", timeout=WAIT_MS
    )
    await expect(phone.locator("#announcer")).to_contain_text("Answer received")
    bar = phone.locator(".act-bar", has_text="Noodles")
    await expect(bar).to_contain_text("1 · 100%", timeout=WAIT_MS)
    motion = "el => getComputedStyle(el).transitionDuration"
    assert await bar.locator(".act-fill").evaluate(motion) == "0s"
    assert await phone.evaluate(FITS_320), "poll results scroll sideways"

    async with http_client(server.url) as api:
        r = await api.put(f"{base}/activity", json={"activity_id": rating["id"]}, headers=headers)
        assert r.status_code == 200, r.text
        asker = await api.post("/api/events/join", json={"code": event["code"]})
        assert asker.status_code == 201, asker.text
        api.cookies.clear()
        r = await api.post(
            f"{base}/questions",
            json={"text": "Is there a recording?"},
            headers={"Authorization": f"Bearer {asker.json()['token']}"},
        )
        assert r.status_code == 201, r.text
    await expect(phone.locator("#act-prompt")).to_have_text("How was the keynote?", timeout=WAIT_MS)
    await expect(phone.locator("#announcer")).to_contain_text(
        "New activity (Rating): How was the keynote?"
    )
    await from_the_top(phone)
    await tab_to(phone, lambda f: f["name"] == "4 out of 5")
    await phone.keyboard.press("Enter")
    await expect(phone.locator("#act-input .state-title")).to_have_text(
        "Answer received", timeout=WAIT_MS
    )
    assert await phone.evaluate(FITS_320), "rating scrolls sideways"

    # The question from the room: upvoted with Space.
    upvote = phone.get_by_role("button", name="Upvote: Is there a recording?")
    await expect(upvote).to_be_enabled(timeout=WAIT_MS)
    await from_the_top(phone)
    await tab_to(phone, lambda f: f["name"] == "Upvote: Is there a recording?", limit=60)
    await phone.keyboard.press("Space")
    await expect(upvote).to_be_disabled(timeout=WAIT_MS)
    await expect(phone.locator("#qa-list .qa-votes b")).to_have_text("1")
    assert await phone.evaluate(FITS_320), "questions scroll sideways"
