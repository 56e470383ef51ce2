"""Reporter keys: the election-wide key (created with the election) and keys per city,
created, listed and revoked by the election's creator.

A key is 256 random bits, shown once (the 201 of its creation) and stored as its sha256
(election_keys.key_sha256, unique). Every report looks its key up in MongoDB — no
per-process cache — so a revocation (DELETE …/reporter-keys/{key_id} → 204) refuses the next
report in every process. A city key reports only for its city (403 reporter-key-city).

Concurrent reports with the same key share one read (`_FreshReads`): a report waits for the
first read that *starts after it arrived* (never joins one already in flight), so it still
sees every revocation answered before it came, and a busy election's reports cost one key
read per round trip instead of one each (issue 13: 1 of the ~3 reads per report).
Elections created before keys had documents keep their one key as a hash on the election.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from livevote.errors import Forbidden, NotFound, Unauthorized, ValidationFailed
from livevote.infra.mongo import Doc
from livevote.infra.resources import Clock, utc_now
from livevote.tallies.keys import epoch_ms, hash_key
from livevote.tallies.repository import ElectionRepository


def new_key(election_id: str, city: str | None, clock: Clock) -> tuple[Doc, str]:
    """A key document (hash only) and the key itself (for the one answer that shows it)."""
    key = secrets.token_urlsafe(32)
    while key.startswith("-"):  # `livevote report --key -…` would read it as an option
        key = secrets.token_urlsafe(32)
    now = clock()
    doc: Doc = {
        "_id": secrets.token_hex(8),
        "election_id": election_id,
        "city": city,
        "key_sha256": hash_key(key),
        "created_at": now,
        "created_ms": epoch_ms(now),
    }
    return doc, key


class _FreshReads:
    """Reads of one key shared by the requests waiting for them, in one event loop: each
    request is answered by a read that started after it arrived. One lane task per key runs
    the reads one after another; the requests arriving during a read wait for the next."""

    def __init__(self) -> None:
        self.waiting: dict[Any, asyncio.Future[Any]] = {}  # next read's answer, per key
        self.lanes: set[Any] = set()

    async def get(self, key: Any, read: Callable[[], Awaitable[Any]]) -> Any:
        future = self.waiting.get(key)
        if future is None:
            future = self.waiting[key] = asyncio.get_running_loop().create_future()
            if key not in self.lanes:
                self.lanes.add(key)
                asyncio.get_running_loop().create_task(self._lane(key, read))
        return await asyncio.shield(future)

    async def _lane(self, key: Any, read: Callable[[], Awaitable[Any]]) -> None:
        try:
            while (future := self.waiting.pop(key, None)) is not None:
                try:
                    future.set_result(await read())
                except asyncio.CancelledError:
                    future.cancel()
                    raise
                except Exception as exc:  # every waiter of this read gets it
                    future.set_exception(exc)
                    future.exception()  # retrieved: no warning if they all went away
        finally:
            self.lanes.discard(key)


_READS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _FreshReads] = (
    weakref.WeakKeyDictionary()
)


def _fresh_reads() -> _FreshReads:
    loop = asyncio.get_running_loop()
    reads = _READS.get(loop)
    if reads is None:
        reads = _READS[loop] = _FreshReads()
    return reads


class ReporterKeys:
    def __init__(self, repo: ElectionRepository, clock: Clock = utc_now) -> None:
        self.repo = repo
        self.clock = clock

    async def create(self, election: Doc, user_id: str, city: str | None) -> tuple[Doc, str]:
        _check_creator(election, user_id)
        if city is not None and city not in {c["name"] for c in election["cities"]}:
            raise ValidationFailed(f"unknown city {city!r}", type="unknown-city")
        doc, key = new_key(str(election["_id"]), city, self.clock)
        await self.repo.add_key(doc)
        return doc, key

    async def list(self, election: Doc, user_id: str) -> list[Doc]:
        _check_creator(election, user_id)
        return await self.repo.keys_of(str(election["_id"]))

    async def revoke(self, election: Doc, user_id: str, key_id: str) -> None:
        _check_creator(election, user_id)
        done = await self.repo.revoke_key(str(election["_id"]), key_id, epoch_ms(self.clock()))
        if done is None:
            raise NotFound(f"reporter key {key_id!r} not found")

    async def check(self, election: Doc, key: str | None, city: str) -> None:
        """Whether `key` may report for `city` of this election (raises if not)."""
        if not key:
            raise Unauthorized("the X-Reporter-Key header is required", headers={})
        digest = hash_key(key)
        keys = self.repo.keys
        doc = await _fresh_reads().get(
            (keys.database.client, keys.database.name, digest),
            lambda: self.repo.key_by_hash(digest),
        )
        if doc is None or doc["election_id"] != str(election["_id"]):
            legacy = election.get("reporter_key_sha256")
            if doc is None and legacy and hmac.compare_digest(digest, legacy):
                return
            raise Unauthorized("wrong reporter key", type="invalid-reporter-key", headers={})
        if doc.get("revoked_ms") is not None:
            raise Unauthorized(
                "this reporter key was revoked", type="reporter-key-revoked", headers={}
            )
        if doc.get("city") is not None and doc["city"] != city:
            raise Forbidden(
                f"this reporter key reports for {doc['city']!r} only", type="reporter-key-city"
            )


def _check_creator(election: Doc, user_id: str) -> None:
    if election["creator_id"] != user_id:
        raise Forbidden("only the creator of this election may do this")
