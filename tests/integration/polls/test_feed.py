"""The per-user feed: filters, newest first, never an answered poll, paging without repeats or
gaps, caches, dense runs and the scan budget, and Redis being down."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from bson import ObjectId

from livevote.infra.auth import TokenService
from livevote.polls import feed as feed_module
from tests.support.http import http_client
from tests.support.polls import feed, new_poll
from tests.support.servers import RunningServer
from tests.support.users import register_user


async def _many(client: httpx.AsyncClient, headers: dict[str, str], n: int, tag: str) -> list[str]:
    ids = []
    for i in range(n):  # sequential: newest-first order is creation order
        ids.append((await new_poll(client, headers, f"{tag} poll {i}", ["a", "b"], [tag]))["id"])
    return ids


async def test_feed_newest_first_with_tag_and_search(client: httpx.AsyncClient) -> None:
    u = await register_user(client)
    h = u["headers"]
    tag = f"t{os.urandom(3).hex()}"
    a = await new_poll(client, h, "Best pizza topping?", ["ham", "pineapple"], [tag, "food"])
    b = await new_poll(client, h, "Best programming language?", ["Go", "Python"], [tag])
    c = await new_poll(client, h, "PIZZA or pasta?", ["pizza", "pasta"], [tag, "Food"])
    page = await feed(client, h, tag=tag)
    assert [p["id"] for p in page["items"]] == [c["id"], b["id"], a["id"]]
    assert page["page"] == 1 and page["limit"] == 10 and page["has_more"] is False
    assert set(page["items"][0]) == {"id", "title", "options", "tags", "created_at", "created_by"}
    assert [p["id"] for p in (await feed(client, h, tag=tag, q="pizza"))["items"]] == [
        c["id"],
        a["id"],
    ]
    assert [p["id"] for p in (await feed(client, h, tag=tag, q="Zza o"))["items"]] == [c["id"]]
    assert (await feed(client, h, tag=tag, q="(.*)+["))["items"] == []  # regex characters are text
    found = (await feed(client, h, tag="FOOD", q="pizza"))["items"]
    assert {c["id"], a["id"]} <= {p["id"] for p in found}


async def test_answered_polls_never_come_back_cached_or_not(client: httpx.AsyncClient) -> None:
    u = await register_user(client)
    h = u["headers"]
    tag = f"t{os.urandom(3).hex()}"
    ids = await _many(client, h, 12, tag)
    first = await feed(client, h, tag=tag, limit=5)  # now cached for this user
    assert [p["id"] for p in first["items"]] == ids[::-1][:5]
    assert (await feed(client, h, tag=tag, limit=5)) == first  # served from the cache
    vote = await client.post(f"/api/polls/{ids[-1]}/vote", json={"optionIndex": 0}, headers=h)
    skip = await client.post(f"/api/polls/{ids[-2]}/skip", headers=h)
    assert vote.status_code == skip.status_code == 201
    again = await feed(client, h, tag=tag, limit=5)
    assert [p["id"] for p in again["items"]] == ids[::-1][2:7]
    # another user's feed is untouched
    other = await register_user(client)
    assert [p["id"] for p in (await feed(client, other["headers"], tag=tag, limit=5))["items"]] == (
        ids[::-1][:5]
    )


async def test_cursor_paging_never_repeats_or_drops_while_answering(
    client: httpx.AsyncClient,
) -> None:
    u = await register_user(client)
    h = u["headers"]
    tag = f"t{os.urandom(3).hex()}"
    ids = await _many(client, h, 37, tag)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"tag": tag, "limit": 6}
        if cursor:
            params["cursor"] = cursor
        page = await feed(client, h, **params)
        pages += 1
        items = [p["id"] for p in page["items"]]
        seen += items
        # answer some of what this page showed (and one poll further down) before the next page
        for i, poll_id in enumerate(items[:3]):
            op = "vote" if i % 2 else "skip"
            r = await client.post(
                f"/api/polls/{poll_id}/{op}",
                json={"optionIndex": 1} if op == "vote" else None,
                headers=h,
            )
            assert r.status_code == 201, r.text
        if not page["has_more"]:
            assert page["next_cursor"] is None
            break
        cursor = page["next_cursor"]
        assert cursor == items[-1]
    assert len(seen) == len(set(seen)) == 37, (len(seen), len(set(seen)))
    assert seen == ids[::-1]  # newest first, nothing dropped
    assert pages == 7


async def test_offset_pages_follow_the_contract(client: httpx.AsyncClient) -> None:
    u = await register_user(client)
    h = u["headers"]
    tag = f"t{os.urandom(3).hex()}"
    ids = await _many(client, h, 25, tag)
    newest = ids[::-1]
    p1, p2, p3 = [await feed(client, h, tag=tag, page=n, limit=10) for n in (1, 2, 3)]
    assert [p["id"] for p in p1["items"]] == newest[:10] and p1["has_more"]
    assert [p["id"] for p in p2["items"]] == newest[10:20] and p2["page"] == 2 and p2["has_more"]
    assert [p["id"] for p in p3["items"]] == newest[20:] and not p3["has_more"]


async def test_new_poll_appears_within_the_cache_ttl(client: httpx.AsyncClient) -> None:
    u = await register_user(client)
    h = u["headers"]
    tag = f"t{os.urandom(3).hex()}"
    await _many(client, h, 3, tag)
    await feed(client, h, tag=tag)  # cached top batch and page
    fresh = await new_poll(client, h, "fresh", ["a", "b"], [tag])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if (await feed(client, h, tag=tag))["items"][0]["id"] == fresh["id"]:
            break
        await asyncio.sleep(0.25)
    else:
        pytest.fail("a new poll did not appear within 10 s")


def _old_key(base: datetime, i: int, process: bytes) -> ObjectId:
    """A poll key from an hour ago (so it is 'settled'), unique and in creation order."""
    stamp = int((base + timedelta(seconds=i // 1000)).timestamp())
    return ObjectId(stamp.to_bytes(4, "big") + process + (i % 1000).to_bytes(4, "big"))


async def test_dense_runs_and_scan_budget(
    client: httpx.AsyncClient,
    server: RunningServer,
    server_db: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A user who answered the newest 1,500 polls of a filter: the first walk stops at the scan
    budget and continues by cursor; the dense run it found is remembered and jumped over."""
    monkeypatch.setattr(feed_module, "SCAN_BUDGET", 1000)
    monkeypatch.setattr(feed_module, "MIN_RUN", 100)
    u = await register_user(client)
    h = u["headers"]
    tag = f"t{os.urandom(3).hex()}"
    base = datetime.now(UTC) - timedelta(hours=1)
    now = datetime.now(UTC)
    process = os.urandom(4)
    oids = [_old_key(base, i, process) for i in range(1600)]  # ascending = creation order
    await server_db["polls"].insert_many(
        [
            {
                "_id": o,
                "key": str(o),
                "title": f"old {i}",
                "options": ["a", "b"],
                "tags": [tag],
                "votes": {"0": 0, "1": 0},
                "total": 0,
                "created_by": "seed",
                "created_at": now,
            }
            for i, o in enumerate(oids)
        ]
    )
    answered = oids[100:]  # the newest 1,500
    await server_db["poll_responses"].insert_many(
        [
            {"poll_id": str(o), "user_id": u["id"], "kind": "skip", "created_at": now}
            for o in answered
        ]
    )
    expected = [str(o) for o in reversed(oids[:100])]
    first = await feed(client, h, tag=tag, limit=10)
    assert first["items"] == [] and first["has_more"] is True  # budget spent inside the run
    assert first["next_cursor"] == str(oids[600])
    second = await feed(client, h, tag=tag, limit=10, cursor=first["next_cursor"])
    assert [p["id"] for p in second["items"]] == expected[:10]
    r = aioredis.from_url(server.settings.redis.url, decode_responses=True)
    try:
        runs = await r.zrange(
            f"{server.settings.redis.prefix}poll:runs:{u['id']}:{feed_module.signature(tag, None)}",
            0,
            -1,
        )
    finally:
        await r.aclose()
    assert runs, "the dense run was not recorded"
    # now the walk from the top jumps over the two recorded runs, which touch: one request finds
    # the page even with a budget far below the 1,500 answered polls
    monkeypatch.setattr(feed_module, "SCAN_BUDGET", 100)
    third = await feed(client, h, tag=tag, limit=11)
    assert [p["id"] for p in third["items"]] == expected[:11]
    assert third["has_more"] and third["next_cursor"] == expected[10]
    # a poll answered inside an unrecorded stretch still never shows
    await client.post(f"/api/polls/{expected[0]}/skip", headers=h)
    fourth = await feed(client, h, tag=tag, limit=12)
    assert [p["id"] for p in fourth["items"]] == expected[1:13]


