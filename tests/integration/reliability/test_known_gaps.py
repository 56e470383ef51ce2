"""A vote stored by its first write whose counting write never ran (MongoDB died in between;
the client got a 503). Live events finish counting it on the client's retry, exactly once
(votes.settle: the vote is moved into a batch of its own, one check-and-set on its batch field
decides, and the batch applies once); so do poll votes (the vote's counting batch is applied
or re-batched exactly once: polls/counting.py). The chaos run hits this state by chance; these
tests build it deterministically (the first write done directly in MongoDB,
exactly as the crash leaves it).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from bson import ObjectId

from tests.support.events import join, new_event, open_voting_for
from tests.support.polls import stored_but_uncounted_poll_vote
from tests.support.users import register_user


async def _stored_but_uncounted_vote(
    client: httpx.AsyncClient, server_db: Any, score: int
) -> tuple[dict[str, Any], dict[str, Any], str, dict[str, Any]]:
    """An open event whose one attendee has a vote stored by the first write only (the crash:
    the insert ran, the counting did not, the client saw a 503). The vote has no `batch`
    field, like a vote stored before batches: it belongs to no batch until a retry moves it."""
    host, ev = await new_event(client, teams=1)
    team = ev["teams"][0]["id"]
    await open_voting_for(client, host, ev["id"], team)
    att = await join(client, ev["code"])
    await server_db["event_votes"].insert_one(
        {"_id": ObjectId(), "event_id": ev["id"], "team_id": team,
         "attendee_id": att["attendee_id"], "score": score, "at": datetime.now(UTC)}
    )  # fmt: skip
    return host, ev, team, att


async def test_event_vote_left_uncounted_by_a_crash_is_counted_on_retry(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    _, ev, team, att = await _stored_but_uncounted_vote(client, server_db, 4)
    retry = await client.post(
        f"/api/events/{ev['id']}/votes", json={"team_id": team, "score": 4},
        headers=att["headers"],
    )  # fmt: skip
    assert retry.status_code in (201, 409)
    results = (await client.get(f"/api/events/{ev['id']}/results")).json()["results"]
    stored = await server_db["event_votes"].count_documents({"event_id": ev["id"]})
    assert results[0]["votes"] == stored, "tally equals its recount"


async def test_many_racing_retries_count_a_stored_vote_exactly_once(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    host, ev, team, att = await _stored_but_uncounted_vote(client, server_db, 5)
    retries = await asyncio.gather(
        *(
            client.post(
                f"/api/events/{ev['id']}/votes",
                json={"team_id": team, "score": 5},
                headers=att["headers"],
            )
            for _ in range(120)
        )
    )
    assert {x.status_code for x in retries} == {409}
    results = (await client.get(f"/api/events/{ev['id']}/results")).json()["results"]
    assert (results[0]["votes"], results[0]["score_sum"]) == (1, 5)
    recount = await client.post(f"/api/events/{ev['id']}/recount", headers=host["headers"])
    assert recount.status_code == 200 and recount.json()["consistent"] is True, recount.text


@pytest.mark.parametrize("cut", ["before_record", "before_apply"])
async def test_poll_vote_left_uncounted_by_a_crash_is_counted_on_retry(
    client: httpx.AsyncClient, server_db: Any, cut: str
) -> None:
    author = await register_user(client)
    voter = await register_user(client)
    r = await client.post("/api/polls", json={"title": "Gap?", "options": ["a", "b"]},
                          headers=author["headers"])  # fmt: skip
    poll = r.json()["id"]
    await stored_but_uncounted_poll_vote(server_db, poll, voter["id"], 1, cut)
    retry = await client.post(f"/api/polls/{poll}/vote", json={"optionIndex": 1},
                              headers=voter["headers"])  # fmt: skip
    assert retry.status_code in (201, 409)
    doc = await server_db["polls"].find_one({"_id": ObjectId(poll)})
    stored = await server_db["poll_responses"].count_documents({"poll_id": poll, "kind": "vote"})
    assert int(doc.get("total", 0)) == stored, "counters equal their recount"
