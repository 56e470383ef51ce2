"""The shared newest batch is decoded once per process while Redis holds the same JSON."""

from __future__ import annotations

import json

from redis.asyncio import Redis

from livevote.polls import cache as cache_module
from livevote.polls.cache import PollCache


def test_the_same_newest_batch_is_decoded_once_and_a_new_one_again() -> None:
    cache = PollCache(Redis(), "t:")  # never connects: only the decoding is exercised
    raw = json.dumps([{"id": "b"}, {"id": "a"}])
    first = cache._decoded_top("sig", 22, raw)
    assert first == [{"id": "b"}, {"id": "a"}]
    assert cache._decoded_top("sig", 22, "".join(raw)) is first  # equal text: no decoding
    assert cache._decoded_top("sig", 44, raw) is not first  # another batch size, its own
    newer = json.dumps([{"id": "c"}, {"id": "b"}])
    assert cache._decoded_top("sig", 22, newer) == [{"id": "c"}, {"id": "b"}]
    for n in range(cache_module._TOPS_MAX + 5):  # free-text filters: the memo stays bounded
        cache._decoded_top(f"q{n}", 22, raw)
    assert len(cache._tops) <= cache_module._TOPS_MAX
