"""Redis down: event votes and poll votes keep working from MongoDB alone (limits fail open,
caches bypassed). Tokens at expiry: valid at exp - 1 s, rejected from exp on (user and
attendee tokens). The daily poll limit across UTC midnight is covered by
polls/test_daily_limit.py::test_day_boundary_with_fake_clock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import jwt
import pytest

from livevote.infra.embedded import EmbeddedStack
from tests.support.events import join, new_event, open_voting_for
from tests.support.http import http_client
from tests.support.servers import RunningServer, backing_of, settings_for, start_server
from tests.support.users import register_user


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStack]:
    stack = EmbeddedStack(Path(tmp_path_factory.mktemp("redis-down"))).start()
    yield stack
    stack.stop()


async def test_event_and_poll_votes_work_with_redis_killed(own_stack: EmbeddedStack) -> None:
    srv = start_server(settings_for(backing_of(own_stack), limits={"attendee_per_minute": 1000}))
    try:
        async with http_client(srv.url) as c:
            host = await register_user(c)
            voter = await register_user(c)
            _, ev = await new_event(c, 2, host=host, title="No Redis")
            team = ev["teams"][0]["id"]
            await open_voting_for(c, host, ev["id"], team)
            polls = []
            for i in range(3):
                r = await c.post("/api/polls", json={"title": f"Q{i}?", "options": ["a", "b"]},
                                 headers=host["headers"])  # fmt: skip
                polls.append(r.json()["id"])
            before = (await c.get("/metrics")).text.count("livevote_rate_limit_fail_open_total")

            own_stack.redis.kill()  # type: ignore[union-attr]
            try:
                codes = []
                for i in range(20):
                    attendee = await asyncio.wait_for(join(c, ev["code"], f"p{i}"), 15)
                    att = attendee["headers"]
                    vote = {"team_id": team, "score": 1 + i % 5}
                    v = await c.post(f"/api/events/{ev['id']}/votes", json=vote, headers=att)
                    codes.append(v.status_code)
                    vote = {"team_id": team, "score": 2}
                    again = await c.post(f"/api/events/{ev['id']}/votes", json=vote, headers=att)
                    assert again.status_code == 409, "one vote per attendee per team, still"
                assert codes == [201] * 20
                results = (await c.get(f"/api/events/{ev['id']}/results")).json()
                assert results["results"][0]["votes"] == 20
                r = await c.post(f"/api/polls/{polls[0]}/vote", json={"optionIndex": 1},
                                 headers=voter["headers"])  # fmt: skip
                assert r.status_code == 201, r.text
                r = await c.post(f"/api/polls/{polls[0]}/vote", json={"optionIndex": 0},
                                 headers=voter["headers"])  # fmt: skip
                assert r.status_code == 409
                r = await c.post(f"/api/polls/{polls[1]}/skip", headers=voter["headers"])
                assert r.status_code == 201, r.text
                feed = await c.get("/api/polls", headers=voter["headers"])
                assert feed.status_code == 200
                assert [p["id"] for p in feed.json()["items"]] == [polls[2]], "cache bypassed"
                stats = (await c.get(f"/api/polls/{polls[0]}/stats",
                                     headers=voter["headers"])).json()  # fmt: skip
                assert stats["total"] == 1
                metrics = (await c.get("/metrics")).text
                assert "livevote_rate_limit_fail_open_total" in metrics
                assert metrics.count("livevote_rate_limit_fail_open_total") >= before
            finally:
                own_stack.restart_redis()
    finally:
        srv.stop()


async def test_tokens_valid_until_exp_and_rejected_from_exp(
    make_server: Callable[..., RunningServer],
) -> None:
    srv = make_server(jwt={"ttl_seconds": 3, "attendee_ttl_seconds": 3})
    async with http_client(srv.url) as c:
        host = await register_user(c)
        _, ev = await new_event(c, 1, host=host, title="Expiry")
        attendee = await join(c, ev["code"])
        att = attendee["headers"]
        exp_user = jwt.decode(host["token"], options={"verify_signature": False})["exp"]
        exp_att = jwt.decode(attendee["token"], options={"verify_signature": False})["exp"]
        # at exp - 1 s (or earlier): accepted
        await asyncio.sleep(max(0.0, min(exp_user, exp_att) - 1.2 - time.time()))
        assert time.time() < min(exp_user, exp_att) - 0.5
        assert (await c.get("/api/users/me", headers=host["headers"])).status_code == 200
        assert (await c.get(f"/api/events/{ev['id']}/me", headers=att)).status_code == 200
        # from exp on: rejected as expired
        await asyncio.sleep(max(0.0, max(exp_user, exp_att) + 0.05 - time.time()))
        me = await c.get("/api/users/me", headers=host["headers"])
        assert me.status_code == 401 and me.json()["type"].endswith("/token-expired")
        mine = await c.get(f"/api/events/{ev['id']}/me", headers=att)
        assert mine.status_code == 401 and mine.json()["type"].endswith("/token-expired")
        r = await c.post("/api/polls", json={"title": "late?", "options": ["a", "b"]},
                         headers=host["headers"])  # fmt: skip
        assert r.status_code == 401
