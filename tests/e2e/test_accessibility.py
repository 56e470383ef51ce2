"""WCAG 2.2 AA, checked by axe-core in headless Chromium: every page, in every state a person
meets it in, and in each of its languages, has 0 violations. Results are saved as JSON under
test-artifacts/axe/ (one file per page, state and language), screenshots of the translated
phone, screen, juror and ticket pages under test-artifacts/i18n/."""

from __future__ import annotations

import os
import re
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from livevote.web.i18n import gettext, ngettext
from tests.e2e.a11y import run_axe, violations
from tests.support import events
from tests.support.activities import EACH_KIND, town_hall
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


async def test_host_sets_the_event_language(server: RunningServer, open_page: Any) -> None:
    """The console's Event language is saved with the event: a phone whose browser prefers
    English gets the Spanish attendee page, without any ?lang= in its link."""
    async with http_client(server.url) as api:
        event = await live_event(api, ["Lyra", "Mira"])
    console = await open_page(f"{server.url}/host", "en", **LAPTOP)
    await sign_in(console, event["host"]["email"])
    await console.goto(f"{server.url}/host/events/{event['id']}")
    await expect(console.locator("html")).to_have_attribute("lang", "en")
    async with console.expect_response(lambda r: r.url.endswith("/language")) as answer:
        await console.get_by_label("Event language").select_option("es")
    assert (await answer.value).status == 200
    await expect(console.locator("#announcer")).to_contain_text("Español", timeout=WAIT_MS)
    await assert_accessible(console, "host-console-event-language-en")
    async with http_client(server.url) as api:
        assert (await api.get(f"/api/events/{event['id']}")).json()["language"] == "es"
    phone = await open_page(f"{server.url}/e/{event['code']}", "en", **PHONE)
    await expect(phone.locator("html")).to_have_attribute("lang", "es")
    await expect(phone.locator("#join-form button[type=submit]")).to_have_text(
        gettext("es", "Join event")
    )
    await expect(phone.locator("#conn .label")).to_have_text(gettext("es", "Live"), timeout=WAIT_MS)
    # The console shows the saved choice after a reload.
    await console.reload()
    await expect(console.get_by_label("Event language")).to_have_value("es")


CRITERIA = [{"name": "Pitch", "weight": 2}, {"name": "Product", "weight": 1}]


async def juror_link(api: httpx.AsyncClient, host: dict[str, Any], event_id: str) -> str:
    r = await api.post(
        f"/api/events/{event_id}/jurors", json={"name": "Grace"}, headers=host["headers"]
    )
    assert r.status_code == 201, r.text
    return str(r.json()["link"])


@pytest.mark.parametrize("lang", LANGS)
async def test_juror_page(server: RunningServer, open_page: Any, lang: str) -> None:
    """The juror's score sheets: before scoring, after saving one sheet, and once the host has
    locked the jury, in each language."""
    async with http_client(server.url) as api:
        event = await live_event(api, ["Aurora Borealis Collective", "Nova"], criteria=CRITERIA)
        link = await juror_link(api, event["host"], event["id"])
    juror = await open_page(link, lang, **NARROW_PHONE)  # a juror on a phone at 200 % zoom
    await expect(juror.locator("html")).to_have_attribute("lang", lang)
    sheets = juror.locator("form.sheet")
    await expect(sheets).to_have_count(2, timeout=WAIT_MS)
    await expect(juror.locator("#juror-chip")).to_have_text(
        said(lang, "Juror: {name}", name="Grace")
    )
    progress = ngettext(lang, "{done} of {n} team scored", "{done} of {n} teams scored", 2)
    await expect(juror.locator("#jury-progress")).to_have_text(progress.format(done=0, n=2))
    await check(juror, "juror-sheets", lang)
    first = sheets.first
    await first.get_by_role("button").click()  # nothing picked yet: told what is missing
    await expect(juror.locator("#error")).to_have_text(
        said(
            lang,
            "Give {team} a score for {criterion}.",
            team=event["teams"][0]["name"],
            criterion="Pitch",
        )
    )
    for criterion in ("Pitch", "Product"):
        await first.get_by_label(said(lang, "{criterion}: {n}", criterion=criterion, n="4")).check()
    await first.get_by_role("button").click()
    await expect(sheets.first.locator("[data-role=status]")).to_have_text(
        gettext(lang, "Saved ✓"), timeout=WAIT_MS
    )
    await expect(juror.locator("#jury-progress")).to_have_text(progress.format(done=1, n=2))
    await check(juror, "juror-saved", lang)
    async with http_client(server.url) as api:
        r = await api.put(
            f"/api/events/{event['id']}/jury",
            json={"locked": True},
            headers=event["host"]["headers"],
        )
        assert r.status_code == 200, r.text
    await juror.reload()
    await expect(juror.locator("#jury-locked")).to_be_visible(timeout=WAIT_MS)
    await check(juror, "juror-locked", lang, shot=False)


