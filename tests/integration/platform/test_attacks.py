"""Forged credentials and injection attempts are rejected and change nothing."""

from __future__ import annotations

import base64
import json
import time
import warnings
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from livevote.config import DEFAULT_JWT_SECRET
from tests.conftest import RunningServer, register_user


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any], sig: str = "") -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}.{sig}"


def forged_tokens(settings: Any, user_id: str) -> dict[str, str]:
    now = int(time.time())
    good = {
        "sub": user_id,
        "iss": settings.jwt.issuer,
        "aud": settings.jwt.audience,
        "iat": now,
        "exp": now + 600,
    }
    secret = settings.jwt.secret
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    out: dict[str, str] = {
        "alg-none": _unsigned({"alg": "none", "typ": "JWT"}, good),
        "alg-None": _unsigned({"alg": "None", "typ": "JWT"}, good),
        "alg-none-with-sig": _unsigned({"alg": "none"}, good, "AAAA"),
        "wrong-key": jwt.encode(good, "x" * 48, algorithm="HS256"),
        "default-key": jwt.encode(good, DEFAULT_JWT_SECRET + "x", algorithm="HS256"),
        "rs256-own-key": jwt.encode(good, key, algorithm="RS256"),
        "hs-rs-confusion": _unsigned(
            {"alg": "HS256", "typ": "JWT"},
            good,
            _b64(__import__("hmac").new(public_pem, b"x", "sha256").digest()),
        ),
        "hs384": jwt.encode(good, secret, algorithm="HS384"),
        "hs512": jwt.encode(good, secret, algorithm="HS512"),
        "expired": jwt.encode(
            {**good, "iat": now - 7200, "exp": now - 1}, secret, algorithm="HS256"
        ),
        "future-nbf": jwt.encode({**good, "nbf": now + 3600}, secret, algorithm="HS256"),
        "future-iat": jwt.encode({**good, "iat": "tomorrow"}, secret, algorithm="HS256"),
        "wrong-audience": jwt.encode({**good, "aud": "someone-else"}, secret, algorithm="HS256"),
        "attendee-audience": jwt.encode(
            {**good, "aud": settings.jwt.audience + ":attendee", "evt": "e"},
            secret,
            algorithm="HS256",
        ),
        "wrong-issuer": jwt.encode({**good, "iss": "evil"}, secret, algorithm="HS256"),
        "truncated-signature": jwt.encode(good, secret, algorithm="HS256")[:-4],
        "tampered-claims": (
            lambda t: (
                t.split(".")[0]
                + "."
                + _b64(json.dumps({**good, "sub": "000000000000000000000000"}).encode())
                + "."
                + t.split(".")[2]
            )
        )(jwt.encode(good, secret, algorithm="HS256")),
        "garbage": "not-a-token",
        "two-parts": "abc.def",
        "empty-parts": "..",
        "huge": "a" * 10_000,
        "sub-object": jwt.encode({**good, "sub": {"$ne": None}}, secret, algorithm="HS256"),
        "sub-int": jwt.encode({**good, "sub": 5}, secret, algorithm="HS256"),
        "sub-empty": jwt.encode({**good, "sub": ""}, secret, algorithm="HS256"),
        "sub-unknown-user": jwt.encode({**good, "sub": "0" * 24}, secret, algorithm="HS256"),
        "sub-not-objectid": jwt.encode({**good, "sub": "abc"}, secret, algorithm="HS256"),
    }
    for claim in ("exp", "iat", "iss", "aud", "sub"):
        out[f"missing-{claim}"] = jwt.encode(
            {k: v for k, v in good.items() if k != claim}, secret, algorithm="HS256"
        )
    for i, bad_exp in enumerate(["soon", None, [1], {"$gt": 0}]):
        out[f"bad-exp-{i}"] = jwt.encode({**good, "exp": bad_exp}, secret, algorithm="HS256")
    return out


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
