"""Redis caches of the poll feed. Redis is never the source of truth: every read falls back
to MongoDB, and a Redis error is counted (livevote_cache_errors_total) and otherwise ignored.

    poll:feedver:<user>            per-user feed version, INCR on every vote/skip of that user
    poll:page:<user>:<page sig>    a feed page as the bytes of its response body, with the
                                   version it was made at, its ETag and its poll ids
                                   (FEED_TTL); a page of another version is never served
    poll:top:<sig>:<size>          the newest batch of the catalogue for a filter, shared by all
                                   users (TOP_TTL): a new poll shows within TOP_TTL + FEED_TTL
    poll:runs:<user>:<sig>         "dense runs": key ranges [lo, hi) in which the user answered
                                   every poll of the filter; walks jump over them (RUNS_TTL)
    poll:stats:<poll>              a counters snapshot of the poll (STATS_TTL)

A feed request reads what it may need in ONE round trip (`lookup`, a pipeline): the version,
the cached page, and — before walking — the shared newest batch (first pages) or the dense run
below the cursor (cursor pages). A cached page is served as it was stored — the response
body's bytes, never decoded and re-encoded (`RenderedPage`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

from livevote.infra import metrics
from livevote.infra.prefetch import Prefetch

log = logging.getLogger("livevote.polls.cache")
T = TypeVar("T")

FEED_TTL = 3
TOP_TTL = 2
RUNS_TTL = 3600
STATS_TTL = 3600
VERSION_TTL = 24 * 3600
_TOPS_MAX = 256  # newest batches kept decoded per process (PollCache._decoded_top)

# A snapshot replaces the cached one only if it is newer, i.e. has a higher total (the MongoDB
# total only grows). Every vote writes the counters its own $inc returned, so concurrent votes
# and a rebuild after a miss converge on the newest MongoDB state and never double-count — which
# HINCRBY next to a rebuild-on-miss could (the rebuild may already include the increment).
# KEYS[1] hash; ARGV: total, ttl, then field/value pairs.
_PUT_IF_NEWER = """
local current = redis.call('HGET', KEYS[1], 'total')
if current and tonumber(current) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'total', ARGV[1], unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
"""


class PollCache:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = f"{prefix}poll:"
        self._tops: dict[tuple[str, int], tuple[str, list[dict[str, Any]]]] = {}

    async def _safe(self, cache: str, op: Awaitable[T], default: T) -> T:
        try:
            return await op
        except RedisError as exc:
            metrics.CACHE_ERRORS.labels(cache).inc()
            log.warning("cache unavailable", extra={"cache": cache, "error": repr(exc)})
            return default

    @staticmethod
    def count(cache: str, hit: bool) -> None:
        metrics.CACHE.labels(cache, "hit" if hit else "miss").inc()

    # per-user feed pages -----------------------------------------------------------------
    def lookup_commands(
        self, user_id: str, sig: str, page_sig: str, *, top_size: int, cursor: str | None
    ) -> list[tuple[Any, ...]]:
        """The reads of `lookup`, as Redis commands (also sent ahead, with the rate limit)."""
        runs = f"{self.prefix}runs:{user_id}:{sig}"
        third: tuple[Any, ...] = (
            ("GET", f"{self.prefix}top:{sig}:{top_size}")
            if cursor is None
            else ("ZRANGEBYLEX", runs, f"[{cursor}", "+", "LIMIT", 0, 4)
        )
        return [
            ("GET", f"{self.prefix}feedver:{user_id}"),
            ("GET", f"{self.prefix}page:{user_id}:{page_sig}"),
            third,
        ]

    async def lookup(
        self,
        user_id: str,
        sig: str,
        page_sig: str,
        *,
        top_size: int,
        cursor: str | None,
        prefetch: Prefetch | None = None,
    ) -> Lookup | None:
        """Everything a feed request may read from Redis, in one round trip: the user's feed
        version, the page `page_sig` cached at that version, and the first step of a walk over
        the filter `sig` — the shared newest batch of `top_size` (no cursor) or the dense run
        below `cursor`. None when Redis is down (then bypass the caches). When the rate limit
        already read all of it (`prefetch`, infra/ratelimit.Prefetch): no round trip at all."""
        commands = self.lookup_commands(user_id, sig, page_sig, top_size=top_size, cursor=cursor)
        replies = prefetch.replies(commands) if prefetch is not None else None
        if replies is None:
            pipe = self.redis.pipeline(transaction=False)
            for command in commands:
                pipe.execute_command(*command)
            try:
                replies = await pipe.execute()
            except RedisError as exc:
                metrics.CACHE_ERRORS.labels("feed").inc()
                log.warning("cache unavailable", extra={"cache": "feed", "error": repr(exc)})
                return None
        version, raw_page, walk = replies
        found = Lookup(str(version or "0"))
        if raw_page is not None:
            found.page = RenderedPage.parse(raw_page, found.version)
        if cursor is None:
            found.top = None if walk is None else self._decoded_top(sig, top_size, walk)
        else:
            found.jump = _run_below(walk, cursor)
        return found

    async def put_pages(self, user_id: str, version: str, pages: dict[str, RenderedPage]) -> None:
        """Cache pages (by page signature) made at `version`, in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for page_sig, page in pages.items():
            pipe.set(f"{self.prefix}page:{user_id}:{page_sig}", page.dump(version), ex=FEED_TTL)
        await self._safe("feed", pipe.execute(), None)

    async def invalidate_feed(self, user_id: str) -> None:
        """Called after a vote/skip is stored: the user's cached pages become unreachable."""
        key = f"{self.prefix}feedver:{user_id}"
        pipe = self.redis.pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, VERSION_TTL)
        await self._safe("feed", pipe.execute(), None)

    # the shared newest batch -------------------------------------------------------------
    async def get_top(self, sig: str, size: int) -> list[dict[str, Any]] | None:
        raw = await self._safe("feed_top", self.redis.get(f"{self.prefix}top:{sig}:{size}"), None)
        return None if raw is None else self._decoded_top(sig, size, str(raw))

    def _decoded_top(self, sig: str, size: int, raw: str) -> list[dict[str, Any]]:
        """The newest batch `raw` decoded, once per process while it stays the same: every
        walk of every user over the filter reads the same JSON for TOP_TTL (json.loads of it
        was 3.6 % of a feed worker's CPU). Shared between requests: callers never mutate it."""
        known = self._tops.get((sig, size))
        if known is not None and known[0] == raw:
            return known[1]
        batch = list(json.loads(raw))
        if len(self._tops) >= _TOPS_MAX:  # filters include free-text searches: bounded
            self._tops.clear()
        self._tops[(sig, size)] = (raw, batch)
        return batch

    async def put_top(self, sig: str, size: int, batch: list[dict[str, Any]]) -> None:
        key = f"{self.prefix}top:{sig}:{size}"
        await self._safe("feed_top", self.redis.set(key, json.dumps(batch), ex=TOP_TTL), None)

    # dense runs --------------------------------------------------------------------------
    async def run_below(self, user_id: str, sig: str, bound: str) -> tuple[str, str] | None:
        """If a recorded run [lo, hi) — every poll with lo <= key < hi answered — has
        lo < bound <= hi, every poll in [lo, bound) is answered: return (lo, hi); the walk may
        continue below lo. Members are "hi:lo", so BYLEX finds the runs with the smallest
        hi >= bound."""
        key = f"{self.prefix}runs:{user_id}:{sig}"
        found = await self._safe(
            "feed_runs", self.redis.zrangebylex(key, f"[{bound}", "+", start=0, num=4), []
        )
        return _run_below(found, bound)

    async def add_run(self, user_id: str, sig: str, lo: str, hi: str) -> None:
        """Record [lo, hi) and drop the runs it covers (so lookups find the widest)."""
        key = f"{self.prefix}runs:{user_id}:{sig}"

        async def write() -> None:
            members = await self.redis.zrangebylex(key, f"[{lo}", f"[{hi}:~")
            covered = [m for m in members if str(m).split(":")[1] >= lo]
            pipe = self.redis.pipeline(transaction=False)
            if covered:
                pipe.zrem(key, *covered)
            pipe.zadd(key, {f"{hi}:{lo}": 0})
            pipe.expire(key, RUNS_TTL)
            await pipe.execute()

        await self._safe("feed_runs", write(), None)

    # stats -------------------------------------------------------------------------------
    async def get_stats(self, poll_key: str) -> dict[str, str] | None:
        found = await self._safe("stats", self.redis.hgetall(f"{self.prefix}stats:{poll_key}"), {})
        # decode_responses=True: keys and values are str
        return {str(k): str(v) for k, v in found.items()} if "total" in found else None

    async def put_stats(self, poll_key: str, counters: dict[str, Any]) -> None:
        """Store a counters snapshot {options, votes, total} unless a newer one is cached."""
        args: list[Any] = [
            int(counters["total"]),
            STATS_TTL,
            "options",
            json.dumps(counters["options"]),
        ]
        for index, count in counters["votes"].items():
            args += [f"v{index}", int(count)]
        script = self.redis.register_script(_PUT_IF_NEWER)
        await self._safe("stats", script(keys=[f"{self.prefix}stats:{poll_key}"], args=args), None)