@pytest.mark.parametrize("lang", LANGS)
async def test_tickets_sheet(server: RunningServer, open_page: Any, lang: str) -> None:
    """The printable sheet of voter tickets (the event speaks `lang`): before and after
    creating a sheet of tickets; each printed ticket says what to do with it."""
    async with http_client(server.url) as api:
        event = await live_event(api, ["Lyra", "Mira"], admission="tickets")
        r = await api.put(
            f"/api/events/{event['id']}/language",
            json={"language": lang},
            headers=event["host"]["headers"],
        )
        assert r.status_code == 200, r.text
    sheet = await open_page(f"{server.url}/host/events/{event['id']}/tickets", "en", **LAPTOP)
    await sign_in(sheet, event["host"]["email"])
    await expect(sheet.locator("html")).to_have_attribute("lang", lang)
    await expect(sheet.locator("#ticket-counts")).not_to_be_empty(timeout=WAIT_MS)
    await check(sheet, "tickets-empty", lang, shot=False)
    await sheet.locator("#ticket-count").fill("6")
    await sheet.get_by_role("button", name=gettext(lang, "Create tickets")).click()
    cards = sheet.locator(".ticket-card")
    await expect(cards).to_have_count(6, timeout=WAIT_MS)
    await expect(cards.first.locator(".ticket-hint")).to_have_text(
        gettext(lang, "Scan to join and vote")
    )
    issued = ngettext(lang, "{n} ticket issued", "{n} tickets issued", 6).format(n=6)
    await expect(sheet.locator("#ticket-counts")).to_contain_text(issued, timeout=WAIT_MS)
    await check(sheet, "tickets-sheet", lang)
    # Printed (12 per A4 page, 66 mm rows), every line of each ticket fits: none is clipped.
    await sheet.emulate_media(media="print")
    clipped = await cards.evaluate_all(
        """els => els.filter((el) => el.scrollHeight > el.clientHeight)
                     .map((el) => `${el.scrollHeight} px in ${el.clientHeight} px`)"""
    )
    assert not clipped, f"printed tickets are clipped: {clipped}"
    await sheet.screenshot(path=str(SHOTS / f"tickets-print-{lang}.png"), full_page=True)


# ---------- activities and audience Q&A ----------

# The phone for activities is 320 px wide (a 640 px phone at 200 % zoom): the longer French and
# Spanish strings must fit without sideways scrolling.
NARROW_PHONE: dict[str, Any] = {**PHONE, "viewport": {"width": 320, "height": 700}}
# A mobile viewport widens itself to overflowing content (innerWidth grows with it): compare the
# page's width with the phone's own.
FITS_THE_PHONE = "document.documentElement.scrollWidth <= 320"
KIND_MSGID = {
    "choice": "Poll",
    "wordcloud": "Word cloud",
    "rating": "Rating",
    "open": "Open question",
    "ranking": "Ranking",
    "quiz": "Quiz",
}
# What the other attendees answer, by kind (their answers fill the visualisations).
CROWD: dict[str, list[dict[str, Any]]] = {
    "choice": [{"options": [0]}, {"options": [1]}],
    "wordcloud": [{"words": ["Croissance", "Équipe"]}, {"words": ["growth", "équipe"]}],
    "rating": [{"value": 5}, {"value": 3}],
    "open": [{"text": "Des pauses café plus longues"}, {"text": "Menos reuniones, por favor"}],
    "ranking": [{"order": [2, 0, 1]}, {"order": [0, 2, 1]}],
    "quiz": [{"option": 1}, {"option": 3}],
}


