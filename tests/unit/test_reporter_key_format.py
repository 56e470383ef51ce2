"""A reporter key never starts with "-": `livevote report --key <key>` would read it as an
option (argparse: "expected one argument"), as the newsroom evening test did once in CI when
token_urlsafe drew a leading "-" (one key in 64)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from livevote.tallies import credentials
from livevote.tallies.keys import hash_key


def test_a_key_drawn_with_a_leading_dash_is_drawn_again(monkeypatch: pytest.MonkeyPatch) -> None:
    draws: Iterator[str] = iter(["-starts-with-a-dash", "--again", "fine-key"])
    monkeypatch.setattr(secrets, "token_urlsafe", lambda _n: next(draws))
    doc, key = credentials.new_key("e1", None, lambda: datetime(2026, 12, 1, tzinfo=UTC))
    assert key == "fine-key"
    assert doc["key_sha256"] == hash_key("fine-key")


def test_real_keys_never_start_with_a_dash() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    keys = [credentials.new_key("e1", "Leeds", lambda: now)[1] for _ in range(2000)]
    assert not [k for k in keys if k.startswith("-")]
    assert len(set(keys)) == 2000
