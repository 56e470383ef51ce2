"""The /feed page in headless Chromium: sign in, vote (stats appear), skip (card leaves); one
sign-in shared with the host console."""

from __future__ import annotations

import os
from typing import Any

import httpx
import pytest

from tests.support.artifacts import ARTIFACTS
from tests.support.browser import UNVERSIONED_ASSETS, launch
from tests.support.polls import new_poll
from tests.support.users import register_user

pytestmark = pytest.mark.browser


async def test_feed_page_sign_in_vote_skip(client: httpx.AsyncClient, server: Any) -> None:
    from playwright.async_api import async_playwright, expect

    owner = await register_user(client)
    tag = f"t{os.urandom(2).hex()}"
    polls = [
        await new_poll(client, owner["headers"], t, o, [tag, g])
        for t, o, g in [
            ("Which city should host the next meetup?", ["Lisbon", "Berlin", "Austin"], "events"),
            ("Tabs or spaces?", ["Tabs", "Spaces"], "dev"),
            ("Best way to start a Monday?", ["Coffee", "Tea", "A long run", "Sleep in"], "life"),
        ]
    ]
    fans = [await register_user(client) for _ in range(3)]
    for i, fan in enumerate(fans):
        r = await client.post(
            f"/api/polls/{polls[2]['id']}/vote", json={"optionIndex": i % 2}, headers=fan["headers"]
        )
        assert r.status_code == 201
    me = await register_user(client)
    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as pw:
        browser = await launch(pw)
        try:
            page = await browser.new_page(viewport={"width": 390, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            await page.goto(f"{server.url}/feed")
            await page.fill("input[name=email]", me["email"])
            await page.fill("input[name=password]", "password123")
            await page.click("#auth-submit")
            await page.fill("input[name=tag]", tag)
            await page.click("#filters button[type=submit]")
            cards = page.locator("#feed .card")
            await expect(cards).to_have_count(3)
            await expect(cards.first.locator(".title")).to_have_text(polls[2]["title"])
            # vote: the stats appear in the card
            await cards.first.locator(".option").nth(0).click()
            await expect(cards.first.locator(".status")).to_contain_text("4 votes")
            await expect(cards.first.locator(".pct").nth(0)).to_have_text("75%")
            # skip: the card leaves the feed
            await cards.nth(1).locator(".skip").click()
            await expect(cards).to_have_count(2)
            await page.wait_for_timeout(700)  # let the bars finish growing for the screenshot
            await page.screenshot(path=str(ARTIFACTS / "feed.png"), full_page=True)
            # reload: the voted and skipped polls are gone for good
            await page.reload()
            await page.fill("input[name=tag]", tag)
            await page.click("#filters button[type=submit]")
            await expect(cards).to_have_count(1)
            await expect(cards.first.locator(".title")).to_have_text(polls[0]["title"])
            # sign out, register a new account from the page: its feed has all three polls
            await page.click("#sign-out")
            await page.click("#tab-register")
            await page.fill("input[name=username]", f"newbie{tag}")
            await page.fill("input[name=email]", f"newbie{tag}@example.com")
            await page.fill("input[name=password]", "password123")
            await page.click("#auth-submit")
            await expect(page.locator("#who-name")).to_have_text(f"newbie{tag}")
            await page.fill("input[name=tag]", tag)
            await page.click("#filters button[type=submit]")
            await expect(cards).to_have_count(3)
            assert errors == []
        finally:
            await browser.close()


async def test_one_sign_in_for_host_and_feed(client: httpx.AsyncClient, server: Any) -> None:
    """Signed in on /host means signed in on /feed and back; signing out on one signs out of
    both; a session the feed stored under its old key is taken over once."""
    from playwright.async_api import async_playwright, expect

    me = await register_user(client)
    name = me["email"].split("@")[0]
    tag = f"t{os.urandom(2).hex()}"
    poll = await new_poll(client, me["headers"], "Pineapple on pizza?", ["Yes", "No"], [tag])
    async with async_playwright() as pw:
        browser = await launch(pw)
        try:
            ctx = await browser.new_context(viewport={"width": 1280, "height": 900})
            page = await ctx.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))

            # Sign in on the host console ...
            await page.goto(f"{server.url}/host")
            login = page.locator("#login-form")
            await login.get_by_label("Email").fill(me["email"])
            await login.get_by_label("Password").fill("password123")
            await login.get_by_role("button", name="Sign in").click()
            await expect(page.get_by_role("heading", name="New event")).to_be_visible()
            await expect(page.locator("#account-name")).to_have_text(f"Signed in as {name}")
            assert await page.evaluate(UNVERSIONED_ASSETS) == []

            # ... and the feed is signed in: no second form, the account's own feed loads.
            await page.goto(f"{server.url}/feed")
            await expect(page.locator("#app")).to_be_visible()
            await expect(page.locator("#auth")).to_be_hidden()
            await expect(page.locator("#who-name")).to_have_text(name)
            await page.fill("input[name=tag]", tag)
            await page.click("#filters button[type=submit]")
            await expect(page.locator("#feed .card .title")).to_have_text(poll["title"])
            assert await page.evaluate(UNVERSIONED_ASSETS) == []

            # Signing out on the feed signs the console out too.
            await page.click("#sign-out")
            await expect(page.locator("#auth")).to_be_visible()
            await page.goto(f"{server.url}/host")
            await expect(page.locator("#signin")).to_be_visible()
            await expect(page.locator("#dashboard")).to_be_hidden()

            # And the other way round: sign in on the feed, the console is signed in.
            await page.goto(f"{server.url}/feed")
            await page.fill("input[name=email]", me["email"])
            await page.fill("input[name=password]", "password123")
            await page.click("#auth-submit")
            await expect(page.locator("#who-name")).to_have_text(name)
            await page.goto(f"{server.url}/host")
            await expect(page.locator("#dashboard")).to_be_visible()
            await expect(page.locator("#account-name")).to_have_text(f"Signed in as {name}")

            # A browser that signed in on the old feed (its own key) stays signed in, once.
            old = await browser.new_context()
            legacy = await old.new_page()
            legacy.on("pageerror", lambda e: errors.append(str(e)))
            await legacy.goto(f"{server.url}/feed")
            await expect(legacy.locator("#auth")).to_be_visible()
            session = {"token": me["token"], "email": me["email"], "username": name}
            await legacy.evaluate(
                "s => localStorage.setItem('lv_feed_session', JSON.stringify(s))", session
            )
            await legacy.reload()
            await expect(legacy.locator("#who-name")).to_have_text(name)
            assert await legacy.evaluate("localStorage.getItem('lv_feed_session')") is None
            assert await legacy.evaluate("localStorage.getItem('lv:host-token')") == me["token"]
            await legacy.goto(f"{server.url}/host")
            await expect(legacy.locator("#dashboard")).to_be_visible()
            await old.close()
            await ctx.close()
            assert errors == []
        finally:
            await browser.close()
