"""Chaos under load: votes from many concurrent clients while MongoDB and Redis are killed.

    python loadtest/chaos.py --duration 120 --clients 400 --faults 30 [--out out.json]
    python loadtest/chaos.py --reports 10000 --sends 3 --crash-rate 0.2

Votes (the default mode):
1. starts its own EmbeddedStack (NX-27017 + redis-server) and `livevote serve` as a
   subprocess on it (limits set very high: this measures correctness, not throttling);
2. sets up `--events` live events with `--teams` teams each (results "live"), a host task per
   event that rotates the stage and opens voting every `--rotate` seconds, `--polls` polls
   and `--poll-users` registered users who vote on them, and `--sse` SSE readers that
   reconnect with Last-Event-ID whenever their stream drops;
3. `--clients` attendee clients join events and vote (one vote per attendee per team) while
   a fault task kills NX-27017 or redis-server with SIGKILL `--faults` times at random
   moments and restarts it after 0.3-1.5 s;
4. every client records what was acknowledged: 201 = acknowledged; 503 or a dropped
   connection = unknown, retried with the same body (a 409 already-voted then proves the
   first attempt landed);
5. afterwards it checks: every acknowledged vote stored exactly once, no stored vote
   unexplained, every tally equal to its recount (from the stored votes), every SSE reader's
   last state equal to the final results, no 500, no request slower than --hang seconds,
   every 503 with Retry-After and problem+json.

Reports (`--reports N`): an in-process server (so the tallies crash-point hook is reachable)
gets N election reports, each sent `--sends` times concurrently, while crash points fire at
random (`--crash-rate`) and NX-27017 is optionally killed (`--report-faults`); afterwards
every report is applied exactly once and the totals equal the sum of the distinct reports.

The result is one JSON document on stdout (and in --out); the exit code is 0 only if every
check passed. tests/integration/test_chaos.py runs a short form of both modes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from livevote.infra.embedded import EmbeddedStack, free_port

PROBLEM = "application/problem+json"


# --------------------------------------------------------------------------- bookkeeping
@dataclass
class Stats:
    statuses: Counter[int] = field(default_factory=Counter)
    transport_errors: Counter[str] = field(default_factory=Counter)
    bad_503: int = 0  # a 503 without Retry-After or not problem+json
    errors_500: list[str] = field(default_factory=list)
    slow: int = 0  # requests slower than the hang threshold, as the client saw them
    slow_paths: Counter[str] = field(default_factory=Counter)
    max_latency: float = 0.0
    timeouts: int = 0  # no answer within 2 x the hang threshold
    requests: int = 0

    def record(self, r: httpx.Response, elapsed: float, hang: float) -> None:
        self.requests += 1
        self.statuses[r.status_code] += 1
        self.max_latency = max(self.max_latency, elapsed)
        if elapsed > hang:
            self.slow += 1
            self.slow_paths[f"{r.request.method} {r.status_code} {_shape(r.request.url.path)}"] += 1
        if r.status_code == 503:
            ok = r.headers.get("retry-after", "").isdigit() and r.headers.get(
                "content-type", ""
            ).startswith(PROBLEM)
            if not ok:
                self.bad_503 += 1
        if r.status_code >= 500 and r.status_code != 503:
            self.errors_500.append(f"{r.status_code} {r.request.url.path} {r.text[:200]}")


def server_slow_requests(metrics_text: str, over: str = "5.0") -> int:
    """Requests the server itself took longer than `over` seconds to answer (from its own
    duration histogram), SSE streams excluded (long by design)."""
    import re

    total: dict[tuple[str, str], float] = {}
    under: dict[tuple[str, str], float] = {}
    pat = re.compile(r"^livevote_http_request_duration_seconds_(count|bucket)\{(.*)\} (\S+)$")
    for line in metrics_text.splitlines():
        m = pat.match(line)
        if not m or "stream" in m.group(2):
            continue
        labels = dict(kv.split("=", 1) for kv in m.group(2).split(","))
        key = (labels.get("method", ""), labels.get("route", ""))
        if m.group(1) == "count":
            total[key] = float(m.group(3))
        elif labels.get("le") == f'"{over}"':
            under[key] = float(m.group(3))
    return int(sum(total[k] - under.get(k, 0.0) for k in total))


def _shape(path: str) -> str:
    return "/".join("{id}" if len(p) == 24 else p for p in path.split("/"))


@dataclass
class Outcome:
    """What one client knows about one vote (keyed by (target, team/option, voter))."""

    value: int
    final: str  # acked | already-voted | closed | unknown | rejected
    attempts: int
    uncertain: bool  # some attempt ended without a definite answer (503 / dropped)


class Api:
    """A thin client that retries outages the way a phone app would (honouring Retry-After)."""

    def __init__(self, client: httpx.AsyncClient, stats: Stats, hang: float, stop_at: float):
        self.c = client
        self.stats = stats
        self.hang = hang
        self.stop_at = stop_at

    async def call(
        self, method: str, url: str, *, retry: bool = True, **kw: Any
    ) -> tuple[httpx.Response | None, bool]:
        """Returns (final response or None, uncertain): uncertain if some attempt ended in a
        503 or a dropped connection (the write may or may not have happened)."""
        uncertain = False
        while True:
            start = time.monotonic()
            try:
                r = await self.c.request(method, url, **kw)
            except httpx.TimeoutException:
                self.stats.slow += 1
                self.stats.timeouts += 1
                self.stats.slow_paths[f"{method} timeout {_shape(url)}"] += 1
                self.stats.transport_errors["timeout"] += 1
                r = None
            except httpx.TransportError as exc:
                self.stats.transport_errors[type(exc).__name__] += 1
                r = None
            elapsed = time.monotonic() - start
            if r is not None:
                self.stats.record(r, elapsed, self.hang)
                if r.status_code not in (503, 500):
                    return r, uncertain
                wait = float(r.headers.get("retry-after", "1") or 1)
            else:
                wait = 0.5
            uncertain = True
            if not retry or time.monotonic() > self.stop_at:
                return r, uncertain
            await asyncio.sleep(min(wait, 2.0) * random.uniform(0.5, 1.0))


# --------------------------------------------------------------------------- processes
def server_env(stack: EmbeddedStack, port: int, data_dir: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "MONGODB_URI": stack.mongo_uri,
            "REDIS_URL": stack.redis_url,
            "LIVEVOTE_HOST": "127.0.0.1",
            "LIVEVOTE_PORT": str(port),
            "LIVEVOTE_DEMO": "false",
            "LIVEVOTE_DATA_DIR": str(data_dir),
            "LIVEVOTE_LOG_LEVEL": "WARNING",
            "LIVEVOTE_MONGO_DATABASE": "chaos",
            "LIVEVOTE_MONGO_TIMEOUT_MS": "1500",
            "LIVEVOTE_PENDING_REPORT_DELAY_SECONDS": "0.5",
            "LIVEVOTE_LIMITS_USER_PER_MINUTE": "10000000",
            "LIVEVOTE_LIMITS_ADDRESS_PER_SECOND": "10000000",
            "LIVEVOTE_LIMITS_ATTENDEE_PER_MINUTE": "10000000",
            "LIVEVOTE_LIMITS_DAILY_VOTES": "10000000",
            "LIVEVOTE_LIMITS_REGISTER_PER_ADDRESS_PER_MINUTE": "10000000",
            "LIVEVOTE_LIMITS_LOGIN_PER_ADDRESS_PER_MINUTE": "10000000",
            "LIVEVOTE_LIMITS_PAGES_PER_ADDRESS_PER_MINUTE": "10000000",
            "LIVEVOTE_LIMITS_HASHING_WAIT_MS": "60000",
            "LIVEVOTE_SSE_MAX_PER_ADDRESS": "10000000",
        }
    )
    env.update(extra)
    return env


def start_server(
    env: dict[str, str], log_path: Path, cmd: list[str] | None = None
) -> subprocess.Popen[bytes]:
    logf = open(log_path, "ab")
    proc = subprocess.Popen(
        cmd or [sys.executable, "-m", "livevote", "serve"],
        env=env,
        stdout=logf,
        stderr=logf,
        stdin=subprocess.DEVNULL,
    )
    logf.close()
    return proc


async def wait_ready(url: str, limit: float = 60.0, path: str = "/health/ready") -> None:
    deadline = time.monotonic() + limit
    async with httpx.AsyncClient(base_url=url, timeout=3) as c:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if (await c.get(path)).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url}{path} not ready after {limit}s")
            await asyncio.sleep(0.2)


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


class FaultInjector:
    """Kills (SIGKILL) and restarts the embedded servers at random moments."""

    def __init__(self, stack: EmbeddedStack, rng: random.Random) -> None:
        self.stack = stack
        self.rng = rng
        self.log: list[dict[str, Any]] = []
        self.lock = threading.Lock()  # restarts may come from two tasks

    async def one(self, target: str, down: float) -> None:
        t0 = time.monotonic()
        server = self.stack.mongo if target == "mongo" else self.stack.redis
        assert server is not None
        server.kill()
        await asyncio.sleep(down)
        restart = self.stack.restart_mongo if target == "mongo" else self.stack.restart_redis
        await asyncio.to_thread(self._locked, restart)
        self.log.append(
            {"target": target, "down_s": round(down, 2), "total_s": round(time.monotonic() - t0, 2)}
        )

    def _locked(self, fn: Any) -> None:
        with self.lock:
            fn()

    async def run(self, count: int, window: float) -> None:
        targets = ["mongo", "redis"] * (count // 2) + (["mongo"] if count % 2 else [])
        self.rng.shuffle(targets)
        gap = window / max(1, count)
        for target in targets:
            await asyncio.sleep(gap * self.rng.uniform(0.3, 1.0))
            await self.one(target, self.rng.uniform(0.3, 1.5))


# --------------------------------------------------------------------------- votes mode
@dataclass
class World:
    events: list[dict[str, Any]] = field(default_factory=list)
    host_headers: dict[str, str] = field(default_factory=dict)
    open_team: dict[str, str | None] = field(default_factory=dict)
    polls: list[dict[str, Any]] = field(default_factory=list)
    poll_users: list[dict[str, Any]] = field(default_factory=list)
    event_votes: dict[tuple[str, str, str], Outcome] = field(default_factory=dict)
    poll_votes: dict[tuple[str, str], Outcome] = field(default_factory=dict)
    joins: Counter[str] = field(default_factory=Counter)


async def register(c: httpx.AsyncClient, name: str) -> dict[str, Any]:
    body = {"username": name, "email": f"{name}@example.com", "password": "password123"}
    r = await c.post("/api/auth/register", json=body)
    r.raise_for_status()
    r = await c.post("/api/auth/login", json={"email": body["email"], "password": "password123"})
    r.raise_for_status()
    token = r.json()["access_token"]
    return {"id": "", "name": name, "headers": {"Authorization": f"Bearer {token}"}}


async def setup_world(c: httpx.AsyncClient, args: argparse.Namespace) -> World:
    w = World()
    host = await register(c, f"host{uuid.uuid4().hex[:8]}")
    w.host_headers = host["headers"]
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


async def host_task(api: Api, w: World, event: dict[str, Any], rotate: float, stop_at: float):
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
    api: Api, w: World, user: dict[str, Any], stop_at: float, rng: random.Random, think: float
) -> None:
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
            headers=user["headers"],
        )
        w.poll_votes[(poll["id"], user["name"])] = Outcome(option, classify(r), 0, uncertain)
        await asyncio.sleep(rng.uniform(0.5, 1.5) * think)


def classify(r: httpx.Response | None) -> str:
    if r is None or r.status_code >= 500:
        return "unknown"
    if r.status_code == 201:
        return "acked"
    if r.status_code == 409:
        kind = str(r.json().get("type", "")).rsplit("/", 1)[-1]
        return "already-voted" if kind == "already-voted" else "closed"
    return f"rejected-{r.status_code}"


@dataclass
class Reader:
    event_id: str
    last_id: str | None = None
    last_state: dict[str, Any] | None = None
    connects: int = 0
    messages: int = 0


async def sse_reader(url: str, reader: Reader, stop: asyncio.Event) -> None:
    timeout = httpx.Timeout(10.0, read=30.0)
    async with httpx.AsyncClient(base_url=url, timeout=timeout) as c:
        while not stop.is_set():
            headers = {"Last-Event-ID": reader.last_id} if reader.last_id else {}
            try:
                async with c.stream(
                    "GET", f"/api/events/{reader.event_id}/stream", headers=headers
                ) as r:
                    if r.status_code != 200:
                        await asyncio.sleep(0.5)
                        continue
                    reader.connects += 1
                    event: dict[str, str] = {}
                    async for line in r.aiter_lines():
                        if stop.is_set():
                            return
                        if line == "":
                            if event.get("event") == "state" and "data" in event:
                                reader.last_state = json.loads(event["data"])
                                reader.last_id = event.get("id", reader.last_id)
                                reader.messages += 1
                            event = {}
                            continue
                        if line.startswith(":"):
                            continue
                        name, _, value = line.partition(":")
                        event[name] = value[1:] if value.startswith(" ") else value
            except (httpx.HTTPError, json.JSONDecodeError):
                pass
            await asyncio.sleep(0.3)


async def verify_votes(
    url: str, mongo_uri: str, database: str, w: World, readers: list[Reader]
) -> dict[str, Any]:
    from pymongo import AsyncMongoClient

    mc: AsyncMongoClient[Any] = AsyncMongoClient(mongo_uri, tz_aware=True)
    db = mc[database]
    try:
        out: dict[str, Any] = {}
        event_ids = [e["id"] for e in w.events]
        stored: dict[tuple[str, str, str], list[int]] = defaultdict(list)
        async for d in db["event_votes"].find({"event_id": {"$in": event_ids}}):
            stored[(d["event_id"], d["team_id"], d["attendee_id"])].append(int(d["score"]))
        out.update(check_outcomes("event_votes", w.event_votes, stored))
        # every tally equals its recount from the stored votes (and the public results agree)
        drift: list[dict[str, Any]] = []
        async with httpx.AsyncClient(base_url=url, timeout=30) as c:
            finals: dict[str, list[dict[str, Any]]] = {}
            for eid in event_ids:
                r = await c.get(f"/api/events/{eid}/results")
                r.raise_for_status()
                finals[eid] = r.json()["results"] if "results" in r.json() else r.json()["teams"]
                counted: dict[str, list[int]] = defaultdict(lambda: [0, 0])
                for (e, t, _a), scores in stored.items():
                    if e == eid:
                        counted[t][0] += len(scores)
                        counted[t][1] += sum(scores)
                for row in finals[eid]:
                    want = counted.get(row["team_id"], [0, 0])
                    if [row["votes"], row["score_sum"]] != want:
                        uncertain = sum(
                            1
                            for (e, t, a), o in w.event_votes.items()
                            if e == eid
                            and t == row["team_id"]
                            and o.uncertain
                            and o.final != "acked"
                            and (e, t, a) in stored
                        )
                        missing = want[0] - row["votes"]
                        drift.append(
                            {
                                "event": eid,
                                "team": row["team_id"],
                                "tally": [row["votes"], row["score_sum"]],
                                "recount": want,
                                "uncertain_stored": uncertain,
                                "explained": 0 < missing <= uncertain,
                            }
                        )
            out["event_tally_drift"] = drift
            out["event_votes_uncounted"] = sum(d["recount"][0] - d["tally"][0] for d in drift)
            out["event_tally_drift_unexplained"] = sum(1 for d in drift if not d["explained"])
            # the repair path: the host's recount counts what an outage left uncounted
            for eid in {d["event"] for d in drift}:
                r = await c.post(f"/api/events/{eid}/recount", headers=w.host_headers)
                r.raise_for_status()
            after = 0
            for eid in event_ids:
                rows = (await c.get(f"/api/events/{eid}/results")).json()["results"]
                for row in rows:
                    want = [0, 0]
                    for (e, t, _a), scores in stored.items():
                        if e == eid and t == row["team_id"]:
                            want[0] += len(scores)
                            want[1] += sum(scores)
                    after += [row["votes"], row["score_sum"]] != want
                finals[eid] = rows
            out["event_tally_drift_after_recount"] = after
            # every SSE reader back in sync with the final state
            deadline = time.monotonic() + 15
            while True:
                behind = [
                    rd
                    for rd in readers
                    if rd.last_state is None or rd.last_state.get("results") != finals[rd.event_id]
                ]
                if not behind or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
            out["sse_readers"] = len(readers)
            out["sse_readers_out_of_sync"] = len(behind)
            out["sse_reconnects"] = sum(max(0, rd.connects - 1) for rd in readers)
        # polls
        poll_ids = [p["id"] for p in w.polls]
        name_of = {}
        for u in w.poll_users:
            me = None
            async with httpx.AsyncClient(base_url=url, timeout=30) as c:
                me = (await c.get("/api/users/me", headers=u["headers"])).json()
            name_of[me["id"]] = u["name"]
        pstored: dict[tuple[str, str], list[int]] = defaultdict(list)
        async for d in db["poll_responses"].find({"poll_id": {"$in": poll_ids}, "kind": "vote"}):
            if d["user_id"] in name_of:
                pstored[(d["poll_id"], name_of[d["user_id"]])].append(int(d["option_index"]))
        out.update(check_outcomes("poll_votes", w.poll_votes, pstored))
        pdrift = []
        async with httpx.AsyncClient(base_url=url, timeout=30) as c:
            for pid in poll_ids:
                stats = (await c.get(f"/api/polls/{pid}/stats")).json()
                counted_p = Counter(v[0] for (p, _u), v in pstored.items() if p == pid)
                got = {o["index"]: o["votes"] for o in stats["options"]}
                if any(got.get(i, 0) != counted_p.get(i, 0) for i in range(3)):
                    uncertain = sum(
                        1
                        for (p, u), o in w.poll_votes.items()
                        if p == pid and o.uncertain and o.final != "acked" and (p, u) in pstored
                    )
                    missing = sum(counted_p.values()) - sum(got.values())
                    pdrift.append(
                        {"poll": pid, "stats": got, "recount": dict(counted_p),
                         "uncertain_stored": uncertain, "explained": 0 < missing <= uncertain}
                    )  # fmt: skip
        out["poll_votes_uncounted"] = sum(
            sum(d["recount"].values()) - sum(d["stats"].values()) for d in pdrift
        )
        out["poll_tally_drift_unexplained"] = sum(1 for d in pdrift if not d["explained"])
        # the repair path: `livevote recount polls --fix`
        from livevote.polls.commands import recount_polls

        for d in pdrift:
            await recount_polls(db, poll=d["poll"], fix=True)
        still = await recount_polls(db, fix=False) if pdrift else []
        out["poll_tally_drift_after_recount"] = len(
            [line for line in still if any(d["poll"] in line for d in pdrift)]
        )
        out["poll_tally_drift"] = pdrift
        return out
    finally:
        await mc.close()


def check_outcomes(
    name: str, outcomes: dict[Any, Outcome], stored: dict[Any, list[int]]
) -> dict[str, Any]:
    finals = Counter(o.final for o in outcomes.values())
    acked = {k: o for k, o in outcomes.items() if o.final == "acked"}
    lost = [k for k in acked if k not in stored]
    wrong_value = [k for k, o in acked.items() if k in stored and stored[k] != [o.value]]
    duplicates = [k for k, v in stored.items() if len(v) > 1]
    # 409 already-voted is only legitimate after an uncertain first attempt that landed
    already = [k for k, o in outcomes.items() if o.final == "already-voted"]
    already_bad = [k for k in already if not outcomes[k].uncertain or k not in stored]
    # every stored vote is explained: acknowledged, proven by a retry, or of unknown outcome
    explained = {
        k for k, o in outcomes.items() if o.final in ("acked", "already-voted") or o.uncertain
    }
    unexplained = [k for k in stored if k in outcomes and k not in explained]
    unknown = [k for k, o in outcomes.items() if o.final == "unknown"]
    return {
        f"{name}_sent": len(outcomes),
        f"{name}_outcomes": dict(finals),
        f"{name}_acknowledged": len(acked),
        f"{name}_stored": sum(len(v) for v in stored.values()),
        f"{name}_lost": len(lost),
        f"{name}_wrong_value": len(wrong_value),
        f"{name}_duplicates": len(duplicates),
        f"{name}_retried_then_already_voted": len(already),
        f"{name}_already_voted_without_cause": len(already_bad),
        f"{name}_unexplained_stored": len(unexplained),
        f"{name}_unknown_outcome": len(unknown),
        f"{name}_unknown_but_stored": sum(1 for k in unknown if k in stored),
    }


async def run_votes(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    work = Path(args.data_dir or tempfile.mkdtemp(prefix="livevote-chaos-"))
    stack = EmbeddedStack(work / "embedded").start()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = work / "server.log"
    proc = start_server(server_env(stack, port, work / "app"), log_path)
    stats = Stats()
    faults = FaultInjector(stack, rng)
    result: dict[str, Any] = {"mode": "votes", "work_dir": str(work)}
    try:
        await wait_ready(url)
        limits = httpx.Limits(
            max_connections=args.clients + 200, max_keepalive_connections=args.clients + 200
        )
        timeout = httpx.Timeout(args.hang * 2)
        async with httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits) as c:
            w = await setup_world(c, args)
            stop_sse = asyncio.Event()
            readers = [Reader(w.events[i % len(w.events)]["id"]) for i in range(args.sse)]
            sse_tasks = [asyncio.create_task(sse_reader(url, rd, stop_sse)) for rd in readers]
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
                "requests": stats.requests,
                "statuses": {str(k): v for k, v in sorted(stats.statuses.items())},
                "transport_errors": dict(stats.transport_errors),
                "responses_5xx_not_503": len(stats.errors_500),
                "examples_5xx": stats.errors_500[:5],
                "bad_503": stats.bad_503,
                "client_timeouts": stats.timeouts,
                "slow_requests": stats.slow,
                "slow_request_kinds": dict(stats.slow_paths.most_common(10)),
                "max_latency_s": round(stats.max_latency, 2),
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
    zero = [
        "event_votes_lost",
        "event_votes_duplicates",
        "event_votes_wrong_value",
        "event_votes_already_voted_without_cause",
        "event_votes_unexplained_stored",
        "poll_votes_lost",
        "poll_votes_duplicates",
        "poll_votes_wrong_value",
        "poll_votes_already_voted_without_cause",
        "poll_votes_unexplained_stored",
        "sse_readers_out_of_sync",
        "responses_5xx_not_503",
        "bad_503",
        "server_unhandled_errors",
        "client_timeouts",
    ]
    return (
        all(r.get(k) == 0 for k in zero)
        and r.get("event_tally_drift_unexplained") == 0
        and r.get("event_tally_drift_after_recount") == 0
        and r.get("poll_tally_drift_unexplained") == 0
        and r.get("poll_tally_drift_after_recount") == 0
    )


# --------------------------------------------------------------------------- reports mode
_CRASHY_SERVER = """
import os, random, threading, uvicorn
from livevote.app import create_app
from livevote.tallies.faults import FaultInjector, SimulatedCrash

