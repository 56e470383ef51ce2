"""Accounts through the API."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.support.http import bearer

PASSWORD = "password123"  # noqa: S105 (a test account)


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    """Log in; returns the access token."""
    r = await client.post("/api/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    token: str = r.json()["access_token"]
    return token


async def register_user(client: httpx.AsyncClient, name: str | None = None) -> dict[str, Any]:
    """Register and log in a fresh user; returns {"id", "email", "token", "headers"}."""
    name = name or f"u{uuid.uuid4().hex[:10]}"
    email = f"{name}@example.com"
    r = await client.post(
        "/api/auth/register", json={"username": name, "email": email, "password": PASSWORD}
    )
    assert r.status_code == 201, r.text
    token = await login(client, email)
    return {"id": r.json()["id"], "email": email, "token": token, "headers": bearer(token)}
