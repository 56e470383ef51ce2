from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.support.users import register_user


async def test_register_login_me(client: httpx.AsyncClient) -> None:
    u = await register_user(client, "alice_1")
    r = await client.get("/api/users/me", headers=u["headers"])
    assert r.status_code == 200
    body = r.json()
    assert body["username"] == "alice_1" and body["email"] == "alice_1@example.com"
    assert "password_hash" not in body and "password" not in body


async def test_concurrent_registrations_one_email(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    async def attempt(i: int) -> httpx.Response:
        return await client.post(
            "/api/auth/register",
            json={"username": f"racer{i}", "email": "race@example.com", "password": "password123"},
        )

    responses = await asyncio.gather(*(attempt(i) for i in range(100)))
    codes = sorted(r.status_code for r in responses)
    assert codes.count(201) == 1 and codes.count(409) == 99, codes
    conflict = next(r for r in responses if r.status_code == 409)
    assert conflict.headers["content-type"].startswith("application/problem+json")
    assert conflict.json()["type"].endswith("/email-taken")
    assert await server_db["users"].count_documents({"email": "race@example.com"}) == 1


async def test_email_is_case_insensitive(client: httpx.AsyncClient) -> None:
    await register_user(client, "casey")
    r = await client.post(
        "/api/auth/register",
        json={"username": "casey2", "email": "CASEY@example.com", "password": "password123"},
    )
    assert r.status_code == 409


async def test_wrong_password_is_401_problem(client: httpx.AsyncClient) -> None:
    u = await register_user(client)
    r = await client.post("/api/auth/login", json={"email": u["email"], "password": "wrongpass1"})
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    r = await client.post(
        "/api/auth/login", json={"email": "nobody@example.com", "password": "x" * 8}
    )
    assert r.status_code == 401