@dataclass(frozen=True, slots=True)
class RenderedPage:
    """A feed page as served: the response body (JSON bytes), its ETag, and the ids of its
    polls (re-checked against MongoDB before a cached page is served). Stored in Redis as
    "<version>\\n<etag>\\n<id>,<id>,…\\n<body>" (compact JSON holds no raw newline)."""

    body: bytes
    etag: str
    ids: list[str]

    def dump(self, version: str) -> str:
        return f"{version}\n{self.etag}\n{','.join(self.ids)}\n{self.body.decode()}"

    @staticmethod
    def parse(raw: str, version: str) -> RenderedPage | None:
        """The page stored in `raw` if it was made at `version` (else None: never served)."""
        parts = raw.split("\n", 3)
        if len(parts) != 4 or parts[0] != version:
            return None
        _, etag, ids, body = parts
        return RenderedPage(body.encode(), etag, ids.split(",") if ids else [])


@dataclass
class Lookup:
    """What `PollCache.lookup` read: `page` is None unless cached at `version`; `top` is the
    shared newest batch (first pages), `jump` the dense run below the cursor (cursor pages)."""

    version: str
    page: RenderedPage | None = None
    top: list[dict[str, Any]] | None = None
    jump: tuple[str, str] | None = None


def _run_below(members: list[Any], bound: str) -> tuple[str, str] | None:
    spans = [tuple(str(m).split(":")) for m in members]
    inside = [(lo, hi) for hi, lo in spans if lo < bound <= hi]
    return min(inside) if inside else None
