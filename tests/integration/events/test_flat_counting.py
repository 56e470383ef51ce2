"""Votes and joins counted in batches on the event document (votes.py, joins.py over
infra/batchcount.py): exact under concurrency, exactly once across crashes at every named
point, the event document the same size whatever the number of votes, events stored with the
old per-vote `counted.<id>` markers still counting, and the database commands per vote."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import bson
import httpx
import pytest
from bson import ObjectId
from pymongo import AsyncMongoClient, monitoring

from livevote.events import recount as recounting
from livevote.events.recount import recount_event
from livevote.events.repository import EventRepository
from livevote.events.service import EventService
from livevote.events.votes import CRASH_POINTS
from livevote.infra.auth import Principal
from livevote.infra.groupcommit import GroupCommits
from tests.support.events import join, new_event, open_voting_for
from tests.support.faults import FaultInjector
from tests.support.http import assert_problem, http_client
from tests.support.servers import RunningServer, ServerFactory


async def results(client: httpx.AsyncClient, host: dict[str, Any], eid: str) -> dict[str, Any]:
    r = await client.get(f"/api/events/{eid}/results", headers=host["headers"])
    assert r.status_code == 200, r.text
    return {row["team_id"]: (row["votes"], row["score_sum"]) for row in r.json()["results"]}


async def recount(client: httpx.AsyncClient, host: dict[str, Any], eid: str) -> dict[str, Any]:
    r = await client.post(f"/api/events/{eid}/recount", headers=host["headers"])
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_200_distinct_attendees_voting_at_once(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    host, ev = await new_event(client, teams=2)
    eid, t0 = ev["id"], ev["teams"][0]["id"]
    async with http_client(str(client.base_url)) as burst:
        joined = await asyncio.gather(*(join(burst, ev["code"]) for _ in range(200)))
    await open_voting_for(client, host, eid, t0)
    scores = [1 + i % 5 for i in range(200)]
    async with http_client(str(client.base_url)) as burst:
        responses = await asyncio.gather(
            *(
                burst.post(
                    f"/api/events/{eid}/votes",
                    json={"team_id": t0, "score": s},
                    headers=a["headers"],
                )
                for a, s in zip(joined, scores, strict=True)
            )
        )
    assert [r.status_code for r in responses] == [201] * 200
    assert (await results(client, host, eid))[t0] == (200, sum(scores))
    assert await server_db["event_votes"].count_documents({"event_id": eid}) == 200
    doc = await server_db["events"].find_one({"_id": ObjectId(eid)})
    assert doc["attendees"] == 200 and doc["vote_seq"] == 200
    assert "counted" not in doc
    assert (await recount(client, host, eid))["consistent"] is True


# -- crashes at every named point, then the client's retries --------------------------------


@pytest.fixture(scope="module")
def crashing(make_server: ServerFactory) -> tuple[RunningServer, FaultInjector]:
    """A server whose app was made with `create_app(settings, hooks=faults)`."""
    faults = FaultInjector(CRASH_POINTS)
    return make_server(hooks=faults), faults


# stored, batch not recorded: a retry voids it and re-batches | recorded, not applied: a
# retry applies it | the previous batch sealed, this one not applied | applied, answer lost
POINTS = [p for p in CRASH_POINTS if p != "events.join.after_insert"]


@pytest.mark.parametrize("point", POINTS)
async def test_a_crash_then_racing_retries_count_the_vote_once(
    crashing: tuple[RunningServer, FaultInjector], point: str
) -> None:
    running, hooks = crashing
    async with http_client(running.url) as client:
        host, ev = await new_event(client, teams=1)
        eid, t0 = ev["id"], ev["teams"][0]["id"]
        await open_voting_for(client, host, eid, t0)
        first, voter = await join(client, ev["code"]), await join(client, ev["code"])
        url = f"/api/events/{eid}/votes"
        r = await client.post(url, json={"team_id": t0, "score": 2}, headers=first["headers"])
        assert r.status_code == 201  # a batch before, so that the crashing apply seals one
        hooks.arm(point, times=1)
        r = await client.post(url, json={"team_id": t0, "score": 4}, headers=voter["headers"])
        assert_problem(r, 500, "simulated-crash")  # the client does not know the outcome
        retries = await asyncio.gather(
            *(
                client.post(url, json={"team_id": t0, "score": 4}, headers=voter["headers"])
                for _ in range(20)
            )
        )
        assert {x.status_code for x in retries} == {409}, [x.text for x in retries]
        assert {x.json()["type"].rsplit("/", 1)[1] for x in retries} == {"already-voted"}
        assert (await results(client, host, eid))[t0] == (2, 6)
        assert (await recount(client, host, eid))["consistent"] is True


async def test_a_crash_before_the_batch_is_recorded_then_voting_closes(
    crashing: tuple[RunningServer, FaultInjector],
) -> None:
    """The vote's window has passed when the client retries: its batch can never apply, the
    vote is removed and the retry answers voting-closed; nothing was counted."""
    running, hooks = crashing
    async with http_client(running.url) as client:
        host, ev = await new_event(client, teams=1)
        eid, t0 = ev["id"], ev["teams"][0]["id"]
        await open_voting_for(client, host, eid, t0)
        voter = await join(client, ev["code"])
        url = f"/api/events/{eid}/votes"
        hooks.arm("events.vote.after_record", times=1)
        r = await client.post(url, json={"team_id": t0, "score": 3}, headers=voter["headers"])
        assert_problem(r, 500, "simulated-crash")
        r = await client.put(
            f"/api/events/{eid}/voting", json={"open": False}, headers=host["headers"]
        )
        assert r.status_code == 200
        retry = await client.post(url, json={"team_id": t0, "score": 3}, headers=voter["headers"])
        assert retry.status_code == 409 and retry.json()["type"].endswith("/voting-closed")
        assert (await results(client, host, eid))[t0] == (0, 0)
        r = await client.get(f"/api/events/{eid}/me", headers=voter["headers"])
        assert r.json()["votes"] == []
        assert (await recount(client, host, eid))["consistent"] is True


# -- flat: the event document does not grow with the votes ------------------------------------


async def test_event_document_size_is_flat(client: httpx.AsyncClient, server_db: Any) -> None:
    host, ev = await new_event(client, teams=2)
    eid, t0 = ev["id"], ev["teams"][0]["id"]
    await open_voting_for(client, host, eid, t0)
    commits = GroupCommits()  # as the app has: concurrent votes share a batch
    events = EventService.of(server_db, commits=commits)

    async def vote(i: int) -> None:
        voter = Principal(f"{i:024x}", "attendee", {"evt": eid})
        await events.cast_vote(event_id=eid, attendee=voter, team_id=t0, score=1 + i % 5)

    async def size() -> int:
        return len(bson.encode(await server_db["events"].find_one({"_id": ObjectId(eid)})))

    try:
        for i in range(10):
            await vote(i)
        after_10 = await size()
        for start in range(10, 5000, 200):
            await asyncio.gather(*(vote(i) for i in range(start, min(start + 200, 5000))))
        after_5000 = await size()
    finally:
        await commits.close()
    doc = await server_db["events"].find_one({"_id": ObjectId(eid)})
    assert doc["tally"][t0] == {"votes": 5000, "score_sum": 3 * 5000}
    assert after_5000 == after_10, (after_10, after_5000)
    assert (await recount(client, host, eid))["consistent"] is True


# -- events stored before batches ------------------------------------------------------------


async def test_an_event_with_old_counted_markers_keeps_counting(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    """An event document as the old per-vote counting left it (markers, no voting_gen, no
    chain fields): a marked vote's retry is not counted again, an unmarked stored vote is
    finished once, new votes count, and `recount --fix` drops the markers."""
    host, ev = await new_event(client, teams=1)
    eid, t0 = ev["id"], ev["teams"][0]["id"]
    await open_voting_for(client, host, eid, t0)
    old, stranded, new = [await join(client, ev["code"]) for _ in range(3)]
    marked = ObjectId()
    await server_db["event_votes"].insert_many(
        [
            {"_id": marked, "event_id": eid, "team_id": t0,
             "attendee_id": old["attendee_id"], "score": 5, "at": datetime.now(UTC)},
            {"_id": ObjectId(), "event_id": eid, "team_id": t0,
             "attendee_id": stranded["attendee_id"], "score": 3,
             "at": datetime.now(UTC)},
        ]
    )  # fmt: skip
    await server_db["events"].update_one(
        {"_id": ObjectId(eid)},
        {
            "$set": {f"counted.{marked}": 1, f"tally.{t0}": {"votes": 1, "score_sum": 5}},
            "$unset": {"voting_gen": "", "last_batch": "", "batch_seq": ""},
        },
    )
    # as stored before batches: attendees without one, no batch records
    await server_db["attendees"].update_many({"event_id": eid}, {"$unset": {"batch": ""}})
    await server_db["event_batches"].delete_many({"event_id": eid})
    url = f"/api/events/{eid}/votes"
    report = await recount_event(EventRepository(server_db), eid, fix=False)
    assert not report.consistent and not report.fixed  # the unmarked vote is not counted yet
    assert [(d.stored, d.counted) for d in report.differences] == [
        ({"votes": 1, "score_sum": 5}, {"votes": 2, "score_sum": 8})
    ]
    assert any("1 old per-vote counted markers" in note for note in report.notes)
    for who in (old, stranded):
        retries = await asyncio.gather(
            *(
                client.post(url, json={"team_id": t0, "score": 1}, headers=who["headers"])
                for _ in range(10)
            )
        )
        assert {r.status_code for r in retries} == {409}
    r = await client.post(url, json={"team_id": t0, "score": 2}, headers=new["headers"])
    assert r.status_code == 201
    assert (await results(client, host, eid))[t0] == (3, 10)
    body = await recount(client, host, eid)
    assert body["consistent"] is True and body["differences"] == []
    doc = await server_db["events"].find_one({"_id": ObjectId(eid)})
    assert "counted" not in doc and doc["tally"][t0] == {"votes": 3, "score_sum": 10}
    adopted = await server_db["event_votes"].find_one({"_id": marked})
    assert adopted["batch"] == f"legacy:{eid}"
    r = await client.put(f"/api/events/{eid}/voting", json={"open": False}, headers=host["headers"])
    assert r.status_code == 200 and r.json()["voting_open"] is False
    assert (await results(client, host, eid))[t0] == (3, 10)


# -- database commands per vote ---------------------------------------------------------------


class Commands(monitoring.CommandListener):
    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name not in ("endSessions", "hello", "isMaster", "ping"):
            self.seen[event.command_name] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        return None

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        return None


async def test_commands_per_vote(client: httpx.AsyncClient, server: RunningServer) -> None:
    """A vote counted in a batch of its own costs 6 commands whatever the event has seen:
    insert the vote, record the batch (insert), read the chain's position and the batch's
    state (2 finds; the writer applies the increments it recorded, #13), seal the previous
    batch (update), one check-and-set (findAndModify); the event itself is read through the
    pre-check cache. (The old per-vote marker cost 2: insert + findAndModify, on a growing
    document.) Group commit shares these among a batch's votes."""
    host, ev = await new_event(client, teams=1)
    eid, t0 = ev["id"], ev["teams"][0]["id"]
    await open_voting_for(client, host, eid, t0)
    listener = Commands()
    mc: AsyncMongoClient[Any] = AsyncMongoClient(
        server.settings.mongo.uri, tz_aware=True, event_listeners=[listener]
    )
    try:
        events = EventService.of(mc[server.settings.mongo.database])

        async def vote(i: int) -> None:
            voter = Principal(f"{i:024x}", "attendee", {"evt": eid})
            await events.cast_vote(event_id=eid, attendee=voter, team_id=t0, score=3)

        await vote(0)  # warms the pre-check cache and starts the chain
        listener.seen.clear()
        for i in range(1, 21):
            await vote(i)
        per_vote = {name: n / 20 for name, n in listener.seen.items()}
    finally:
        await mc.close()
    print(f"commands per vote, batches of one: {per_vote}")
    assert per_vote == {"insert": 2, "find": 2, "update": 1, "findAndModify": 1}


async def test_commands_per_vote_with_group_commit(
    client: httpx.AsyncClient, server: RunningServer
) -> None:
    """200 concurrent votes through group commit: every batch costs the same 6 commands as a
    batch of one, so the commands per vote fall with the batch size."""
    host, ev = await new_event(client, teams=1)
    eid, t0 = ev["id"], ev["teams"][0]["id"]
    await open_voting_for(client, host, eid, t0)
    listener = Commands()
    mc: AsyncMongoClient[Any] = AsyncMongoClient(
        server.settings.mongo.uri, tz_aware=True, event_listeners=[listener]
    )
    commits = GroupCommits()
    try:
        events = EventService.of(mc[server.settings.mongo.database], commits=commits)

        async def vote(i: int) -> None:
            voter = Principal(f"{i:024x}", "attendee", {"evt": eid})
            await events.cast_vote(event_id=eid, attendee=voter, team_id=t0, score=3)

        await vote(0)
        listener.seen.clear()
        await asyncio.gather(*(vote(i) for i in range(1, 201)))
        seen = dict(listener.seen)
        doc = await mc[server.settings.mongo.database]["events"].find_one({"_id": ObjectId(eid)})
    finally:
        await commits.close()
        await mc.close()
    batches = seen["insert"] // 2  # each batch: insert_many of its votes + its record
    print(f"group commit: 200 votes in {batches} batches, {sum(seen.values())} commands: {seen}")
    assert doc is not None and doc["tally"][t0] == {"votes": 201, "score_sum": 603}
    assert seen == {"insert": 2 * batches, "find": 2 * batches, "update": batches,
                    "findAndModify": batches}  # fmt: skip
    assert batches < 50, seen


async def test_recount_fix_finishes_what_crashes_left_and_nobody_retried(
    crashing: tuple[RunningServer, FaultInjector], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A join that crashed before its batch was recorded (the attendee is stored, not
    counted: nobody retries a join) and a vote whose batch was recorded but not applied when
    voting closed (no retry came): the report says so, `--fix` counts the attendee, removes
    the vote (its window has passed: it can never count) and the tallies stay exact."""
    running, faults = crashing
    monkeypatch.setattr(recounting, "STRANDED_AFTER", -1.0)  # every unfinished batch is old
    mc: AsyncMongoClient[Any] = AsyncMongoClient(running.settings.mongo.uri, tz_aware=True)
    db = mc[running.settings.mongo.database]
    try:
        async with http_client(running.url) as client:
            host, ev = await new_event(client, teams=1)
            eid, t0 = ev["id"], ev["teams"][0]["id"]
            await open_voting_for(client, host, eid, t0)
            a, c = await join(client, ev["code"]), await join(client, ev["code"])
            faults.arm("events.join.after_insert", times=1)
            r = await client.post("/api/events/join", json={"code": ev["code"]})
            assert_problem(r, 500, "simulated-crash")
            url = f"/api/events/{eid}/votes"
            r = await client.post(url, json={"team_id": t0, "score": 4}, headers=a["headers"])
            assert r.status_code == 201
            faults.arm("events.vote.after_record", times=1)
            r = await client.post(url, json={"team_id": t0, "score": 2}, headers=c["headers"])
            assert_problem(r, 500, "simulated-crash")
            r = await client.put(
                f"/api/events/{eid}/voting", json={"open": False}, headers=host["headers"]
            )
            assert r.status_code == 200

            repo = EventRepository(db)
            report = await recounting.recount_event(repo, eid, fix=False)
            assert not report.consistent and not report.fixed
            assert [(d.what, d.stored, d.counted) for d in report.differences] == [
                ("attendees", {"attendees": 2}, {"attendees": 3})
            ]
            assert await db["event_votes"].count_documents({"event_id": eid}) == 2

            fixed = await recounting.recount_event(repo, eid, fix=True)
            assert fixed.fixed and fixed.differences == report.differences
            doc = await db["events"].find_one({"_id": ObjectId(eid)})
            assert doc is not None
            assert doc["attendees"] == 3 == await db["attendees"].count_documents({"event_id": eid})
            assert doc["tally"][t0] == {"votes": 1, "score_sum": 4}
            assert await db["event_votes"].count_documents({"event_id": eid}) == 1
            again = await recounting.recount_event(repo, eid, fix=False)
            assert again.consistent and again.notes == []
            assert (await recount(client, host, eid))["consistent"] is True
    finally:
        await mc.close()


async def test_two_instances_voting_on_one_event_count_exactly(
    client: httpx.AsyncClient, server: RunningServer, make_server: ServerFactory
) -> None:
    """Two app instances (as two processes: their own loops, clients and group commits) batch
    votes of the same event concurrently; their batches race through one chain."""
    other = make_server(
        mongo={"database": server.settings.mongo.database},
        redis={"prefix": server.settings.redis.prefix},
    )
    host, ev = await new_event(client, teams=1)
    eid, t0 = ev["id"], ev["teams"][0]["id"]
    async with http_client(str(client.base_url)) as burst:
        voters = await asyncio.gather(*(join(burst, ev["code"]) for _ in range(200)))
    await open_voting_for(client, host, eid, t0)
    async with http_client(str(client.base_url)) as one, http_client(other.url) as two:
        responses = await asyncio.gather(
            *(
                (one, two)[i % 2].post(
                    f"/api/events/{eid}/votes",
                    json={"team_id": t0, "score": 1 + i % 5},
                    headers=v["headers"],
                )
                for i, v in enumerate(voters)
            )
        )
    assert [r.status_code for r in responses] == [201] * 200
    assert (await results(client, host, eid))[t0] == (200, 600)
    assert (await recount(client, host, eid))["consistent"] is True
