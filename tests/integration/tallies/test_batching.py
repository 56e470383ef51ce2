"""Ballot reports under group commit (tallies/batching.py): concurrent reports of one election
share their writes, and each keeps its own answer (a duplicate box, a full city, a resend)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
from prometheus_client import REGISTRY

from tests.support.tallies import (
    PARTIES,
    create_election,
    recounted,
    report_body,
    send,
    totals,
)
from tests.support.users import register_user


def _batches() -> tuple[float, float]:
    labels = {"kind": "ballot_reports"}
    count = REGISTRY.get_sample_value("livevote_group_commit_batch_size_count", labels)
    total = REGISTRY.get_sample_value("livevote_group_commit_batch_size_sum", labels)
    return count or 0.0, total or 0.0


async def test_concurrent_reports_are_batched_and_answered_one_by_one(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    u = await register_user(client)
    cities = [{"name": "full", "ballot_boxes": 150}, {"name": "roomy", "ballot_boxes": 100}]
    e = await create_election(client, u["headers"], cities=cities)
    # "full": 160 boxes for 150 slots; "roomy": 80 boxes, 20 of them reported twice (under
    # two report ids), and 10 reports resent with the same id and body
    full = [report_body(f"f{i}", f"fbox{i}", "full", {"tories": 1}) for i in range(160)]
    roomy = [report_body(f"r{i}", f"rbox{i}", "roomy", {"labour": i}) for i in range(80)]
    twins = [report_body(f"t{i}", f"rbox{i}", "roomy", {"reform": 5}) for i in range(20)]
    resends = [dict(b) for b in roomy[40:50]]
    before = _batches()
    bodies = full + roomy + twins + resends
    answers = await asyncio.gather(*(send(client, e, b) for b in bodies))
    after = _batches()
    by_body = list(zip(bodies, answers, strict=True))

    full_codes = Counter(
        (r.status_code, r.json().get("type", "").rsplit("/", 1)[-1]) for b, r in by_body[:160]
    )
    assert full_codes == {(202, ""): 150, (409, "city-fully-reported"): 10}, full_codes
    for i in range(20):  # each twice-reported box: one report counted, the other a 409
        pair = [r for b, r in by_body if b["ballot_box_id"] == f"rbox{i}"]
        codes = sorted(r.status_code for r in pair)
        assert codes == [202, 409], [r.text for r in pair]
        [refused] = [r for r in pair if r.status_code == 409]
        assert refused.json()["type"].endswith("/box-already-reported")
    for body, r in by_body[-10:]:
        assert r.status_code == 202 and r.json()["report_id"] == body["report_id"], r.text

    counted = [b for b, r in by_body[:260] if r.status_code == 202]
    expected = Counter[str]()
    for b in counted:
        expected.update(b["votes"])
    t = await totals(client, e)
    assert t["votes"] == {p: expected[p] for p in PARTIES}
    assert t["reported_boxes"] == 150 + 80
    result = await recounted(server_db, e["id"])
    assert result.ok, result
    assert result.applied == 230 and result.pending == 0
    # batched: fewer flushes than reports (the first report of an idle election goes alone)
    flushes, items = after[0] - before[0], after[1] - before[1]
    assert items == len(bodies)
    assert flushes < len(bodies) / 4, (flushes, items)
