"""Chaos, votes mode: votes from many concurrent clients while MongoDB and Redis are killed.

A `livevote serve` subprocess on its own EmbeddedStack (limits very high: this measures
correctness, not throttling) gets live events (a host task per event rotates the stage and
opens voting), polls with registered voters, attendee clients joining and voting, and SSE
readers that reconnect with Last-Event-ID, while ServerKiller SIGKILLs NX-27017 or
redis-server and restarts it. Every client records what was acknowledged (201), what was
uncertain (503 or a dropped connection, retried with the same body: a 409 already-voted then
proves the first attempt landed); chaos_verify.py compares that with what was stored.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from livevote.infra.embedded import EmbeddedStack, free_port
from loadtest.lib.api import User, no_cookies, register
from loadtest.lib.chaos_verify import verify_votes
from loadtest.lib.client import Api, Outcome, Stats, World, classify, server_slow_requests
from loadtest.lib.faults import ServerKiller
from loadtest.lib.procs import server_env, start_server, stop_process, wait_ready
from loadtest.lib.sse import Reader, read_events

# Each must be 0 for the run to pass (besides the tally drifts, see votes_ok).
MUST_BE_ZERO = [
    *(
        f"{kind}_{what}"
        for kind in ("event_votes", "poll_votes")
        for what in (
            "lost",
            "duplicates",
            "wrong_value",
            "already_voted_without_cause",
            "unexplained_stored",
        )
    ),
    "sse_readers_out_of_sync",
    "responses_5xx_not_503",
    "bad_503",
    "server_unhandled_errors",
    "client_timeouts",
    "event_tally_drift_unexplained",
    "event_tally_drift_after_recount",
    "poll_tally_drift_unexplained",
    "poll_tally_drift_after_recount",
]


async def setup_world(c: httpx.AsyncClient, args: argparse.Namespace) -> World:
    w = World()
    host = await register(c, f"host{uuid.uuid4().hex[:8]}")
    w.host_headers = host.headers
    for i in range(args.events):
        body = {
            "title": f"Chaos {i}",
            "teams": [{"name": f"T{i}-{t}"} for t in range(args.teams)],
            "results": "live",
            "max_score": 5,
        }
        r = await c.post("/api/events", json=body, headers=w.host_headers)
        r.raise_for_status()
        w.events.append(r.json())
        w.open_team[r.json()["id"]] = None
    for i in range(args.polls):
        body = {"title": f"Chaos poll {i}", "options": ["a", "b", "c"], "tags": ["chaos"]}
        r = await c.post("/api/polls", json=body, headers=w.host_headers)
        r.raise_for_status()
        w.polls.append(r.json())
    users = await asyncio.gather(
        *(register(c, f"pv{uuid.uuid4().hex[:10]}") for _ in range(args.poll_users))
    )
    w.poll_users = list(users)
    return w


async def host_task(
    api: Api, w: World, event: dict[str, Any], rotate: float, stop_at: float
) -> None:
    """The host: the next team on stage and voting open, every `rotate` seconds or so."""
    teams = [t["id"] for t in event["teams"]]
    eid = event["id"]
    i = 0
    while time.monotonic() < stop_at:
        team = teams[i % len(teams)]
        i += 1
        w.open_team[eid] = None
        r, _ = await api.call(
            "PUT", f"/api/events/{eid}/stage", json={"team_id": team}, headers=w.host_headers
        )
        if r is None or r.status_code != 200:
            continue
        r, _ = await api.call(
            "PUT", f"/api/events/{eid}/voting", json={"open": True}, headers=w.host_headers
        )
        if r is None or r.status_code != 200:
            continue
        w.open_team[eid] = team
        await asyncio.sleep(rotate * random.uniform(0.7, 1.3))


async def attendee_client(
    api: Api, w: World, stop_at: float, rng: random.Random, think: float
) -> None:
    """A person with a phone: joins an event, votes for the team on stage, thinks a while."""
    attendees: dict[str, tuple[str, dict[str, str], set[str]]] = {}
    await asyncio.sleep(rng.uniform(0, think))  # people do not all arrive in the same ms
    while time.monotonic() < stop_at:
        event = rng.choice(w.events)
        eid = event["id"]
        team = w.open_team.get(eid)
        if team is None:
            await asyncio.sleep(0.05)
            continue
        current = attendees.get(eid)
        if current is None or team in current[2]:
            r, _ = await api.call("POST", "/api/events/join", json={"code": event["code"]})
            if r is None or r.status_code != 201:
                continue
            w.joins[eid] += 1
            body = r.json()
            current = (body["attendee_id"], {"Authorization": f"Bearer {body['token']}"}, set())
            attendees[eid] = current
        attendee_id, headers, voted = current
        voted.add(team)
        score = rng.randint(1, 5)
        r, uncertain = await api.call(
            "POST",
            f"/api/events/{eid}/votes",
            json={"team_id": team, "score": score},
            headers=headers,
        )
        w.event_votes[(eid, team, attendee_id)] = Outcome(score, classify(r), 0, uncertain)
        await asyncio.sleep(rng.uniform(0.5, 1.5) * think)


async def poll_client(
    api: Api, w: World, user: User, stop_at: float, rng: random.Random, think: float
) -> None:
    """A registered user answering every poll once, in a random order."""
    polls = list(w.polls)
    rng.shuffle(polls)
    for poll in polls:
        if time.monotonic() > stop_at:
            return
        option = rng.randrange(3)
        r, uncertain = await api.call(
            "POST",
            f"/api/polls/{poll['id']}/vote",
            json={"optionIndex": option},
            headers=user.headers,
        )
        w.poll_votes[(poll["id"], user.name)] = Outcome(option, classify(r), 0, uncertain)
        await asyncio.sleep(rng.uniform(0.5, 1.5) * think)


async def run_votes(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    work = Path(args.data_dir or tempfile.mkdtemp(prefix="livevote-chaos-"))
    stack = EmbeddedStack(work / "embedded").start()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = work / "server.log"
    proc = start_server(server_env(stack, port, work / "app"), log_path)
    stats = Stats()
    faults = ServerKiller(stack, rng)
    result: dict[str, Any] = {"mode": "votes", "work_dir": str(work)}
    try:
        await wait_ready(url)
        limits = httpx.Limits(
            max_connections=args.clients + 200, max_keepalive_connections=args.clients + 200
        )
        timeout = httpx.Timeout(args.hang * 2)
        async with httpx.AsyncClient(
            base_url=url, timeout=timeout, limits=limits, cookies=no_cookies()
        ) as c:
            w = await setup_world(c, args)
            stop_sse = asyncio.Event()
            readers = [Reader(w.events[i % len(w.events)]["id"]) for i in range(args.sse)]
            sse_tasks = [asyncio.create_task(read_events(url, rd, stop_sse)) for rd in readers]
            t0 = time.monotonic()
            stop_at = t0 + args.duration
            api = Api(c, stats, args.hang, stop_at + 30)  # retries may finish after the window
            voting = Api(c, stats, args.hang, stop_at + 30)
            tasks = [
                asyncio.create_task(host_task(api, w, e, args.rotate, stop_at)) for e in w.events
            ]
            tasks += [
                asyncio.create_task(
                    attendee_client(voting, w, stop_at, random.Random(rng.random()), args.think)
                )
                for _ in range(args.clients)
            ]
            tasks += [
                asyncio.create_task(
                    poll_client(voting, w, u, stop_at, random.Random(rng.random()), args.think)
                )
                for u in w.poll_users
            ]
            await faults.run(args.faults, args.duration * 0.85)
            await asyncio.gather(*tasks)
            result["load_seconds"] = round(time.monotonic() - t0, 1)
            # everything up again: wait until ready, then compare
            await wait_ready(url)
            await asyncio.sleep(1.0)
            result.update(await verify_votes(url, stack.mongo_uri, "chaos", w, readers))
            result["server_requests_over_5s"] = server_slow_requests((await c.get("/metrics")).text)
            stop_sse.set()
            for t in sse_tasks:
                t.cancel()
            await asyncio.gather(*sse_tasks, return_exceptions=True)
        result.update(
            {
                "clients": args.clients,
                "events": args.events,
                "teams": args.teams,
                "faults_injected": len(faults.log),
                "faults": dict(Counter(f["target"] for f in faults.log)),
                **stats.figures(),
                "joins": sum(w.joins.values()),
            }
        )
    finally:
        code = stop_process(proc)
        stack.stop()
    log_text = log_path.read_text(errors="replace") if log_path.exists() else ""
    result["server_exit_code"] = code
    result["server_unhandled_errors"] = log_text.count("unhandled error")
    result["ok"] = votes_ok(result)
    return result


def votes_ok(r: dict[str, Any]) -> bool:
    return all(r.get(k) == 0 for k in MUST_BE_ZERO)