async def answer_on_phone(phone: Page, kind: str, lang: str) -> None:
    """Answer the live activity the way a person does on the phone page."""
    box = phone.locator("#act-input")
    if kind == "choice":
        await box.locator("input[type=radio]").nth(1).check()
    elif kind == "wordcloud":
        await box.locator("input[type=text]").first.fill("Équipe")
    elif kind == "rating":
        await box.locator(".act-rate").nth(3).click()
    elif kind == "open":
        await box.locator("textarea").fill("Plus de démos en direct")
    elif kind == "quiz":
        await box.locator(".act-quiz-btn").nth(1).click()
    if kind not in ("rating", "quiz"):
        await box.locator("button[type=submit]").click()
    await expect(box.locator(".state-title")).to_have_text(
        gettext(lang, "Answer received"), timeout=WAIT_MS
    )


async def check(page: Page, name: str, lang: str, *, shot: bool = True) -> None:
    """axe at WCAG 2.2 AA, a phone page that fits 320 px and a screen that fits 1080 px, and a
    screenshot to look at."""
    if shot:  # first, so a failing check still leaves the picture to look at
        SHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SHOTS / f"{name}-{lang}.png"), full_page=True)
    await assert_accessible(page, f"{name}-{lang}")
    if page.viewport_size and page.viewport_size["width"] == 320:
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert await page.evaluate(FITS_THE_PHONE), f"{name}-{lang} is {width} px wide"
    if page.viewport_size and page.viewport_size["height"] == 1080:  # a projector doesn't scroll
        height = await page.evaluate("document.documentElement.scrollHeight")
        assert height <= 1080, f"{name}-{lang} is {height} px tall"


def said(lang: str, msgid: str, **values: str) -> str:
    """A message as LV.t fills it in the page's language."""
    return gettext(lang, msgid).format(**values)


