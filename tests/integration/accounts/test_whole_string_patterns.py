"""Bounded under abuse, finding 6: patterns used `$`, which matches before a final newline
("alice\\n" registered as a second "alice"), and usernames were unique case-sensitively."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import msgspec
import pytest

from livevote.infra.validation import Email, IdStr, Name, Username


def _body(username: str, email: str | None = None) -> dict[str, str]:
    return {
        "username": username,
        "email": email or f"{uuid.uuid4().hex[:10]}@example.com",
        "password": "password123",
    }


async def test_trailing_newline_is_not_a_second_account(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    name = f"al{uuid.uuid4().hex[:8]}"
    email = f"{name}@example.com"
    assert (await client.post("/api/auth/register", json=_body(name, email))).status_code == 201
    for body in (_body(name + "\n"), _body(name + "2", email + "\n"), _body(name + "\n\n")):
        r = await client.post("/api/auth/register", json=body)
        assert r.status_code == 400, (body, r.status_code, r.text)
    assert await server_db["users"].count_documents({"username_lower": name}) == 1


async def test_usernames_are_unique_case_insensitively(client: httpx.AsyncClient) -> None:
    name = f"Bo{uuid.uuid4().hex[:8]}"
    assert (await client.post("/api/auth/register", json=_body(name))).status_code == 201
    for variant in (name.lower(), name.upper(), name.swapcase()):
        r = await client.post("/api/auth/register", json=_body(variant))
        assert r.status_code == 409, (variant, r.text)
        assert r.json()["type"].endswith("/username-taken")


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (Username, "alice\n"),
        (Email, "a@example.com\n"),
        (IdStr, "abc\n"),
        (Name, "Team A\n"),
    ],
)
def test_shared_patterns_match_whole_strings(kind: Any, value: str) -> None:
    """msgspec applies `pattern` with re.search: every shared pattern ends with \\Z."""
    assert msgspec.convert(value.rstrip("\n"), kind) == value.rstrip("\n")
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(value, kind)
