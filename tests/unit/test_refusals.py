"""The in-process memo of refusals (infra/refusals) is bounded and forgets expired entries;
the argon2 pool leaves a core to the other requests by default (infra/auth.PasswordPool)."""

from __future__ import annotations

import os
import time

from livevote.infra.auth import PasswordPool
from livevote.infra.refusals import REFUSALS_MAX, RefusalMemo


def test_a_refusal_is_remembered_until_it_expires() -> None:
    memo = RefusalMemo()
    memo.remember("address:10.0.0.1@5", 5, "address", 0.05)
    refused = memo.check("address:10.0.0.1@5")
    assert refused is not None and refused[0].limit == 5 and 0 < refused[1] <= 0.05
    assert memo.check("address:10.0.0.1@50") is None  # another limit is another key
    time.sleep(0.06)
    assert memo.check("address:10.0.0.1@5") is None
    assert len(memo) == 0  # forgotten once expired


def test_the_memo_is_bounded_dropping_expired_entries_first() -> None:
    assert REFUSALS_MAX == 10_000
    memo = RefusalMemo(capacity=100)
    for i in range(50):
        memo.remember(f"gone:{i}", 1, "page", 0)  # expired at once
    for i in range(100):
        memo.remember(f"live:{i}", 1, "page", 60)
    assert len(memo) == 100
    assert all(memo.check(f"live:{i}") is not None for i in range(100))
    for i in range(100, 250):  # all live: the oldest go first
        memo.remember(f"live:{i}", 1, "page", 60)
    assert len(memo) == 100
    assert memo.check("live:149") is None and memo.check("live:150") is not None
    assert memo.check("live:249") is not None


def test_the_password_pool_leaves_a_core_by_default() -> None:
    assert PasswordPool().slots == max(1, (os.cpu_count() or 1) - 1)
    assert PasswordPool(slots=3).slots == 3
