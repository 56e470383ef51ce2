"""Chaos, reports mode: election reports sent several times each, concurrently, while every
crash point of the report pipeline fires at random (`--crash-rate` per pass, in the request
path and the pending-report worker alike: lib/crashy_server.py), optionally with NX-27017
killed `--report-faults` times. Afterwards every stored report is applied exactly once and the
totals equal the sum of the distinct reports; a resend of a batch changes nothing."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from livevote.infra.embedded import EmbeddedStack, free_port
from livevote.tallies.service import CRASH_POINTS as POINTS
from loadtest.lib import ROOT
from loadtest.lib.api import register
from loadtest.lib.client import Api, Stats
from loadtest.lib.faults import ServerKiller
from loadtest.lib.procs import server_env, start_server, stop_process, wait_ready

PARTIES = ["red", "blue", "green", "gold"]
CITIES = 5


async def run_reports(args: argparse.Namespace) -> dict[str, Any]:
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
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    log_path = work / "server.log"
    proc = start_server(env, log_path, [sys.executable, "-m", "loadtest.lib.crashy_server"])
    stats = Stats()
    faults = ServerKiller(stack, rng)
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
            cities = [{"name": f"city{i}", "ballot_boxes": args.reports} for i in range(CITIES)]
            r = await c.post(
                "/api/elections",
                json={"name": "Chaos night", "parties": PARTIES, "cities": cities},
                headers=user.headers,
            )
            r.raise_for_status()
            election = r.json()
            post_url = f"/api/elections/{election['id']}/reports"
            key = {"X-Reporter-Key": election["reporter_key"]}
            reports = [
                {
                    "report_id": f"rep-{i}",
                    "ballot_box_id": f"box-{i}",
                    "city": f"city{i % CITIES}",
                    "votes": {p: rng.randint(0, 500) for p in PARTIES},
                }
                for i in range(args.reports)
            ]
            api = Api(c, stats, args.hang, time.monotonic() + 3600)
            answers: Counter[str] = Counter()
            sem = asyncio.Semaphore(args.clients)

            async def send(body: dict[str, Any]) -> None:
                async with sem:
                    r, _ = await api.call("POST", post_url, json=body, headers=key, retry=False)
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
            stored_ids, audit = await _drain(stack.mongo_uri, election["id"], args.reports)
            expected = Counter[str]()
            for b in reports:
                if b["report_id"] in set(stored_ids):
                    expected.update(b["votes"])
            totals = (await c.get(f"/api/elections/{election['id']}/totals")).json()
            # resend a batch once more (crashes still on): nothing may change
            again = await asyncio.gather(
                *(c.post(post_url, json=b, headers=key) for b in reports[: min(len(reports), 300)]),
                return_exceptions=True,  # a dropped connection is an unknown outcome, like a crash
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
                "resend_statuses": dict(
                    Counter(
                        str(r.status_code) if isinstance(r, httpx.Response) else "no answer"
                        for r in again
                    )
                ),
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
    result["ok"] = reports_ok(result)
    return result


async def _drain(mongo_uri: str, election_id: str, reports: int) -> tuple[list[str], int]:
    """Wait for the worker to finish whatever a crash left pending; the stored report ids
    (one per document) and the number of audit entries."""
    mc: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, tz_aware=True)
    db = mc["reports"]
    try:
        # the worker crashes at random too: ~1-2 reports/s finish per worker pass on this
        # box, so allow time in proportion to the number of reports
        drain = max(180.0, reports / 2)
        deadline = time.monotonic() + drain
        while await db["election_reports"].count_documents(
            {"election_id": election_id, "status": "pending"}
        ):
            if time.monotonic() > deadline:
                raise RuntimeError(f"reports still pending after {drain:.0f} s")
            await asyncio.sleep(0.3)
        stored_ids = [
            d["report_id"]
            async for d in db["election_reports"].find(
                {"election_id": election_id}, {"report_id": 1}
            )
        ]
        audit = await db["election_audit"].count_documents({"election_id": election_id})
        return stored_ids, audit
    finally:
        await mc.close()


def reports_ok(r: dict[str, Any]) -> bool:
    return bool(
        r.get("totals_equal_sum_of_reports")
        and r.get("totals_unchanged_by_resend")
        and r.get("reported_boxes") == r.get("reports_stored")
        and r.get("report_documents") == r.get("reports_stored")
        and r.get("audit_entries") == len(PARTIES) * r.get("reports_stored", 0)
        and set(r.get("resend_statuses", {})) <= {"202", "500"}
        and r.get("unexpected_5xx") == 0
        and r.get("bad_503") == 0
    )
