"""The httpx client the tests use, and reading what the API answers (problem+json, SSE)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx


def http_client(base_url: str | httpx.URL, **kw: Any) -> httpx.AsyncClient:
    """A client whose idle connections expire (2 s) before the server's (30 s), so a busy
    machine never sends a request into a keep-alive connection the server is closing."""
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(60.0),
        limits=httpx.Limits(
            max_connections=400, max_keepalive_connections=400, keepalive_expiry=2.0
        ),
        **kw,
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_problem(r: httpx.Response, status: int, type_: str | None = None) -> None:
    """`r` is an RFC 9457 problem with this status (and type, the last path segment)."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    if type_:
        assert r.json()["type"].endswith("/" + type_), r.json()


async def sse_events(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """Parse an SSE response into {"id", "event", "data", "retry", "comment"} dicts."""
    current: dict[str, Any] = {}
    async for line in response.aiter_lines():
        if line == "":
            if current:
                if "data" in current:
                    current["data"] = json.loads(current["data"])
                yield current
            current = {}
            continue
        if line.startswith(":"):
            current["comment"] = line[1:].strip()
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data" and "data" in current:
            current["data"] += "\n" + value
        else:
            current[name] = value
