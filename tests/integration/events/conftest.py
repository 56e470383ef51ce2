"""Live events tests: clients that drop idle connections well before the server does.

uvicorn closes a keep-alive connection after 5 s idle and httpx keeps idle connections for
5 s too, so on a busy machine a request can be written into a connection the server is just
closing (httpx ReadError / "Server disconnected"). Expiring them after 1 s avoids the race.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.conftest import RunningServer


def events_client(base_url: str, **kw: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(60.0),
        limits=httpx.Limits(
            max_connections=400, max_keepalive_connections=400, keepalive_expiry=1.0
        ),
        **kw,
    )


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with events_client(server.url) as c:
        yield c
