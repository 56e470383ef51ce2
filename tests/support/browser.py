"""Debian's chromium, driven by Playwright (its own browser download does not work here):
`launch`, the screens the pages are tried on (PHONE, PROJECTOR, LAPTOP), and `Pages`, the
browser contexts a test opens (tests/e2e/conftest.py has the `browser` and `pages` fixtures)."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Browser, BrowserContext, Page

CHROMIUM = "/usr/bin/chromium"
# Background networking is refused by the closed network of the test machines.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


PHONE: dict[str, Any] = {
    "viewport": {"width": 360, "height": 740},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
}
PROJECTOR: dict[str, Any] = {"viewport": {"width": 1920, "height": 1080}}
LAPTOP: dict[str, Any] = {"viewport": {"width": 1366, "height": 900}}


async def launch(pw: Any) -> Any:
    """A headless Chromium from a started `async_playwright()`."""
    return await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)


class Pages:
    """Browser contexts opened by a test, closed at the end; collects uncaught JS errors."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.contexts: list[BrowserContext] = []
        self.errors: list[str] = []

    async def open(self, url: str, token: str | None = None, **context: Any) -> Page:
        """`url` in a new context (`context`: new_context options, e.g. PHONE); `token`, a
        host's access token, is put where the host console keeps it."""
        ctx = await self.browser.new_context(**context)
        self.contexts.append(ctx)
        if token:
            await ctx.add_init_script(f"localStorage.setItem('lv:host-token', {token!r})")
        page = await ctx.new_page()
        page.on("pageerror", lambda exc: self.errors.append(f"{url}: {exc}"))
        await page.goto(url)
        return page

    async def close(self) -> None:
        for ctx in self.contexts:
            await ctx.close()


# Every page extends base.html, which puts ?v=<asset version> on each static URL (a browser
# never runs a stale script after a deploy): the static URLs on the page that lack it.
UNVERSIONED_ASSETS = """() => [...document.querySelectorAll("script[src], link[href]")]
    .map((el) => el.getAttribute("src") || el.getAttribute("href"))
    .filter((url) => url.startsWith("/static/") && !/[?]v=[0-9a-f]{10}$/.test(url))"""