@pytest.mark.parametrize("lang", LANGS)
async def test_activities_and_questions(server: RunningServer, open_page: Any, lang: str) -> None:
    """Each activity kind live on the phone (320 px) and the screen, before and after the
    phone answers, with its results shown (the quiz: before and after its answer is revealed,
    with the leaderboard), then the audience questions: 0 axe violations in each language;
    the live regions tell the new activity and the results."""
    async with http_client(server.url) as api:
        hall, made = await town_hall(api, EACH_KIND)
        event, headers, base = hall.event, hall.h, f"/api/events/{hall.id}"
        crowd = [
            (await events.join(api, event["code"], name))["headers"] for name in ("Zoé", "Íñigo")
        ]

    screen = await open_page(f"{server.url}/screen/{event['code']}", lang, **PROJECTOR)
    phone = await open_page(f"{server.url}/e/{event['code']}", lang, **NARROW_PHONE)
    await expect(phone.locator("#conn")).to_have_attribute("data-status", "live", timeout=WAIT_MS)
    await phone.locator("#join-form button[type=submit]").click()
    await expect(phone.locator("#join")).to_be_hidden(timeout=WAIT_MS)

    async with http_client(server.url) as api:
        for activity in made:
            kind, prompt, aid = activity["kind"], activity["prompt"], activity["id"]
            r = await api.put(f"{base}/activity", json={"activity_id": aid}, headers=headers)
            assert r.status_code == 200, r.text
            await expect(phone.locator("#act-prompt")).to_have_text(prompt, timeout=WAIT_MS)
            await expect(screen.locator("#act-screen-prompt")).to_have_text(prompt)
            await expect(phone.locator("#act-kind")).to_have_text(gettext(lang, KIND_MSGID[kind]))
            news = said(
                lang,
                "New activity ({kind}): {prompt}",
                kind=gettext(lang, KIND_MSGID[kind]),
                prompt=prompt,
            )
            await expect(phone.locator("#announcer")).to_contain_text(news, timeout=WAIT_MS)
            await expect(screen.locator("#announcer")).to_contain_text(news, timeout=WAIT_MS)
            await check(phone, f"phone-act-{kind}", lang)
            if kind == "quiz":  # the countdown and the answer tiles, nothing revealed yet
                await expect(screen.locator("#act-screen-timer")).to_be_visible()
                await expect(screen.locator(".act-quiz-tiles li")).to_have_count(4)
                await check(screen, "screen-act-quiz-open", lang)
            for who, body in zip(crowd, CROWD[kind], strict=True):
                r = await api.post(f"{base}/activities/{aid}/responses", json=body, headers=who)
                assert r.status_code == 201, r.text
            await answer_on_phone(phone, kind, lang)

            if kind == "open":  # moderated: the host approves the texts first
                r = await api.get(f"{base}/activities/{aid}/results", headers=headers)
                for text in r.json()["texts"][:2]:
                    r = await api.put(
                        f"{base}/activities/{aid}/responses/{text['id']}",
                        json={"status": "approved"},
                        headers=headers,
                    )
                    assert r.status_code == 200, r.text
            if kind == "quiz":
                r = await api.post(f"{base}/activities/{aid}/reveal", headers=headers)
                assert r.status_code == 200, r.text
                told = said(lang, "The right answer: {answer}.", answer="2015")
                await expect(screen.locator(".act-leaders li")).to_have_count(3, timeout=WAIT_MS)
                # The right answer is marked in words, not only in green.
                right = screen.locator(".act-bar.right")
                await expect(right).to_contain_text("2015")
                await expect(right.locator(".act-badge")).to_contain_text(
                    gettext(lang, "Correct answer")
                )
                await expect(screen.locator(".act-bar.wrong .act-badge")).to_have_count(0)
                correct = gettext(lang, "Correct! +{n} point").split("{n}")[0]
                await expect(phone.locator("#act-input .state-title")).to_contain_text(
                    correct, timeout=WAIT_MS
                )
            else:
                r = await api.put(
                    f"{base}/activities/{aid}/results", json={"visible": True}, headers=headers
                )
                assert r.status_code == 200, r.text
                told = said(lang, "Results are shown: {prompt}", prompt=prompt)
            await expect(phone.locator("#act-view .act-results")).to_be_visible(timeout=WAIT_MS)
            await expect(screen.locator("#act-screen-body .act-results")).to_be_visible()
            await expect(phone.locator("#announcer")).to_contain_text(told, timeout=WAIT_MS)
            await expect(screen.locator("#announcer")).to_contain_text(told, timeout=WAIT_MS)
            if kind == "wordcloud":  # the picture's text alternative: words with their counts
                mentions = ngettext(lang, "{word}: {n} mention", "{word}: {n} mentions", 3)
                before, after = mentions.format(word="\0", n=3).split("\0")
                top = re.compile(f"^{re.escape(before)}[ÉéEe]quipe{re.escape(after)}$")
                await expect(screen.locator(".act-cloud-words li").first).to_have_text(top)
            if kind == "choice":  # bars glide (reduced motion stops them: test_keyboard.py)
                glide = "el => getComputedStyle(el).transitionDuration"
                assert await phone.locator(".act-fill").first.evaluate(glide) != "0s"
            await screen.wait_for_timeout(900)  # the bars finish growing before the picture
            await check(phone, f"phone-act-{kind}-results", lang)
            await check(screen, f"screen-act-{kind}-results", lang)

        # Audience questions: the activity closes, the screen shows the top questions (and the
        # quiz's final leaderboard), the phone lists them with their upvote buttons.
        r = await api.put(f"{base}/activity", json={"activity_id": None}, headers=headers)
        assert r.status_code == 200, r.text
        for who, text in zip(
            crowd, ["Quand aura lieu la prochaine réunion ?", "¿Habrá opción remota?"], strict=True
        ):
            r = await api.post(f"{base}/questions", json={"text": text}, headers=who)
            assert r.status_code == 201, r.text
            qid = r.json()["id"]
        r = await api.post(f"{base}/questions/{qid}/upvote", headers=crowd[0])
        assert r.status_code == 201, r.text
    await expect(screen.locator("#act-screen-qa .qa-item")).to_have_count(2, timeout=WAIT_MS)
    await expect(screen.locator("#act-screen-final .act-leaders")).to_be_visible()
    await expect(phone.locator("#qa-list .qa-item")).to_have_count(2, timeout=WAIT_MS)
    await expect(phone.locator("#qa-list .qa-item").first.locator(".qa-votes")).to_have_text(
        re.compile(r"^1\s*" + re.escape(gettext(lang, "vote")) + "$")
    )
    await check(phone, "phone-questions", lang)
    await check(screen, "screen-questions", lang)
