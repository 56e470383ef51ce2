"""Forged JWTs: every way a token is commonly forged or broken, for the attack tests."""

from __future__ import annotations

import base64
import hmac
import json
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from livevote.config import DEFAULT_JWT_SECRET


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
            _b64(hmac.new(public_pem, b"x", "sha256").digest()),
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
