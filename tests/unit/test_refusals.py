"""The in-process memo of refusals (infra/refusals) is bounded and forgets expired entries;
the argon2 pool leaves a core to the other requests by default and refuses at once what it
could not serve in time (infra/auth.PasswordPool)."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from livevote.errors import ServiceUnavailable
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


def test_an_expired_memo_is_empty_again_without_being_asked_about_each_key() -> None:
    """The edge's fast path is `not limiter.refused`: entries that expired but were never
    checked again (an attacker who stopped) must not keep the memo non-empty for ever."""
    memo = RefusalMemo()
    for i in range(20):
        memo.remember(f"address:10.0.0.{i}@5", 5, "address", 0.02)
    memo.remember("page:10.0.0.99@600", 600, "page", 0.05)
    assert memo and len(memo) == 21
    time.sleep(0.03)
    assert memo  # the page refusal still holds
    time.sleep(0.03)
    assert not memo and len(memo) == 0


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


async def test_a_saturated_password_pool_refuses_at_once() -> None:
    """Once the requests already waiting would hold the slot past the wait limit, a newcomer
    gets its 503 without waiting (it used to wait the whole `wait_ms` for it)."""
    pool = PasswordPool(slots=1, wait_ms=300)
    assert not pool.saturated()  # nothing timed yet: never refused on a guess
    stored = await pool.hash("password123")  # times one hash
    assert pool.hash_s is not None and pool.hash_s > 0
    queued = [asyncio.create_task(pool.verify(stored, "password123")) for _ in range(40)]
    await asyncio.sleep(0)  # one step of the event loop: each is in the pool or refused
    assert pool.saturated() and 1 <= pool.waiting < 39
    at_once = [t for t in queued if t.done()]
    assert at_once, "the ones past the saturation were refused at once, not after waiting"
    late = asyncio.create_task(pool.verify(stored, "password123"))
    await asyncio.sleep(0)
    assert late.done()
    for task in [*at_once, late]:
        with pytest.raises(ServiceUnavailable) as refused:
            task.result()
        assert refused.value.type == "busy" and refused.value.headers == {"Retry-After": "1"}
    outcomes = await asyncio.gather(*queued, return_exceptions=True)
    assert True in outcomes  # the ones that got the slot in time were verified
    assert pool.waiting == 0
