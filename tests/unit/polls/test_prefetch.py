"""The feed's cache reads sent with the rate limit (polls/feed.py `prefetch_lookup`) are the
very reads `PollCache.lookup` makes for the request the controller and service will see."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from livevote.infra.prefetch import Prefetch
from livevote.infra.ratelimit import Rule
from livevote.polls import feed
from livevote.polls.cache import PollCache

USER = [Rule("user", "user:u1", 100, 60_000), Rule("address", "address:1.2.3.4", 10, 1000)]
CACHE = PollCache(Redis(), "t:")  # never connects


def _sent(query: bytes, rules: list[Rule] = USER) -> list[tuple[Any, ...]] | None:
    found = feed.prefetch_lookup(CACHE, {"query_string": query}, rules)
    return None if found is None else found.commands


def _looked_up(**kw: Any) -> list[tuple[Any, ...]]:
    """What feed_page passes to PollCache.lookup for these (normalised) values."""
    args = {"tag": None, "q": None, "page": 1, "limit": 10, "cursor": None, **kw}
    sig, page_sig, first = feed._lookup_keys(**args)
    return CACHE.lookup_commands("u1", sig, page_sig, top_size=first, cursor=args["cursor"])


def test_prefetched_reads_match_the_lookup() -> None:
    assert _sent(b"") == _looked_up()
    assert _sent(b"limit=10&tag=News") == _looked_up(tag="news")
    assert _sent(b"q=%20poll%201%20&page=3&limit=7") == _looked_up(q="poll 1", page=3, limit=7)
    cursor = "0" * 24
    assert _sent(f"tag=tech&cursor={cursor}".encode()) == _looked_up(tag="tech", cursor=cursor)


def test_nothing_is_prefetched_without_a_user_or_for_values_the_controller_refuses() -> None:
    assert _sent(b"", [Rule("address", "address:1.2.3.4", 10, 1000)]) is None
    assert _sent(b"limit=51") is None and _sent(b"page=0") is None and _sent(b"limit=x") is None


def test_replies_only_for_commands_all_prefetched() -> None:
    sent = Prefetch([("GET", "a"), ("GET", "b")])
    sent.store(["1", ValueError("an error reply")])
    assert sent.replies([("GET", "a")]) == ["1"]
    assert sent.replies([("GET", "a"), ("GET", "b")]) is None  # an error is no reply
    assert sent.replies([("GET", "c")]) is None
