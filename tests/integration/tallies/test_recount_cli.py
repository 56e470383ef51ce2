"""`livevote recount elections`: exit 0 when totals agree with the reports, 1 otherwise."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import httpx

from tests.support.servers import RunningServer
from tests.support.tallies import create_election, report_body, send
from tests.support.users import register_user


async def _cli(server: RunningServer, *args: str) -> tuple[int, str]:
    env = {
        **os.environ,
        "MONGODB_URI": server.settings.mongo.uri,
        "REDIS_URL": server.settings.redis.url,
        "LIVEVOTE_MONGO_DATABASE": server.settings.mongo.database,
        "LIVEVOTE_LOG_LEVEL": "WARNING",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "livevote",
        "recount",
        "elections",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_recount_cli(
    client: httpx.AsyncClient, server: RunningServer, server_db: Any
) -> None:
    u = await register_user(client)
    e = await create_election(client, u["headers"])
    await send(client, e, report_body("r1", "b1", "london", {"tories": 4, "labour": 2}))
    await send(client, e, report_body("r2", "b1", "london", {"tories": 1}, supersedes="r1"))
    code, out = await _cli(server, "--election", e["id"])
    assert code == 0, out
    assert f"election {e['id']}: consistent" in out and "2 applied" in out
    await server_db["election_totals"].update_one(
        {"election_id": e["id"], "city_index": 0}, {"$inc": {"votes.p0": 5}}
    )
    code, out = await _cli(server, "--election", e["id"])
    assert code == 1, out
    assert "DIFFERENT" in out and "london/tories: totals 6, reports say 1" in out
