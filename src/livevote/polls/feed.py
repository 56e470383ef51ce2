"""The per-user feed: a keyset walk over the catalogue, newest first.

The walk reads the catalogue in batches ordered by `key` (the hex of the ObjectId, so newest
first) and checks each batch against the user's responses with one indexed query. Its cost is
the polls it examines, not the number of polls the user has answered:
- answered polls spread over the catalogue cost a few extra rows per batch;
- long runs of answered polls (a user who went through the newest 10,000) are remembered in
  Redis as "dense runs" and jumped over on later walks (a run is a key range in which every
  poll of the filter is answered — responses are never deleted, so it stays true);
- a hard budget (SCAN_BUDGET polls per request) bounds even the first walk: the page then comes
  back short with has_more=true and a cursor that continues where the walk stopped.

Paging. `next_cursor` is the key of the last poll returned; `cursor=<it>` continues strictly
below it, so cursor paging never repeats or drops a poll, even while the user votes or skips
between pages (answered polls are only ever above the cursor or filtered out, and polls newer
than the first page show up when the feed is reloaded from the top). `page=N` without a cursor
is offset paging over the feed as it is now: a page skips (N-1)*limit unanswered polls, so
answering polls between pages shifts later pages — clients that do that should use the cursor.

Cost per request (issue 13). Redis is read once per request (`PollCache.lookup`: the feed
version, the cached page, and the walk's first step — the shared newest batch or the dense run
below the cursor — in one pipeline, normally the rate limit's own: `prefetch_lookup`) and
written at most once (the page, and the next one). A cached page costs that one Redis round
trip and one MongoDB query, the re-check of its ids. A walk that has already read and
checked the polls of the next page (the rest of its last batch) caches that page too, keyed as
the client's `cursor=<next_cursor>` request will ask for it: scrolling on is a cache hit. That
page can lag a fresh walk only the way a cached page does: by a poll made after the walk (and
only one whose key sorts below the cursor: a same-second key from another process), for at
most FEED_TTL.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from bson import ObjectId

from livevote.infra.prefetch import Prefetch
from livevote.infra.ratelimit import Rule
from livevote.polls.cache import Lookup, PollCache, RenderedPage
from livevote.polls.repository import PollRepository
from livevote.polls.views import poll_item

MIN_BATCH = 20
MAX_BATCH = 500
SCAN_BUDGET = 2_000  # polls examined per request at most
MIN_RUN = 200  # answered polls in a row worth remembering as a dense run
# A run never reaches into the last SETTLE_SECONDS: a poll whose key was generated just before
# the walk may become visible just after it, and must not fall inside a recorded run.
SETTLE_SECONDS = 30.0
NEXT = "_next"  # a walk's result: the following page by cursor, when the walk knows it whole


@functools.lru_cache(maxsize=1024)  # twice per request (prefetch, page): 1.5 % of a worker
def signature(tag: str | None, q: str | None) -> str:
    raw = json.dumps([(tag or "").lower(), (q or "").lower()])
    return hashlib.sha1(raw.encode(), usedforsecurity=False).hexdigest()[:16]


def _just_above(key: str) -> str:
    """A bound between `key` and the next greater key (keys are fixed-length hex)."""
    return key + "!"


def _settled_key() -> str:
    # Real time on purpose: keys are ObjectIds, generated from the real clock.
    return str(ObjectId.from_datetime(datetime.fromtimestamp(time.time() - SETTLE_SECONDS, UTC)))


@dataclass
class _Run:
    """The answered polls met in a row by the current walk, as a half-open key range [lo, hi):
    every poll of the filter with lo <= key < hi is answered. `hi` is the bound the walk stood at
    when the run began (the poll examined just before, the cursor, or just above the newest
    poll): no poll lies between that bound and the first poll of the run, so runs found by
    consecutive walks (page after page by cursor) touch and chain."""

    hi: str | None = None
    lo: str | None = None
    length: int = 0
    runs: list[tuple[str, str]] = field(default_factory=list)
    known: set[tuple[str, str]] = field(default_factory=set)  # runs jumped over, recorded

    def jumped(self, lo: str, hi: str) -> None:
        self.known.add((lo, hi))
        self.answered(lo, above=hi, length=MIN_RUN)

    def answered(self, key: str, above: str, length: int = 1) -> None:
        if self.hi is None:
            self.hi = above
        self.lo = key
        self.length += length

    def broken(self, settled: str) -> None:
        if self.hi and self.lo and self.length >= MIN_RUN:
            hi = min(self.hi, settled)
            if self.lo < hi and (self.lo, hi) not in self.known:
                self.runs.append((self.lo, hi))
        self.hi = self.lo = None
        self.length = 0


async def feed_page(
    repo: PollRepository,
    cache: PollCache,
    *,
    user_id: str,
    tag: str | None,
    q: str | None,
    page: int,
    limit: int,
    cursor: str | None,
    prefetch: Prefetch | None = None,
) -> RenderedPage:
    """The page; `prefetch`: the cache reads, if the rate limit's round trip made them."""
    sig, page_sig, first = _lookup_keys(tag, q, page, limit, cursor)
    skip = 0 if cursor else (page - 1) * limit
    found = await cache.lookup(
        user_id, sig, page_sig, top_size=first, cursor=cursor, prefetch=prefetch
    )
    if found is not None and found.page is not None:
        # The version changes on every vote/skip; re-checking the few cached ids against
        # MongoDB still guarantees an answered poll is never served, even if that bump was lost.
        if not await repo.answered_among(user_id=user_id, keys=found.page.ids):
            cache.count("feed", hit=True)
            return found.page
    if found is not None:
        cache.count("feed", hit=False)
    result = await _walk(
        repo,
        cache,
        user_id=user_id,
        sig=sig,
        tag=tag,
        q=q,
        skip=skip,
        want=limit,
        bound=cursor,
        ahead=found,
    )
    following = result.pop(NEXT, None)
    rendered = render(result, page, limit)
    if found is not None:
        pages = {page_sig: rendered}
        if following is not None:  # the client's next request, ready (one round trip for both)
            pages[f"{sig}:{result['next_cursor']}:1:{limit}"] = render(following, 1, limit)
        await cache.put_pages(user_id, found.version, pages)
    return rendered


