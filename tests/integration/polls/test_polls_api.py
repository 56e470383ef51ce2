"""Create, validate, vote, skip, stats — the seed 002 contract on a real server."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.support.http import assert_problem
from tests.support.polls import feed, new_poll
from tests.support.users import register_user


async def test_create_returns_poll_with_id(client: httpx.AsyncClient, server_db: Any) -> None:
    u = await register_user(client)
    poll = await new_poll(
        client, u["headers"], "  Best editor? ", ["Vim", "Emacs"], ["Tools", "dev"]
    )
    assert len(poll["id"]) == 24
    assert poll["title"] == "Best editor?"
    assert poll["options"] == ["Vim", "Emacs"]
    assert poll["tags"] == ["tools", "dev"]
    assert poll["created_by"] == u["id"]
    stored = await server_db["polls"].find_one({"key": poll["id"]})
    assert stored["votes"] == {"0": 0, "1": 0} and stored["total"] == 0


async def test_create_requires_bearer(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/polls", json={"title": "x", "options": ["a", "b"]})
    assert_problem(r, 401)


BAD_BODIES: list[Any] = [
    {"title": "one option", "options": ["a"]},
    {"title": "eleven", "options": [f"o{i}" for i in range(11)]},
    {"title": "dupes", "options": ["Yes", "No", "yes"]},
    {"title": "blank option", "options": ["a", "   "]},
    {"title": "   ", "options": ["a", "b"]},
    {"title": "", "options": ["a", "b"]},
    {"title": 42, "options": ["a", "b"]},
    {"title": "wrong type", "options": "a,b"},
    {"title": "wrong item type", "options": [1, 2]},
    {"title": {"$gt": ""}, "options": ["a", "b"]},
    {"title": "$where", "options": ["a", "b"]},
    {"title": "op option", "options": ["$ne", "b"]},
    {"title": "object option", "options": [{"$ne": 1}, "b"]},
    {"title": "tags", "options": ["a", "b"], "tags": [f"t{i}" for i in range(11)]},
    {"title": "tag dupes", "options": ["a", "b"], "tags": ["x", "X"]},
    {"title": "tag op", "options": ["a", "b"], "tags": ["$in"]},
    {"title": "tag type", "options": ["a", "b"], "tags": "sports"},
    {"title": "unknown field", "options": ["a", "b"], "votes": {"0": 100}},
    {"options": ["a", "b"]},
    ["not", "an", "object"],
]


@pytest.mark.parametrize("body", BAD_BODIES)
async def test_bad_poll_bodies_are_4xx_and_store_nothing(
    client: httpx.AsyncClient, server_db: Any, body: Any
) -> None:
    u = await register_user(client)
    r = await client.post("/api/polls", json=body, headers=u["headers"])
    assert r.status_code in (400, 422), r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["detail"]
    assert await server_db["polls"].count_documents({"created_by": u["id"]}) == 0


async def test_duplicate_option_error_names_it(client: httpx.AsyncClient) -> None:
    u = await register_user(client)
    body = {"title": "dupes", "options": ["Yes", "No", "yes"]}
    r = await client.post("/api/polls", json=body, headers=u["headers"])
    assert_problem(r, 422, "validation-error")
    assert "'yes'" in r.json()["detail"]


async def test_bad_ids_and_bodies_on_vote_skip_stats(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    u = await register_user(client)
    poll = await new_poll(client, u["headers"])
    h = u["headers"]
    unknown = "0" * 24
    for path in (f"/api/polls/{unknown}/vote", "/api/polls/garbage/vote", "/api/polls/$gt/vote"):
        assert_problem(await client.post(path, json={"optionIndex": 0}, headers=h), 404)
    for path in (f"/api/polls/{unknown}/skip", "/api/polls/garbage!/skip"):
        assert_problem(await client.post(path, headers=h), 404)
    for path in (f"/api/polls/{unknown}/stats", "/api/polls/nope/stats"):
        assert_problem(await client.get(path), 404)
    vote = f"/api/polls/{poll['id']}/vote"
    for body in (
        {"optionIndex": 3},  # this poll has 3 options
        {"optionIndex": -1},
        {"optionIndex": "1"},
        {"optionIndex": {"$gt": -1}},
        {"optionIndex": 1.5},
        {"optionIndex": 0, "extra": True},
        {"optionIndex": 0, "userId": {"$ne": None}},
        {},
    ):
        r = await client.post(vote, json=body, headers=h)
        assert r.status_code in (400, 422), (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    r = await client.post(f"/api/polls/{poll['id']}/skip", json={"why": 1}, headers=h)
    assert_problem(r, 400)
    assert await server_db["poll_responses"].count_documents({"user_id": u["id"]}) == 0
    assert await server_db["daily_votes"].count_documents({"user_id": u["id"]}) == 0


async def test_bad_feed_queries(client: httpx.AsyncClient) -> None:
    u = await register_user(client)
    for params in (
        {"page": 0},
        {"page": "x"},
        {"limit": 0},
        {"limit": 51},
        {"q": "$where"},
        {"tag": "$in"},
        {"cursor": "not-a-cursor"},
        {"userId": "someone-else"},
    ):
        r = await client.get("/api/polls", params=params, headers=u["headers"])
        assert 400 <= r.status_code < 500, (params, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    assert_problem(await client.get("/api/polls"), 401)


async def test_vote_and_skip_once_each(client: httpx.AsyncClient, server_db: Any) -> None:
    u = await register_user(client)
    h = u["headers"]
    a = await new_poll(client, h)
    b = await new_poll(client, h)
    r = await client.post(f"/api/polls/{a['id']}/vote", json={"optionIndex": 1}, headers=h)
    assert r.status_code == 201, r.text
    assert r.json() == {
        "poll_id": a["id"],
        "kind": "vote",
        "option_index": 1,
        "daily_votes_remaining": 99,
    }
    r = await client.post(f"/api/polls/{a['id']}/vote", json={"optionIndex": 2}, headers=h)
    assert_problem(r, 409, "already-voted")
    assert_problem(await client.post(f"/api/polls/{a['id']}/skip", headers=h), 409, "already-voted")
    r = await client.post(f"/api/polls/{b['id']}/skip", json={"userId": u["id"]}, headers=h)
    assert r.status_code == 201 and r.json()["kind"] == "skip"
    assert_problem(
        await client.post(f"/api/polls/{b['id']}/skip", headers=h), 409, "already-skipped"
    )
    r = await client.post(f"/api/polls/{b['id']}/vote", json={"optionIndex": 0}, headers=h)
    assert_problem(r, 409, "already-skipped")
    # the refused vote gave its daily slot back
    assert (await server_db["daily_votes"].find_one({"user_id": u["id"]}))["count"] == 1
    assert (await server_db["polls"].find_one({"key": a["id"]}))["votes"] == {
        "0": 0,
        "1": 1,
        "2": 0,
    }


async def test_user_id_in_body_must_be_the_caller(client: httpx.AsyncClient) -> None:
    u = await register_user(client)
    other = await register_user(client)
    poll = await new_poll(client, u["headers"])
    r = await client.post(
        f"/api/polls/{poll['id']}/vote",
        json={"optionIndex": 0, "userId": other["id"]},
        headers=u["headers"],
    )
    assert_problem(r, 403, "user-mismatch")
    r = await client.post(
        f"/api/polls/{poll['id']}/skip", json={"userId": other["id"]}, headers=u["headers"]
    )
    assert_problem(r, 403)
    r = await client.post(
        f"/api/polls/{poll['id']}/vote",
        json={"optionIndex": 0, "userId": u["id"]},
        headers=u["headers"],
    )
    assert r.status_code == 201
    assert (await feed(client, u["headers"], userId=u["id"]))["page"] == 1


async def test_concurrent_vote_and_skip_pairs_one_wins(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    u = await register_user(client)
    h = u["headers"]
    poll = await new_poll(client, h)
    url = f"/api/polls/{poll['id']}"

    async def vote() -> httpx.Response:
        return await client.post(f"{url}/vote", json={"optionIndex": 0}, headers=h)

    async def skip() -> httpx.Response:
        return await client.post(f"{url}/skip", headers=h)

    pairs = [op() for _ in range(50) for op in (vote, skip)]
    responses = await asyncio.gather(*pairs)
    codes = [r.status_code for r in responses]
    assert codes.count(201) == 1 and codes.count(409) == 99, codes
    assert await server_db["poll_responses"].count_documents({"poll_id": poll["id"]}) == 1
    stored = await server_db["poll_responses"].find_one({"poll_id": poll["id"]})
    counter = await server_db["daily_votes"].find_one({"user_id": u["id"]})
    votes = 1 if stored["kind"] == "vote" else 0
    assert (counter["count"] if counter else 0) == votes  # every loser gave its slot back
    assert (await server_db["polls"].find_one({"key": poll["id"]}))["total"] == votes


async def test_stats_equal_recount_after_concurrent_voting(
    client: httpx.AsyncClient, server_db: Any, server: Any
) -> None:
    owner = await register_user(client)
    poll = await new_poll(client, owner["headers"], "Lunch?", ["Pizza", "Sushi", "Salad", "Soup"])
    users = await asyncio.gather(*(register_user(client) for _ in range(24)))
    empty = (await client.get(f"/api/polls/{poll['id']}/stats")).json()
    assert empty["total"] == 0 and all(o["percent"] == 0 for o in empty["options"])

    async def vote(i: int, u: dict[str, Any]) -> httpx.Response:
        return await client.post(
            f"/api/polls/{poll['id']}/vote", json={"optionIndex": i % 3}, headers=u["headers"]
        )

    async def read_stats() -> httpx.Response:
        return await client.get(f"/api/polls/{poll['id']}/stats")

    # votes, duplicate votes and stats reads (cache rebuilds) all at once
    results = await asyncio.gather(
        *(vote(i, u) for i, u in enumerate(users)),
        *(vote(i, u) for i, u in enumerate(users)),
        *(read_stats() for _ in range(20)),
    )
    assert [r.status_code for r in results[:48]].count(201) == 24
    recount = [0, 0, 0, 0]
    async for doc in server_db["poll_responses"].find({"poll_id": poll["id"], "kind": "vote"}):
        recount[doc["option_index"]] += 1
    assert sum(recount) == 24

    def check(stats: dict[str, Any]) -> None:
        assert stats["poll_id"] == poll["id"] and stats["total"] == 24
        assert [o["votes"] for o in stats["options"]] == recount
        assert [o["text"] for o in stats["options"]] == ["Pizza", "Sushi", "Salad", "Soup"]
        assert [o["percent"] for o in stats["options"]] == [round(100 * n / 24, 1) for n in recount]

    check((await read_stats()).json())  # from the Redis snapshot
    stored = await server_db["polls"].find_one({"key": poll["id"]})
    assert [stored["votes"][str(i)] for i in range(4)] == recount and stored["total"] == 24
    import redis.asyncio as aioredis

    r = aioredis.from_url(server.settings.redis.url, decode_responses=True)
    try:
        assert await r.exists(f"{server.settings.redis.prefix}poll:stats:{poll['id']}")
        assert 0 < await r.ttl(f"{server.settings.redis.prefix}poll:stats:{poll['id']}") <= 3600
        await r.delete(f"{server.settings.redis.prefix}poll:stats:{poll['id']}")
    finally:
        await r.aclose()
    check((await read_stats()).json())  # rebuilt from MongoDB


async def test_business_and_cache_metrics(client: httpx.AsyncClient) -> None:
    u = await register_user(client)
    poll = await new_poll(client, u["headers"])
    await feed(client, u["headers"], limit=7)
    await feed(client, u["headers"], limit=7)
    await client.post(
        f"/api/polls/{poll['id']}/vote", json={"optionIndex": 0}, headers=u["headers"]
    )
    await client.get(f"/api/polls/{poll['id']}/stats")
    text = (await client.get("/metrics")).text
    for line in (
        'livevote_business_operations_total{operation="poll_create",outcome="ok"}',
        'livevote_business_operations_total{operation="vote",outcome="ok"}',
        'livevote_cache_requests_total{cache="feed",result="hit"}',
        'livevote_cache_requests_total{cache="feed",result="miss"}',
        'livevote_cache_requests_total{cache="stats",result="hit"}',
    ):
        assert line in text, line
