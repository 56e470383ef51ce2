"""Forged credentials and injection attempts are rejected and change nothing."""

from __future__ import annotations

import warnings
from typing import Any

import httpx
import pytest

from tests.support.servers import RunningServer
from tests.support.tokens import forged_tokens
from tests.support.users import register_user


@pytest.fixture
async def victim(client: httpx.AsyncClient) -> dict[str, Any]:
    return await register_user(client)


async def test_forged_tokens_are_rejected(
    client: httpx.AsyncClient, server: RunningServer, victim: dict[str, Any]
) -> None:
    with warnings.catch_warnings():  # short keys for HS384/512 are part of the forgery
        warnings.simplefilter("ignore")
        tokens = forged_tokens(server.settings, victim["id"])
    assert len(tokens) >= 30
    for name, token in tokens.items():
        r = await client.get("/api/users/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, (name, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/problem+json"), name


@pytest.mark.parametrize(
    "header",
    ["", "Bearer", "Bearer  x y", "Basic dXNlcjpwYXNz", "Token abc", "bearer", "Bearer a b"],
)
async def test_malformed_authorization_headers(client: httpx.AsyncClient, header: str) -> None:
    r = await client.get("/api/users/me", headers={"Authorization": header} if header else {})
    assert r.status_code == 401
    assert r.json()["status"] == 401


async def test_tokens_are_never_accepted_from_urls(
    client: httpx.AsyncClient, victim: dict[str, Any]
) -> None:
    for param in ("access_token", "token", "jwt", "authorization"):
        r = await client.get(f"/api/users/me?{param}={victim['token']}")
        assert r.status_code == 401, param


async def test_valid_token_works(client: httpx.AsyncClient, victim: dict[str, Any]) -> None:
    r = await client.get("/api/users/me", headers=victim["headers"])
    assert r.status_code == 200


OPERATOR_VALUES: list[Any] = [
    {"$gt": ""},
    {"$ne": None},
    {"$regex": ".*"},
    {"$where": "1"},
    ["$gt"],
    {"$in": ["a"]},
    "$gt",
    "$where",
    "$ne@example.com",
    1,
    None,
    True,
    1.5,
    [],
    {},
]


async def test_operator_payloads_rejected_and_nothing_stored(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    before = await server_db["users"].count_documents({})
    tried = 0
    for field in ("username", "email", "password"):
        for value in OPERATOR_VALUES:
            body = {"username": "injector", "email": "inj@example.com", "password": "password123"}
            if field == "password" and isinstance(value, str):
                continue  # a password may be any string: it is only ever hashed
            body[field] = value
            r = await client.post("/api/auth/register", json=body)
            tried += 1
            assert 400 <= r.status_code < 500, (field, value, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
    for value in OPERATOR_VALUES:
        r = await client.post("/api/auth/login", json={"email": value, "password": "password123"})
        assert r.status_code in (400, 401), value
    r = await client.post(
        "/api/auth/register",
        json={
            "username": "x_ok",
            "email": "x@example.com",
            "password": "password123",
            "$set": {"admin": True},
        },
    )
    assert r.status_code == 400 and "$set" in r.text
    r = await client.post(
        "/api/auth/register",
        json={
            "username": "x_ok",
            "email": "x@example.com",
            "password": "password123",
            "role": "admin",
        },
    )
    assert r.status_code == 400
    assert tried >= 30
    assert await server_db["users"].count_documents({}) == before


async def test_bad_bodies(client: httpx.AsyncClient, server_db: Any) -> None:
    before = await server_db["users"].count_documents({})
    huge = {"username": "big", "email": "big@example.com", "password": "p" * 2_000_000}
    r = await client.post("/api/auth/register", json=huge)
    assert r.status_code == 413
    deep = '{"a":' * 20_000 + "1" + "}" * 20_000
    r = await client.post(
        "/api/auth/register", content=deep, headers={"content-type": "application/json"}
    )
    assert 400 <= r.status_code < 500
    for raw in (b"{", b"null", b"[]", b"\xff\xfe", b'{"username": "a"', b""):
        r = await client.post(
            "/api/auth/register", content=raw, headers={"content-type": "application/json"}
        )
        assert 400 <= r.status_code < 500, raw
        assert r.headers["content-type"].startswith("application/problem+json")
    r = await client.post(
        "/api/auth/register", json={"username": "nomail", "password": "password123"}
    )
    assert r.status_code == 400 and "email" in r.json()["detail"]
    assert await server_db["users"].count_documents({}) == before


async def test_unknown_routes_and_methods_are_problems(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/nothing-here")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    r = await client.delete("/api/auth/login")
    assert r.status_code == 405 and r.json()["status"] == 405