async def test_everything_works_without_redis(make_server: Callable[..., RunningServer]) -> None:
    server = make_server(redis={"url": "redis://127.0.0.1:9/0"})  # nothing listens there
    # login fails closed without Redis (brute-force protection), so mint the token directly
    token = TokenService(server.settings.jwt).issue_user(str(ObjectId()))
    h = {"Authorization": f"Bearer {token}"}
    async with http_client(server.url) as client:
        a = await new_poll(client, h, "no redis a")
        b = await new_poll(client, h, "no redis b")
        assert [p["id"] for p in (await feed(client, h))["items"]] == [b["id"], a["id"]]
        r = await client.post(f"/api/polls/{b['id']}/vote", json={"optionIndex": 2}, headers=h)
        assert r.status_code == 201, r.text
        assert [p["id"] for p in (await feed(client, h))["items"]] == [a["id"]]
        stats = (await client.get(f"/api/polls/{b['id']}/stats")).json()
        assert stats["total"] == 1 and stats["options"][2]["votes"] == 1
        metrics = (await client.get("/metrics")).text
    assert 'livevote_cache_errors_total{cache="feed"}' in metrics


async def test_cached_page_is_rechecked_when_an_invalidation_was_lost(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    """A response stored without the feed version bump (Redis unreachable at that moment) must
    still never be served from a cached page."""
    u = await register_user(client)
    h = u["headers"]
    tag = f"t{os.urandom(3).hex()}"
    ids = await _many(client, h, 4, tag)
    cached = await feed(client, h, tag=tag)
    assert [p["id"] for p in cached["items"]] == ids[::-1]
    await server_db["poll_responses"].insert_one(
        {"poll_id": ids[-1], "user_id": u["id"], "kind": "skip", "created_at": datetime.now(UTC)}
    )
    assert [p["id"] for p in (await feed(client, h, tag=tag))["items"]] == ids[::-1][1:]


async def _feed_hits(client: httpx.AsyncClient) -> float:
    text = (await client.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith('livevote_cache_requests_total{cache="feed",result="hit"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_next_page_comes_ready_with_the_first_and_matches_a_fresh_walk(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    """A walk that already read and checked the next page's polls caches that page with its own
    (feed.py `_next_page`): the follow-up `cursor=` request is a cache hit, gives exactly what a
    fresh walk gives, and still never serves a poll answered meanwhile."""
    u = await register_user(client)
    h = u["headers"]
    tag = f"t{os.urandom(3).hex()}"
    newest = (await _many(client, h, 14, tag))[::-1]
    for poll_id in (newest[6], newest[8]):  # answered polls inside what becomes page 2
        assert (await client.post(f"/api/polls/{poll_id}/skip", headers=h)).status_code == 201
    open_polls = [p for p in newest if p not in (newest[6], newest[8])]
    first = await feed(client, h, tag=tag, limit=5)
    assert [p["id"] for p in first["items"]] == open_polls[:5]
    hits = await _feed_hits(client)
    second = await feed(client, h, tag=tag, limit=5, cursor=first["next_cursor"])
    assert await _feed_hits(client) == hits + 1  # served from the cache, not walked
    assert [p["id"] for p in second["items"]] == open_polls[5:10]
    assert second["has_more"] is True and second["next_cursor"] == open_polls[9]
    assert second["page"] == 1 and second["limit"] == 5
    # the same page walked afresh (a vote elsewhere bumps the feed version) is identical
    other = await new_poll(client, h, "elsewhere", ["a", "b"], [f"x{tag}"])
    assert (await client.post(f"/api/polls/{other['id']}/skip", headers=h)).status_code == 201
    assert await feed(client, h, tag=tag, limit=5, cursor=first["next_cursor"]) == second
    # a response stored without the version bump is still never served from the cached page
    first = await feed(client, h, tag=tag, limit=5)
    await server_db["poll_responses"].insert_one(
        {
            "poll_id": open_polls[5],
            "user_id": u["id"],
            "kind": "skip",
            "created_at": datetime.now(UTC),
        }
    )
    third = await feed(client, h, tag=tag, limit=5, cursor=first["next_cursor"])
    assert [p["id"] for p in third["items"]] == open_polls[6:11]
    # the last page: the catalogue ends on it
    last = await feed(client, h, tag=tag, limit=5, cursor=third["next_cursor"])
    assert [p["id"] for p in last["items"]] == open_polls[11:]
    assert last["has_more"] is False and last["next_cursor"] is None


async def test_cached_page_is_served_as_rendered_with_its_etag(client: httpx.AsyncClient) -> None:
    """A page is rendered once (feed.py `render`) and a cache hit serves those very bytes, with
    the same ETag; `If-None-Match` with it answers 304 while the page is current, and a vote
    changes the page, its ETag and the answer to the old tag."""
    u = await register_user(client)
    h = u["headers"]
    tag = f"t{os.urandom(3).hex()}"
    ids = (await _many(client, h, 3, tag))[::-1]
    hits = await _feed_hits(client)
    walked = await client.get("/api/polls", params={"tag": tag}, headers=h)
    cached = await client.get("/api/polls", params={"tag": tag}, headers=h)
    assert await _feed_hits(client) == hits + 1
    assert walked.status_code == cached.status_code == 200
    assert cached.headers["content-type"] == "application/json"
    assert cached.content == walked.content
    etag = walked.headers["etag"]
    assert etag.startswith('W/"') and cached.headers["etag"] == etag
    assert cached.json() == {
        "items": cached.json()["items"],
        "page": 1,
        "limit": 10,
        "has_more": False,
        "next_cursor": None,
    }
    assert [p["id"] for p in cached.json()["items"]] == ids
    assert set(cached.json()["items"][0]) == {
        "id", "title", "options", "tags", "created_at", "created_by"
    }  # fmt: skip
    for sent in (etag, f'"other", {etag.removeprefix("W/")}'):
        same = await client.get(
            "/api/polls", params={"tag": tag}, headers={**h, "If-None-Match": sent}
        )
        assert same.status_code == 304 and same.content == b"" and same.headers["etag"] == etag
    voted = await client.post(f"/api/polls/{ids[0]}/vote", json={"optionIndex": 0}, headers=h)
    assert voted.status_code == 201
    changed = await client.get(
        "/api/polls", params={"tag": tag}, headers={**h, "If-None-Match": etag}
    )
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert [p["id"] for p in changed.json()["items"]] == ids[1:]
