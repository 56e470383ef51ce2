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
