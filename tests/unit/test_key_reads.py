"""Reporter-key reads shared by concurrent reports (tallies/credentials._FreshReads): one
read answers every report waiting for it, and a report never takes the answer of a read that
started before it arrived (a revocation answered before it came always refuses it)."""

from __future__ import annotations

import asyncio

from livevote.tallies.credentials import _FreshReads


class Store:
    """The key's state as a database would hold it, with a slow read."""

    def __init__(self) -> None:
        self.value = "valid"
        self.reads = 0
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def read(self) -> str:
        self.reads += 1
        seen = self.value  # the read's snapshot is taken when it starts
        self.started.set()
        await self.release.wait()
        return seen


async def test_concurrent_requests_share_one_read() -> None:
    reads, store = _FreshReads(), Store()
    store.release.set()
    answers = await asyncio.gather(*(reads.get("k", store.read) for _ in range(50)))
    assert answers == ["valid"] * 50
    assert store.reads == 1


async def test_a_request_arriving_during_a_read_waits_for_the_next() -> None:
    reads, store = _FreshReads(), Store()
    early = asyncio.ensure_future(reads.get("k", store.read))
    await store.started.wait()  # the first read is in flight, its snapshot taken
    store.value = "revoked"  # the revocation is answered now
    late = [asyncio.ensure_future(reads.get("k", store.read)) for _ in range(10)]
    await asyncio.sleep(0)
    store.release.set()
    assert await early == "valid"
    assert await asyncio.gather(*late) == ["revoked"] * 10
    assert store.reads == 2  # the ten late ones shared the second read


async def test_a_failed_read_fails_its_waiters_only() -> None:
    reads = _FreshReads()
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        if calls == 1:
            raise ConnectionError("down")
        return "valid"

    first = await asyncio.gather(*(reads.get("k", flaky) for _ in range(5)), return_exceptions=True)
    assert all(isinstance(x, ConnectionError) for x in first)
    assert await reads.get("k", flaky) == "valid"


async def test_keys_do_not_share_reads() -> None:
    reads = _FreshReads()

    async def read_a() -> str:
        return "a"

    async def read_b() -> str:
        return "b"

    assert list(await asyncio.gather(reads.get("a", read_a), reads.get("b", read_b))) == ["a", "b"]
