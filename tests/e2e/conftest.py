"""Browser fixtures (what they are built from is in tests/support/browser.py).

- `browser`: one headless Chromium per module.
- `pages`: the contexts a test opens (`pages.open(url, token=None, **context)`), closed at the
  end; an uncaught script error on any of them fails the test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, async_playwright

from tests.support.browser import Pages, launch


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        b = await launch(pw)
        yield b
        await b.close()


@pytest.fixture
async def pages(browser: Browser) -> AsyncIterator[Pages]:
    p = Pages(browser)
    yield p
    await p.close()
    assert not p.errors, p.errors
