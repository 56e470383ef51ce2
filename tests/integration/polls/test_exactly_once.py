"""Poll votes are counted exactly once (polls/counting.py over infra/batchcount.py), on the real
servers: racing retries of a stored-but-uncounted vote (in two server processes' worth of event
loops and clients), a crash at every point of the count, a slow writer whose batch a retry
voided, many concurrent voters on one poll; the poll document stays the same size."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import bson
import httpx
import pytest
from bson import ObjectId
from pymongo import AsyncMongoClient
from redis.asyncio import Redis

from livevote.errors import Conflict
from livevote.infra.auth import TokenService
from livevote.infra.hooks import NO_HOOKS, Hooks
from livevote.polls.cache import PollCache
from livevote.polls.counting import VoteCounting
from livevote.polls.recount import recount
from livevote.polls.repository import NewVote, PollRepository, new_batch_id
from livevote.polls.service import PollService
from tests.support.faults import FaultInjector, InjectedCrash
from tests.support.http import http_client
from tests.support.polls import CUTS, new_poll, stored_but_uncounted_poll_vote
from tests.support.servers import RunningServer, ServerFactory, start_server
from tests.support.users import register_user

HOOK_POINTS = ["poll.vote.after_store", "poll.vote.after_record"]
HOOK_POINTS += ["batch.after_seal", "batch.after_apply"]


def _headers(server: RunningServer, user_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TokenService(server.settings.jwt).issue_user(user_id)}"}


async def _assert_exact(db: Any, poll_id: str, votes: dict[str, int]) -> None:
    """The counters are `votes` and equal their recount (no vote left uncounted)."""
    doc = await db["polls"].find_one({"_id": ObjectId(poll_id)})
    assert (doc["votes"], doc["total"]) == (votes, sum(votes.values()))
    (report,) = await recount(db, scope_id=poll_id, fix=False)
    assert report.consistent, report.lines()


@pytest.fixture
async def redis(server: RunningServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(server.settings.redis.url, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


def _service(server: RunningServer, db: Any, redis: Redis, hooks: Hooks = NO_HOOKS) -> PollService:
    """The poll rules in this process (a second app process on the same database)."""
    repo = PollRepository(db, hooks)
    counting = VoteCounting(repo, hooks)
    cache = PollCache(redis, server.settings.redis.prefix)
    clock = lambda: datetime.now(UTC)  # noqa: E731
    return PollService(repo, cache, counting, clock=clock, daily_limit=100)


@pytest.mark.parametrize("cut", CUTS)
async def test_100_racing_retries_of_a_stored_uncounted_vote_count_it_once(
    server: RunningServer, client: httpx.AsyncClient, server_db: Any, cut: str
) -> None:
    """50 retries through the module's server and 50 through a second server on the same
    database (its own event loop and MongoDB client, as another process would be)."""
    author = await register_user(client)
    poll = (await new_poll(client, author["headers"], "race", ["a", "b"]))["id"]
    voter = str(ObjectId())
    crashed = await stored_but_uncounted_poll_vote(server_db, poll, voter, 1, cut)
    other = start_server(server.settings)
    try:
        async with http_client(other.url) as client2:
            retries = await asyncio.gather(
                *(
                    c.post(
                        f"/api/polls/{poll}/vote",
                        json={"optionIndex": 1},
                        headers=_headers(server, voter),
                    )
                    for c in [client, client2] * 50
                )
            )
    finally:
        other.stop()
    assert {r.status_code for r in retries} == {409}, {r.text for r in retries}
    await _assert_exact(server_db, poll, {"0": 0, "1": 1})
    # the vote points at one applied batch; the crashed batch never applies
    response = await server_db["poll_responses"].find_one({"poll_id": poll})
    applied = await PollRepository(server_db).batch_state(poll, response["batch"])
    assert applied.value == "applied"
    if cut == "before_record":
        assert response["batch"] != crashed
        assert (await server_db["poll_batches"].find_one({"_id": crashed}))["state"] == "void"


@pytest.mark.parametrize("point", HOOK_POINTS)
async def test_a_crash_at_any_point_of_the_count_then_a_retry_counts_once(
    server: RunningServer,
    client: httpx.AsyncClient,
    server_db: Any,
    redis: Redis,
    point: str,
) -> None:
    author = await register_user(client)
    poll = (await new_poll(client, author["headers"], "crash", ["a", "b", "c"]))["id"]
    faults = FaultInjector()
    faults.arm(point)
    crashing = _service(server, server_db, redis, faults)
    healthy = _service(server, server_db, redis)
    expected = {"0": 0, "1": 0, "2": 0}
    voters = [str(ObjectId()) for _ in range(6)]
    for i, voter in enumerate(voters):
        # a healthy vote first, so that the next count has a batch to seal
        await healthy.cast_vote(key=poll, user_id=str(ObjectId()), option_index=0)
        expected["0"] += 1
        with pytest.raises(InjectedCrash):
            await crashing.cast_vote(key=poll, user_id=voter, option_index=1 + i % 2)
        expected[str(1 + i % 2)] += 1
        retries = await asyncio.gather(
            *(
                client.post(
                    f"/api/polls/{poll}/vote",
                    json={"optionIndex": 1 + i % 2},
                    headers=_headers(server, voter),
                )
                for _ in range(5)
            )
        )
        assert {r.status_code for r in retries} == {409}
    with pytest.raises(Conflict):
        await healthy.cast_vote(key=poll, user_id=voters[0], option_index=1)
    await _assert_exact(server_db, poll, expected)
    # the daily limit stayed exact: one slot per stored vote, none for the refused retries
    day = datetime.now(UTC).date().isoformat()
    slots = await server_db["daily_votes"].find({"user_id": {"$in": voters}, "day": day}).to_list()
    assert sorted(s["count"] for s in slots) == [1] * len(voters)


async def test_a_slow_writer_whose_batch_a_retry_voided_counts_each_vote_once(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    """The writer stored two votes and stalled before recording the batch; a retry of one of
    them voided the batch and moved that vote; the writer, back, finds its batch void and
    moves the other vote: each counted once."""
    author = await register_user(client)
    poll = (await new_poll(client, author["headers"], "slow", ["a", "b"]))["id"]
    repo = PollRepository(server_db)
    counting = VoteCounting(repo)
    votes = [NewVote(str(ObjectId()), 0), NewVote(str(ObjectId()), 1)]
    batch = new_batch_id()
    now = datetime.now(UTC)
    assert await repo.store_votes(poll_key=poll, votes=votes, batch=batch, now=now) == [None] * 2
    first = await repo.response(poll_key=poll, user_id=votes[0].user_id)
    assert first is not None
    await asyncio.gather(*(counting.finish(poll, first) for _ in range(10)))  # the retries
    doc = await server_db["polls"].find_one({"_id": ObjectId(poll)})
    assert (doc["votes"], doc["total"]) == ({"0": 1, "1": 0}, 1)  # the other is in flight
    await counting.count_batch(poll, batch, votes)  # the writer, back
    await _assert_exact(server_db, poll, {"0": 1, "1": 1})
    assert (await server_db["poll_batches"].find_one({"_id": batch}))["state"] == "void"


async def test_150_concurrent_voters_on_one_poll_counted_exactly_and_the_poll_stays_flat(
    server: RunningServer, client: httpx.AsyncClient, server_db: Any
) -> None:
    """150 voters at once, 20 of them sending their vote twice at the same moment: the votes
    of the poll are written in batches (group commit), each duplicate fails alone (409)."""
    author = await register_user(client)
    poll = (await new_poll(client, author["headers"], "busy", ["a", "b", "c"]))["id"]
    first = await client.post(
        f"/api/polls/{poll}/vote", json={"optionIndex": 0}, headers=author["headers"]
    )
    assert first.status_code == 201
    size = len(bson.encode(await server_db["polls"].find_one({"_id": ObjectId(poll)})))
    voters = [str(ObjectId()) for _ in range(150)]
    sends = [(i % 3, v) for i, v in enumerate(voters)] + [(0, v) for v in voters[:20]]
    answers = await asyncio.gather(
        *(
            client.post(
                f"/api/polls/{poll}/vote", json={"optionIndex": o}, headers=_headers(server, v)
            )
            for o, v in sends
        )
    )
    codes = [a.status_code for a in answers]
    assert (codes.count(201), codes.count(409)) == (150, 20), sorted(codes)
    await _assert_exact(server_db, poll, {"0": 51, "1": 50, "2": 50})
    stats = (await client.get(f"/api/polls/{poll}/stats")).json()
    assert [o["votes"] for o in stats["options"]] == [51, 50, 50]
    doc = await server_db["polls"].find_one({"_id": ObjectId(poll)})
    assert abs(len(bson.encode(doc)) - size) <= 8, "no per-vote data in the poll document"
    batches = await server_db["poll_batches"].count_documents({"poll": poll})
    assert doc["batch_seq"] == batches < 150, "concurrent votes share batches"
    # the same voters again: each refused alone, nothing counted twice
    again = await asyncio.gather(
        *(
            client.post(
                f"/api/polls/{poll}/vote", json={"optionIndex": 0}, headers=_headers(server, v)
            )
            for v in voters[:30]
        )
    )
    assert {a.status_code for a in again} == {409}
    await _assert_exact(server_db, poll, {"0": 51, "1": 50, "2": 50})


@pytest.mark.parametrize("point", HOOK_POINTS)
async def test_a_batch_of_concurrent_votes_crashing_mid_count_then_retried_counts_each_once(
    make_server: ServerFactory, point: str
) -> None:
    """The server crashes once at `point` while writing a batch of concurrent votes (every
    vote of that batch answers 500 simulated-crash, its outcome unknown); every voter
    retries: each vote is counted once, the daily slots stay one per vote."""
    faults = FaultInjector()
    crashing = make_server(hooks=faults)
    async with http_client(crashing.url) as client:
        author = await register_user(client)
        poll = (await new_poll(client, author["headers"], "batch crash", ["a", "b"]))["id"]
        await client.post(
            f"/api/polls/{poll}/vote", json={"optionIndex": 0}, headers=author["headers"]
        )  # so that the next count has a batch to seal
        voters = [str(ObjectId()) for _ in range(40)]

        async def vote(i: int, voter: str) -> int:
            r = await client.post(
                f"/api/polls/{poll}/vote",
                json={"optionIndex": i % 2},
                headers=_headers(crashing, voter),
            )
            return r.status_code

        faults.arm(point, times=1)
        first = await asyncio.gather(*(vote(i, v) for i, v in enumerate(voters)))
        assert faults.hits == {point: 1} and 500 in first, first
        retries = await asyncio.gather(*(vote(i, v) for i, v in enumerate(voters) for _ in (1, 2)))
    # every crash point is after the votes were stored: each retry finds its vote stored
    assert 500 in first and set(first) <= {201, 500} and set(retries) == {409}, (first, retries)
    mc: AsyncMongoClient[Any] = AsyncMongoClient(crashing.settings.mongo.uri, tz_aware=True)
    try:
        db = mc[crashing.settings.mongo.database]
        await _assert_exact(db, poll, {"0": 1 + 20, "1": 20})
        day = datetime.now(UTC).date().isoformat()
        slots = await db["daily_votes"].find({"user_id": {"$in": voters}, "day": day}).to_list()
        assert sorted(s["count"] for s in slots) == [1] * len(voters)
    finally:
        await mc.close()


async def test_a_vote_whose_write_failed_before_storing_gives_its_daily_slot_back(
    make_server: ServerFactory,
) -> None:
    faults = FaultInjector()
    crashing = make_server(hooks=faults, limits={"daily_votes": 3})
    async with http_client(crashing.url) as client:
        author = await register_user(client)
        polls = [(await new_poll(client, author["headers"], f"slot {i}"))["id"] for i in range(4)]
        voter = _headers(crashing, str(ObjectId()))
        faults.arm("poll.vote.before_store", times=2)
        failed = await asyncio.gather(
            *(client.post(f"/api/polls/{p}/vote", json={"optionIndex": 0}, headers=voter)
              for p in polls[:2])
        )  # fmt: skip
        assert [r.status_code for r in failed] == [500, 500]
        codes = []
        for p in polls:  # the limit of 3 is intact: the two failed votes took no slot
            r = await client.post(f"/api/polls/{p}/vote", json={"optionIndex": 0}, headers=voter)
            codes.append((r.status_code, r.json().get("daily_votes_remaining")))
    assert codes == [(201, 2), (201, 1), (201, 0), (429, None)], codes
