"""Public reads of an election, cached per process and keyed by the election's change counter.

The counter is a Redis integer (`<prefix>election-version:<id>`), shared by every process and
bumped after each report is applied (service.apply_report). A read fetches the counter first,
then the data, and keeps the answer under that counter value for at most TTL_SECONDS: a new
report is visible to the next read in every process, and a change that missed its bump (a
crash right after applying, a `recount --fix` from the CLI) within the TTL. So a hall full of
screens and a busy newsroom cost one Redis GET per read, not one scan of the shards each.
Concurrent misses of one key in one process share one computation (a hall of screens
reconnecting at once costs one scan). Redis unreachable: reads go to MongoDB uncached (the
cache is never the source of truth).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

T = TypeVar("T")
TTL_SECONDS = 2.0
MAX_ENTRIES = 2048

# (redis prefix, election id, what) -> (counter value, expiry on the monotonic clock, answer)
_ENTRIES: OrderedDict[tuple[str, str, Hashable], tuple[str, float, Any]] = OrderedDict()
# computations under way: (event loop, key, counter value) -> the answer to come
_FLIGHTS: dict[tuple[int, tuple[str, str, Hashable], str], asyncio.Future[Any]] = {}


class ReadCache:
    def __init__(self, redis: Redis | None, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix

    def _key(self, election_id: str) -> str:
        return f"{self.prefix}election-version:{election_id}"

    async def bump(self, election_id: str) -> None:
        """The election changed: every process's cached reads of it are stale."""
        if self.redis is None:
            return
        try:
            await self.redis.incr(self._key(election_id))
        except RedisError:
            pass  # the TTL bounds how long a read may lag

    async def read(
        self, election_id: str, what: Hashable, compute: Callable[[], Awaitable[T]]
    ) -> T:
        if self.redis is None:
            return await compute()
        try:
            version = str(await self.redis.get(self._key(election_id)) or "0")
        except RedisError:
            return await compute()
        key = (self.prefix, election_id, what)
        now = time.monotonic()
        hit = _ENTRIES.get(key)
        if hit is not None and hit[0] == version and hit[1] > now:
            value: T = hit[2]
            return value
        loop = asyncio.get_running_loop()
        flight = (id(loop), key, version)
        pending = _FLIGHTS.get(flight)
        if pending is not None:
            try:
                shared: T = await asyncio.shield(pending)
                return shared
            except asyncio.CancelledError:
                if not pending.cancelled():
                    raise  # this request was cancelled
                return await compute()  # the request computing it went away
        future: asyncio.Future[Any] = loop.create_future()
        _FLIGHTS[flight] = future
        try:
            value = await compute()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning without waiters
            raise
        finally:
            _FLIGHTS.pop(flight, None)
        future.set_result(value)
        _ENTRIES[key] = (version, now + TTL_SECONDS, value)
        _ENTRIES.move_to_end(key)
        while len(_ENTRIES) > MAX_ENTRIES:
            _ENTRIES.popitem(last=False)
        return value