def _lookup_keys(
    tag: str | None, q: str | None, page: int, limit: int, cursor: str | None
) -> tuple[str, str, int]:
    """The filter's signature, the page's, and the size of the walk's first batch."""
    sig = signature(tag, q)
    skip = 0 if cursor else (page - 1) * limit
    return sig, f"{sig}:{cursor or ''}:{page}:{limit}", _batch_size(skip + limit + 1)


def prefetch_lookup(cache: PollCache, scope: Any, rules: list[Rule]) -> Prefetch | None:
    """The feed's cache reads (`PollCache.lookup`) for the rate limit to send in its round
    trip (route opt, infra/ratelimit.PREFETCH): worked out from the raw query as the
    controller and the service will (defaults, tag lower-cased, q stripped). Anything odd —
    no user token, a value the controller will refuse — prefetches nothing; a key the handler
    does not ask for is simply not used."""
    user = next((r.key.removeprefix("user:") for r in rules if r.name == "user"), None)
    if user is None:
        return None
    query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
    try:
        page, limit = int(query.get("page", 1)), int(query.get("limit", 10))
    except ValueError:
        return None
    if not (1 <= page <= 100 and 1 <= limit <= 50):
        return None
    tag = query.get("tag") or None
    q = (query.get("q") or "").strip() or None
    cursor = query.get("cursor") or None
    sig, page_sig, first = _lookup_keys(tag.lower() if tag else None, q, page, limit, cursor)
    return Prefetch(cache.lookup_commands(user, sig, page_sig, top_size=first, cursor=cursor))


def render(result: dict[str, Any], page: int, limit: int) -> RenderedPage:
    """A walk's page → the response body (seed 002's FeedOut: items, page, limit, has_more,
    next_cursor; items as `poll_item` made them), its ETag and its poll ids."""
    items = result["items"]
    body = msgspec.json.encode(
        {
            "items": items,
            "page": page,
            "limit": limit,
            "has_more": result["has_more"],
            "next_cursor": result["next_cursor"],
        }
    )
    # weak: the compression middleware may gzip the same page (RFC 9110 8.8.1)
    etag = f'W/"{hashlib.blake2b(body, digest_size=12).hexdigest()}"'
    return RenderedPage(body, etag, [i["id"] for i in items])


