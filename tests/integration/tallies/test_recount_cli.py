"""`livevote recount elections [--id ID] [--fix] [--json]`: exit 0 when the totals agree
with the reports, 1 on a difference, 0 once `--fix` repaired it, 2 for a bad id; and the
repair's check-and-set against a report applied meanwhile."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from bson import ObjectId

from livevote.tallies.cache import TTL_SECONDS
from livevote.tallies.keys import party_key
from livevote.tallies.recount import check, repair
from livevote.tallies.repository import ElectionRepository
from tests.support.servers import RunningServer, run_livevote
from tests.support.tallies import create_election, report_body, send, totals
from tests.support.users import register_user


async def _cli(server: RunningServer, *args: str) -> tuple[int, str]:
    done = await asyncio.to_thread(run_livevote, server.settings, "recount", "elections", *args)
    return done.returncode, done.stdout + done.stderr


async def test_recount_cli_reports_then_fixes(
    client: httpx.AsyncClient, server: RunningServer, server_db: Any
) -> None:
    u = await register_user(client)
    e = await create_election(client, u["headers"])
    await send(client, e, report_body("r1", "b1", "london", {"tories": 4, "labour": 2}))
    await send(client, e, report_body("r2", "b1", "london", {"tories": 1}, supersedes="r1"))
    code, out = await _cli(server, "--id", e["id"])
    assert code == 0, out
    assert f"elections {e['id']}: consistent" in out and "2 applied, 0 pending report(s)" in out

    await server_db["election_totals"].update_one(
        {"election_id": e["id"], "city_index": 0}, {"$inc": {"votes.p0": 5}}
    )
    code, out = await _cli(server, "--id", e["id"], "--json")
    assert code == 1, out
    [report] = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert report == {
        "domain": "elections",
        "id": e["id"],
        "consistent": False,
        "fixed": False,
        "differences": [{"what": "london/tories", "stored": {"votes": 6}, "counted": {"votes": 1}}],
        "notes": ["2 applied, 0 pending report(s)"],
    }

    code, out = await _cli(server, "--id", e["id"], "--fix")
    assert code == 0, out
    assert f"elections {e['id']}: FIXED" in out
    assert "london/tories: stored {'votes': 6}, counted {'votes': 1}" in out
    t = await totals(client, e, "london")
    assert t["votes"] == {"tories": 1, "labour": 0, "libdems": 0, "reform": 0}
    assert t["reported_boxes"] == 1
    code, out = await _cli(server, "--id", e["id"])
    assert code == 0 and f"elections {e['id']}: consistent" in out, out

    code, out = await _cli(server, "--id", "nope")
    assert code == 2 and "'nope' is not an election id" in out, out
    code, out = await _cli(server, "--id", "a" * 24)
    assert code == 2 and f"election {'a' * 24} not found" in out, out


async def test_fix_never_overwrites_a_report_applied_meanwhile(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    u = await register_user(client)
    e = await create_election(client, u["headers"])
    await send(client, e, report_body("r1", "b1", "manchester", {"labour": 10}))
    report = await server_db["election_reports"].find_one(
        {"report_id": "r1", "election_id": e["id"]}
    )
    await server_db["election_totals"].update_one(
        {"_id": report["shard_id"]}, {"$inc": {"votes.p1": 7}}
    )
    repo = ElectionRepository(server_db)
    election = await repo.election(ObjectId(e["id"]))
    assert election is not None
    found = await check(repo, election)
    assert [d.what for d in found.differences] == ["manchester/labour"]
    [fix] = found.fixes
    assert fix.votes[party_key(1)] == 10

    # a report of another box of the same shard is applied between the read and the write
    r = await send(client, e, report_body("r2", "b2", "manchester", {"labour": 3}))
    assert r.status_code == 202 and r.json()["status"] == "applied"
    keys = [party_key(i) for i in range(len(election["parties"]))]
    written = await repo.rewrite_shard(
        fix.seen,
        keys,
        votes=fix.votes,
        reported_boxes=fix.reported_boxes,
        add_markers=fix.add_markers,
        drop_markers=fix.drop_markers,
    )
    assert written is False
    assert (await totals(client, e, "manchester"))["votes"]["labour"] == 10 + 7 + 3

    # the repair recounts after a missed write and fixes from the newer state
    fixed = await repair(repo, election, found)
    assert fixed.fixed is True
    # a repair outside the service does not move the change counter: public reads catch up
    # within the read cache's TTL
    await asyncio.sleep(TTL_SECONDS + 0.1)
    t = await totals(client, e, "manchester")
    assert t["votes"]["labour"] == 13 and t["reported_boxes"] == 2
    assert (await check(repo, election)).ok
