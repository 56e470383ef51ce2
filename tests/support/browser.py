"""Debian's chromium, driven by Playwright (its own browser download does not work here)."""

from __future__ import annotations

from typing import Any

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


async def launch(pw: Any) -> Any:
    """A headless Chromium from a started `async_playwright()`."""
    return await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)


# Every page extends base.html, which puts ?v=<asset version> on each static URL (a browser
# never runs a stale script after a deploy): the static URLs on the page that lack it.
UNVERSIONED_ASSETS = """() => [...document.querySelectorAll("script[src], link[href]")]
    .map((el) => el.getAttribute("src") || el.getAttribute("href"))
    .filter((url) => url.startsWith("/static/") && !/[?]v=[0-9a-f]{10}$/.test(url))"""