async def _batch(
    repo: PollRepository,
    cache: PollCache,
    *,
    sig: str,
    tag: str | None,
    q: str | None,
    bound: str | None,
    size: int,
    ahead: Lookup | None,
) -> list[dict[str, Any]]:
    if bound is None:  # the newest polls: the same for every user, cached briefly
        top = ahead.top if ahead is not None else await cache.get_top(sig, size)
        cache.count("feed_top", hit=top is not None)
        if top is not None:
            return top
    batch = [poll_item(d) for d in await repo.newest(tag=tag, q=q, before=bound, size=size)]
    if bound is None:
        await cache.put_top(sig, size, batch)
    return batch


def _batch_size(left: int, last_size: int = 0, last_fresh: int = 0) -> int:
    """Size the next batch from the share of unanswered polls in the last one: every row read
    costs, so read about what the page still needs (with a margin), not a fixed amount."""
    if not last_size:
        guess = 2 * left
    elif not last_fresh:
        guess = 2 * last_size
    else:
        guess = math.ceil(1.5 * left * last_size / last_fresh)
    return min(MAX_BATCH, max(MIN_BATCH, guess))


async def _walk(
    repo: PollRepository,
    cache: PollCache,
    *,
    user_id: str,
    sig: str,
    tag: str | None,
    q: str | None,
    skip: int,
    want: int,
    bound: str | None,
    ahead: Lookup | None = None,
) -> dict[str, Any]:
    """`ahead`: what the request's lookup already read for the walk's first step (the newest
    batch of the first size, or the dense run below the cursor)."""
    need = skip + want + 1  # one more than shown tells whether there is more
    found: list[dict[str, Any]] = []
    run = _Run()
    settled = _settled_key()
    size, examined, exhausted = _batch_size(need), 0, False
    spare: list[dict[str, Any]] = []  # unanswered polls of the last batch past the page
    spare_to_end = False  # ... and the catalogue ends with that batch
    while len(found) < need and examined < SCAN_BUDGET:
        if bound is not None:
            if ahead is not None:  # read with the page, for this bound (the cursor)
                jump, ahead = ahead.jump, None
            else:
                jump = await cache.run_below(user_id, sig, bound)
            if jump is not None:
                run.jumped(*jump)
                bound = jump[0]
                size = _batch_size(need - len(found))
                continue
        size = min(size, SCAN_BUDGET - examined)
        batch = await _batch(
            repo, cache, sig=sig, tag=tag, q=q, bound=bound, size=size, ahead=ahead
        )
        ahead = None  # it answered the walk's first step only
        answered = await repo.answered_among(
            user_id=user_id, keys=[p["id"] for p in batch], contiguous=not (tag or q)
        )
        fresh = 0
        for at, poll in enumerate(batch):
            examined += 1
            above, bound = bound, poll["id"]
            if poll["id"] in answered:
                run.answered(poll["id"], above=above or _just_above(poll["id"]))
                continue
            run.broken(settled)
            found.append(poll)
            fresh += 1
            if len(found) >= need:
                spare = [p for p in batch[at + 1 :] if p["id"] not in answered]
                spare_to_end = len(batch) < size
                break
        else:
            if len(batch) < size:
                exhausted = True
                break
        size = _batch_size(need - len(found), len(batch), fresh)
    run.broken(settled)
    for lo, hi in run.runs:
        await cache.add_run(user_id, sig, lo, hi)
    items = found[skip : skip + want]
    if len(found) >= need:
        following = found[skip + want :] + spare
        return {
            "items": items,
            "has_more": True,
            "next_cursor": items[-1]["id"],
            NEXT: _next_page(following, want, spare_to_end),
        }
    if exhausted:
        return {"items": items, "has_more": False, "next_cursor": None}
    # Budget spent: continue below the last poll examined.
    return {"items": items, "has_more": True, "next_cursor": bound}


def _next_page(following: list[dict[str, Any]], want: int, to_end: bool) -> dict[str, Any] | None:
    """The page `cursor=<next_cursor>` will ask for, from what this walk already read and
    checked against the user's responses (`following`: the unanswered polls below the page,
    in order, with no gap): when it is known whole — `want` of them and one more, or the rest of
    the catalogue. None otherwise."""
    items = following[:want]
    if len(following) > want:
        return {"items": items, "has_more": True, "next_cursor": items[-1]["id"]}
    if to_end:
        return {"items": items, "has_more": False, "next_cursor": None}
    return None
