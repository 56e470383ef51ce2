"""Exactly once under crashes and concurrency: crashes injected at the crash points
(tests/support/faults.py through create_app's hooks), the pending-report worker, leases, and
1,000 reports from 100 concurrent senders."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from livevote.config import Settings
from livevote.infra.hooks import NO_HOOKS
from livevote.infra.resources import utc_now
from livevote.tallies.repository import ElectionRepository
from livevote.tallies.service import CRASH_POINTS
from livevote.tallies.worker import PendingReportWorker
from tests.support.faults import FaultInjector
from tests.support.http import http_client
from tests.support.servers import RunningServer
from tests.support.tallies import (
    PARTIES,
    create_election,
    recounted,
    report_body,
    send,
    send_retrying,
    totals,
    wait_until_applied,
)
from tests.support.users import register_user


async def _db(server: RunningServer) -> Any:
    from pymongo import AsyncMongoClient

    mc: AsyncMongoClient[Any] = AsyncMongoClient(server.settings.mongo.uri, tz_aware=True)
    return mc, mc[server.settings.mongo.database]


@pytest.fixture(scope="module")
def faults() -> FaultInjector:
    return FaultInjector(CRASH_POINTS)


@pytest.fixture(scope="module")
def crash_server(make_server: Callable[..., RunningServer], faults: FaultInjector) -> RunningServer:
    return make_server(hooks=faults)


@pytest.mark.parametrize("point", CRASH_POINTS)
async def test_crash_at_each_point_then_worker_applies_once(
    crash_server: RunningServer, faults: FaultInjector, point: str
) -> None:
    mc, db = await _db(crash_server)
    try:
        async with http_client(crash_server.url) as client:
            u = await register_user(client)
            e = await create_election(client, u["headers"])
            first = [
                report_body(
                    f"r{i}",
                    f"box{i}",
                    ["london", "edinburgh"][i % 2],
                    {"tories": i, "labour": 2 * i + 1},
                )
                for i in range(12)
            ]
            for body in first:  # nothing crashes yet: the originals of the corrections
                if body["report_id"] in {"r0", "r1"}:
                    assert (await send(client, e, body)).status_code == 202
            # every request below crashes at `point` (and so does the worker meanwhile)
            faults.arm(point)
            crashed = [b for b in first if b["report_id"] not in {"r0", "r1"}]
            crashed.append(report_body("c0", "box0", "london", {"reform": 9}, supersedes="r0"))
            crashed.append(report_body("c1", "box1", "edinburgh", {"tories": 4}, supersedes="r1"))
            crashed.append(report_body("c2", "box0", "london", {"reform": 8}, supersedes="c0"))
            for body in crashed:
                r = await send(client, e, body)
                assert r.status_code == 500, r.text
                assert r.json()["type"].endswith("/simulated-crash")
            # a box that retries its request gets a 2xx and still nothing is double counted
            r = await send(client, e, crashed[0])
            assert r.status_code == 202 and r.json()["report_id"] == "r2"
            # (still pending, unless the point is after_store: the worker never passes that)
            assert r.json()["status"] in (
                {"pending", "applied"} if point == "after_store" else {"pending"}
            )
            # the worker's next 3 attempts crash too; it retries after each lease expires
            faults.arm(point, times=3)
            await wait_until_applied(db, e["id"])
            if point != "after_store":
                assert faults.hits.get(point, 0) >= len(crashed) + 3
            counted = [b for b in first if b["report_id"] not in {"r0", "r1"}]
            counted += [crashed[-2], crashed[-1]]  # c1 replaces r1; c2 replaces c0 replaces r0
            expected = Counter[str]()
            for b in counted:
                expected.update(b["votes"])
            t = await totals(client, e)
            assert t["votes"] == {p: expected[p] for p in PARTIES}
            assert t["reported_boxes"] == 12
            assert await db["election_audit"].count_documents({"election_id": e["id"]}) == (
                # 2 parties x 12 reports; a correction has an entry per party of either
                # report: c0 (tories, labour, reform), c1 (tories, labour), c2 (reform)
                2 * 12 + 3 + 2 + 1
            )
            result = await recounted(db, e["id"])
            assert result.ok, result
            assert result.applied == 15 and result.pending == 0
    finally:
        faults.disarm()
        await mc.close()


async def test_competing_workers_apply_each_pending_report_once(
    crash_server: RunningServer, faults: FaultInjector
) -> None:
    """Reports stranded right after storing, then three workers (two here, one in the
    server) race to finish them: leases and markers keep every count exact."""
    mc, db = await _db(crash_server)
    try:
        async with http_client(crash_server.url) as client:
            u = await register_user(client)
            e = await create_election(client, u["headers"])
            faults.arm("after_store", times=60)
            bodies = [
                report_body(f"w{i}", f"b{i}", "london", {"libdems": 1, "reform": i})
                for i in range(60)
            ]
            codes = [(await send(client, e, b)).status_code for b in bodies]
            assert codes == [500] * 60
            faults.disarm()
            settings = Settings(pending_report_delay_seconds=0.2)
            repo = ElectionRepository(db)
            workers = [PendingReportWorker(repo, settings, utc_now, NO_HOOKS) for _ in "ab"]
            await asyncio.sleep(0.6)
            done = await asyncio.gather(*(w.run_once() for w in workers))
            await wait_until_applied(db, e["id"])
            assert sum(done) <= 60
            t = await totals(client, e, "london")
            assert t["votes"]["libdems"] == 60 and t["votes"]["reform"] == sum(range(60))
            assert t["reported_boxes"] == 60
            result = await recounted(db, e["id"])
            assert result.ok, result
    finally:
        faults.disarm()
        await mc.close()


@pytest.mark.slow
async def test_thousand_reports_from_hundred_concurrent_boxes(
    make_server: Callable[..., RunningServer],
) -> None:
    # A longer hold than the other tests: under load the worker should not be finishing
    # reports whose requests are merely slow (harmless, but it doubles the work).
    server = make_server(pending_report_delay_seconds=10.0)
    rng = random.Random(27017)
    cities: list[dict[str, Any]] = [{"name": f"city{i}", "ballot_boxes": 200} for i in range(5)]
    mc, db = await _db(server)
    try:
        async with http_client(server.url) as client:
            u = await register_user(client)
            e = await create_election(client, u["headers"], cities=cities)
            plan = {  # 100 concurrent senders, 10 boxes each, one report per box
                sender: [
                    report_body(
                        f"{sender}-{n}",
                        f"{sender}-box{n}",
                        f"city{b % 5}",
                        {p: rng.randint(0, 50) for p in PARTIES},
                    )
                    for n in range(10)
                ]
                for b in range(100)
                for sender in [f"s{b:03d}"]
            }

            async def box_reports(bodies: list[dict[str, Any]]) -> list[int]:
                return [(await send_retrying(client, e, body)).status_code for body in bodies]

            started = time.perf_counter()
            codes = await asyncio.gather(*(box_reports(b) for b in plan.values()))
            elapsed = time.perf_counter() - started
            print(
                f"\n1,000 reports from 100 concurrent boxes: {elapsed:.2f}s "
                f"({1000 / elapsed:.0f} reports/s)"
            )
            assert all(c == [202] * 10 for c in codes)
            national = Counter[str]()
            per_city: dict[str, Counter[str]] = {c["name"]: Counter() for c in cities}
            for bodies in plan.values():
                for body in bodies:
                    national.update(body["votes"])
                    per_city[body["city"]].update(body["votes"])
            t = await totals(client, e)
            assert t["votes"] == {p: national[p] for p in PARTIES}
            assert t["reported_boxes"] == 1000 and t["expected_boxes"] == 1000
            for name, expected in per_city.items():
                ct = await totals(client, e, name)
                assert ct["votes"] == {p: expected[p] for p in PARTIES}
                assert ct["reported_boxes"] == 200
            result = await recounted(db, e["id"])
            assert result.ok, result
    finally:
        await mc.close()


async def test_lease_claims_are_exclusive(crash_server: RunningServer) -> None:
    """120 concurrent claims over 10 due reports: each report is leased exactly once."""
    # Due only for a clock 20 minutes ahead, so the server's own worker leaves them alone.
    soon = int(time.time() * 1000) + 10 * 60_000
    later = soon + 10 * 60_000
    mc, db = await _db(crash_server)
    try:
        repo = ElectionRepository(db)
        await db["election_reports"].insert_many(
            [
                {
                    "election_id": "lease-test",
                    "report_id": f"l{i}",
                    "status": "pending",
                    "lease_until_ms": soon + i,
                }
                for i in range(10)
            ]
        )
        claims = await asyncio.gather(
            *(repo.claim_pending(now_ms=later, lease_ms=60_000, owner=f"w{i}") for i in range(120))
        )
        won = [c for c in claims if c is not None]
        assert sorted(c["report_id"] for c in won) == sorted(f"l{i}" for i in range(10))
        for c in won:
            assert c["lease_until_ms"] == later + 60_000 and c["attempts"] == 1
        assert await repo.claim_pending(now_ms=later, lease_ms=1, owner="late") is None
    finally:
        await db["election_reports"].delete_many({"election_id": "lease-test"})
        await mc.close()
