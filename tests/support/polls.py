"""Polls through the API."""

from __future__ import annotations

from typing import Any

import httpx


async def new_poll(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    title: str = "Favourite language?",
    options: list[str] | None = None,
    tags: list[str] | None = None,
) -> dict[str, Any]:
    body = {"title": title, "options": options or ["Go", "Python", "Rust"], "tags": tags or []}
    r = await client.post("/api/polls", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def feed(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    r = await client.get("/api/polls", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json())
