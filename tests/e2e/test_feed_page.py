"""The /feed page in headless Chromium: sign in, vote (stats appear), skip (card leaves)."""

from __future__ import annotations

import os
from typing import Any

import httpx
import pytest

from tests.support.artifacts import ARTIFACTS
from tests.support.browser import launch
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
