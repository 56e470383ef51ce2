"""Chaos, votes mode, afterwards: what the clients know against what was stored.

- every acknowledged vote stored exactly once, with its value; no stored vote unexplained
  (acknowledged, proven by a retry's 409 already-voted, or of unknown outcome);
- every tally equal to its recount from the stored votes, any difference explained by votes
  whose outcome the client could not know, and repaired by the recount;
- every SSE reader's last state equal to the final results.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from typing import Any

import httpx
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from loadtest.lib.client import Outcome, World
from loadtest.lib.sse import Reader

Doc = dict[str, Any]


async def verify_votes(
    url: str, mongo_uri: str, database: str, w: World, readers: list[Reader]
) -> dict[str, Any]:
    mc: AsyncMongoClient[Doc] = AsyncMongoClient(mongo_uri, tz_aware=True)
    try:
        db = mc[database]
        out = await _verify_events(url, db, w, readers)
        out.update(await _verify_polls(url, db, w))
        return out
    finally:
        await mc.close()


async def _verify_events(
    url: str, db: AsyncDatabase[Doc], w: World, readers: list[Reader]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    event_ids = [e["id"] for e in w.events]
    stored: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    async for d in db["event_votes"].find({"event_id": {"$in": event_ids}}):
        stored[(d["event_id"], d["team_id"], d["attendee_id"])].append(int(d["score"]))
    out.update(check_outcomes("event_votes", w.event_votes, stored))

    def recounted(
        eid: str, team: str, votes: dict[tuple[str, str, str], list[int]] = stored
    ) -> list[int]:
        want = [0, 0]
        for (e, t, _a), scores in votes.items():
            if e == eid and t == team:
                want[0] += len(scores)
                want[1] += sum(scores)
        return want

    # every tally equals its recount from the stored votes (and the public results agree)
    drift: list[dict[str, Any]] = []
    async with httpx.AsyncClient(base_url=url, timeout=30) as c:
        finals: dict[str, list[dict[str, Any]]] = {}
        for eid in event_ids:
            r = await c.get(f"/api/events/{eid}/results")
            r.raise_for_status()
            finals[eid] = r.json()["results"] if "results" in r.json() else r.json()["teams"]
            for row in finals[eid]:
                want = recounted(eid, row["team_id"])
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
        # read the votes again: a fix finishes what an outage left half-done, counting a
        # stranded vote while its window is open and deleting it (409 on retry) once it closed;
        # a request still in flight from the run may land a moment later, so allow it to settle
        settle = time.monotonic() + 15
        while True:
            stored_after: dict[tuple[str, str, str], list[int]] = defaultdict(list)
            async for d in db["event_votes"].find({"event_id": {"$in": event_ids}}):
                key = (d["event_id"], d["team_id"], d["attendee_id"])
                stored_after[key].append(int(d["score"]))
            after = 0
            for eid in event_ids:
                rows = (await c.get(f"/api/events/{eid}/results")).json()["results"]
                for row in rows:
                    want = recounted(eid, row["team_id"], stored_after)
                    after += [row["votes"], row["score_sum"]] != want
                finals[eid] = rows
            if after == 0 or time.monotonic() > settle:
                break
            await asyncio.sleep(0.5)
            for eid in {d["event"] for d in drift}:  # a fix refused by a concurrent count
                r = await c.post(f"/api/events/{eid}/recount", headers=w.host_headers)
                r.raise_for_status()
        out["event_votes_removed_by_recount"] = sum(map(len, stored.values())) - sum(
            map(len, stored_after.values())
        )
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
    return out


async def _verify_polls(url: str, db: AsyncDatabase[Doc], w: World) -> dict[str, Any]:
    from livevote.polls.recount import recount as recount_polls

    out: dict[str, Any] = {}
    poll_ids = [p["id"] for p in w.polls]
    name_of = {}
    async with httpx.AsyncClient(base_url=url, timeout=30) as c:
        for u in w.poll_users:
            me = (await c.get("/api/users/me", headers=u.headers)).json()
            name_of[me["id"]] = u.name
    stored: dict[tuple[str, str], list[int]] = defaultdict(list)
    async for d in db["poll_responses"].find({"poll_id": {"$in": poll_ids}, "kind": "vote"}):
        if d["user_id"] in name_of:
            stored[(d["poll_id"], name_of[d["user_id"]])].append(int(d["option_index"]))
    out.update(check_outcomes("poll_votes", w.poll_votes, stored))
    drift = []
    async with httpx.AsyncClient(base_url=url, timeout=30) as c:
        for pid in poll_ids:
            stats = (await c.get(f"/api/polls/{pid}/stats")).json()
            counted = Counter(v[0] for (p, _u), v in stored.items() if p == pid)
            got = {o["index"]: o["votes"] for o in stats["options"]}
            if any(got.get(i, 0) != counted.get(i, 0) for i in range(3)):
                uncertain = sum(
                    1
                    for (p, u), o in w.poll_votes.items()
                    if p == pid and o.uncertain and o.final != "acked" and (p, u) in stored
                )
                missing = sum(counted.values()) - sum(got.values())
                drift.append(
                    {
                        "poll": pid,
                        "stats": got,
                        "recount": dict(counted),
                        "uncertain_stored": uncertain,
                        "explained": 0 < missing <= uncertain,
                    }
                )
    out["poll_votes_uncounted"] = sum(
        sum(d["recount"].values()) - sum(d["stats"].values()) for d in drift
    )
    out["poll_tally_drift_unexplained"] = sum(1 for d in drift if not d["explained"])
    # the repair path: `livevote recount polls --fix`
    for d in drift:
        await recount_polls(db, scope_id=d["poll"], fix=True)
    still = await recount_polls(db, scope_id=None, fix=False) if drift else []
    drifted = {d["poll"] for d in drift}
    out["poll_tally_drift_after_recount"] = len(
        [r for r in still if not r.consistent and r.id in drifted]
    )
    out["poll_tally_drift"] = drift
    return out


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