class RandomCrashes(FaultInjector):
    def __init__(self, rate, seed):
        super().__init__()
        self.rate, self.rng = rate, random.Random(seed)
    def reached(self, point):
        with self._lock:
            fire = self.rng.random() < self.rate
        if fire:
            raise SimulatedCrash(f"simulated crash at {point}")

app = create_app()
app.state.fault_injector = RandomCrashes(
    float(os.environ["CHAOS_CRASH_RATE"]), int(os.environ["CHAOS_SEED"]))
uvicorn.run(app, host="127.0.0.1", port=int(os.environ["LIVEVOTE_PORT"]), loop="uvloop",
            http="httptools", log_config=None, access_log=False, timeout_graceful_shutdown=5)
"""


async def run_reports(args: argparse.Namespace) -> dict[str, Any]:
    """Reports sent `sends` times each while every crash point of the report pipeline fires
    at random (`--crash-rate` per pass, in the request path and the pending-report worker
    alike), optionally with NX-27017 killed `--report-faults` times."""
    from livevote.tallies.faults import POINTS

    rng = random.Random(args.seed)
    work = Path(args.data_dir or tempfile.mkdtemp(prefix="livevote-reports-"))
    stack = EmbeddedStack(work / "embedded").start()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = server_env(
        stack,
        port,
        work / "app",
        CHAOS_CRASH_RATE=str(args.crash_rate),
        CHAOS_SEED=str(args.seed),
        LIVEVOTE_MONGO_DATABASE="reports",
    )
    log_path = work / "server.log"
    proc = start_server(env, log_path, [sys.executable, "-c", _CRASHY_SERVER])
    stats = Stats()
    faults = FaultInjector(stack, rng)
    result: dict[str, Any] = {"mode": "reports", "crash_points": list(POINTS)}
    try:
        await wait_ready(url)
        limits = httpx.Limits(
            max_connections=args.clients + 50, max_keepalive_connections=args.clients + 50
        )
        async with httpx.AsyncClient(
            base_url=url, timeout=httpx.Timeout(args.hang * 2), limits=limits
        ) as c:
            user = await register(c, f"ec{uuid.uuid4().hex[:8]}")
            parties = ["red", "blue", "green", "gold"]
            cities = [{"name": f"city{i}", "ballot_boxes": args.reports} for i in range(5)]
            r = await c.post(
                "/api/elections",
                json={"name": "Chaos night", "parties": parties, "cities": cities},
                headers=user["headers"],
            )
            r.raise_for_status()
            election = r.json()
            key = {"X-Reporter-Key": election["reporter_key"]}
            reports = []
            for i in range(args.reports):
                votes = {p: rng.randint(0, 500) for p in parties}
                reports.append(
                    {
                        "report_id": f"rep-{i}",
                        "ballot_box_id": f"box-{i}",
                        "city": f"city{i % 5}",
                        "votes": votes,
                    }
                )
            api = Api(c, stats, args.hang, time.monotonic() + 3600)
            answers: Counter[str] = Counter()
            sem = asyncio.Semaphore(args.clients)

            async def send(body: dict[str, Any]) -> None:
                async with sem:
                    r, _ = await api.call(
                        "POST",
                        f"/api/elections/{election['id']}/reports",
                        json=body,
                        headers=key,
                        retry=False,
                    )
                    if r is None:
                        answers["no answer"] += 1
                    elif r.status_code == 500 and "simulated-crash" in r.text:
                        answers["500 simulated crash"] += 1
                    else:
                        answers[str(r.status_code)] += 1

            sends = [b for b in reports for _ in range(args.sends)]
            rng.shuffle(sends)
            t0 = time.monotonic()
            fault_task = (
                asyncio.create_task(faults.run(args.report_faults, max(5.0, args.reports / 100)))
                if args.report_faults
                else None
            )
            await asyncio.gather(*(send(b) for b in sends))
            if fault_task:
                await fault_task
            result["send_seconds"] = round(time.monotonic() - t0, 1)
            await wait_ready(url)
            from pymongo import AsyncMongoClient

            mc: AsyncMongoClient[Any] = AsyncMongoClient(stack.mongo_uri, tz_aware=True)
            db = mc["reports"]
            try:
                # the worker finishes whatever a crash left pending (it crashes too, at random)
                # (the worker crashes at random too: ~1-2 reports/s finish per worker pass rate
                # on this box, so allow time in proportion to the number of reports)
                drain = max(180.0, args.reports / 2)
                deadline = time.monotonic() + drain
                while await db["election_reports"].count_documents(
                    {"election_id": election["id"], "status": "pending"}
                ):
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"reports still pending after {drain:.0f} s")
                    await asyncio.sleep(0.3)
                stored_ids = [
                    d["report_id"]
                    async for d in db["election_reports"].find(
                        {"election_id": election["id"]}, {"report_id": 1}
                    )
                ]
                audit = await db["election_audit"].count_documents({"election_id": election["id"]})
            finally:
                await mc.close()
            expected = Counter[str]()
            for b in reports:
                if b["report_id"] in set(stored_ids):
                    expected.update(b["votes"])
            totals = (await c.get(f"/api/elections/{election['id']}/totals")).json()
            # resend a batch once more (crashes still on): nothing may change
            again = await asyncio.gather(
                *(
                    c.post(f"/api/elections/{election['id']}/reports", json=b, headers=key)
                    for b in reports[: min(len(reports), 300)]
                )
            )
            await asyncio.sleep(1.5)
            totals2 = (await c.get(f"/api/elections/{election['id']}/totals")).json()
        result.update(
            {
                "reports": args.reports,
                "sends_per_report": args.sends,
                "requests": len(sends),
                "answers": dict(answers),
                "simulated_crashes_seen_by_clients": answers["500 simulated crash"],
                "faults_injected": len(faults.log),
                "reports_stored": len(set(stored_ids)),
                "report_documents": len(stored_ids),
                "audit_entries": audit,
                "totals_equal_sum_of_reports": totals["votes"]
                == {p: expected.get(p, 0) for p in totals["votes"]},
                "reported_boxes": totals.get("reported_boxes"),
                "resend_statuses": dict(Counter(str(r.status_code) for r in again)),
                "totals_unchanged_by_resend": totals2["votes"] == totals["votes"],
                "transport_errors": dict(stats.transport_errors),
                "unexpected_5xx": sum(1 for e in stats.errors_500 if "simulated-crash" not in e),
                "bad_503": stats.bad_503,
            }
        )
    finally:
        code = stop_process(proc)
        stack.stop()
    result["server_exit_code"] = code
    result["ok"] = bool(
        result.get("totals_equal_sum_of_reports")
        and result.get("totals_unchanged_by_resend")
        and result.get("reported_boxes") == result.get("reports_stored")
        and result.get("report_documents") == result.get("reports_stored")
        and result.get("audit_entries") == 4 * result.get("reports_stored", 0)
        and set(result.get("resend_statuses", {})) <= {"202", "500"}
        and result.get("unexpected_5xx") == 0
        and result.get("bad_503") == 0
    )
    return result


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--duration", type=float, default=120.0, help="seconds of load")
    p.add_argument("--clients", type=int, default=400, help="concurrent attendee clients")
    p.add_argument("--faults", type=int, default=30, help="kill -9 + restart count")
    p.add_argument("--events", type=int, default=10)
    p.add_argument("--teams", type=int, default=6)
    p.add_argument("--rotate", type=float, default=4.0, help="seconds between stage switches")
    p.add_argument("--polls", type=int, default=10)
    p.add_argument("--poll-users", type=int, default=50)
    p.add_argument("--sse", type=int, default=20, help="SSE readers")
    p.add_argument("--think", type=float, default=4.0, help="mean seconds between a client's votes")
    p.add_argument("--hang", type=float, default=10.0, help="a request slower than this hangs")
    p.add_argument("--seed", type=int, default=int(time.time()))
    p.add_argument("--data-dir", default="")
    p.add_argument("--reports", type=int, default=0, help="reports mode: number of reports")
    p.add_argument("--sends", type=int, default=3)
    p.add_argument("--crash-rate", type=float, default=0.2)
    p.add_argument("--report-faults", type=int, default=0, help="NX-27017 kills in reports mode")
    p.add_argument("--out", default="")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.reports:
        args.clients = min(args.clients, 200)
    result = asyncio.run(run_reports(args) if args.reports else run_votes(args))
    text = json.dumps(result, indent=2, default=str)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
