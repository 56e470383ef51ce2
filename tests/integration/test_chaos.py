"""Chaos under load, short form (the long form is `python loadtest/chaos.py`, see
docs/RELIABILITY.md): hundreds of voting clients while NX-27017 and redis-server are killed
with SIGKILL and restarted; election reports resent with crashes injected. Each run writes its
figures to test-artifacts/reliability/."""

from __future__ import annotations

from pathlib import Path

import pytest
from loadtest.chaos import parser
from loadtest.lib.chaos_reports import run_reports
from loadtest.lib.chaos_votes import run_votes

from tests.support.artifacts import save_json

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


async def test_votes_survive_mongo_and_redis_kills(tmp_path: Path) -> None:
    args = parser().parse_args(
        [
            "--duration", "30", "--clients", "200", "--faults", "12", "--events", "8",
            "--teams", "4", "--rotate", "6", "--think", "3", "--polls", "6",
            "--poll-users", "40", "--sse", "10", "--hang", "15", "--seed", "7",
            "--data-dir", str(tmp_path),
        ]
    )  # fmt: skip
    r = await run_votes(args)
    save_json("reliability", "chaos-votes", r)
    assert r["faults_injected"] >= 10 and set(r["faults"]) == {"mongo", "redis"}
    assert r["event_votes_sent"] >= 200 and r["event_votes_acknowledged"] > 0
    # 0 acknowledged votes lost, 0 counted twice, nothing stored that nobody sent
    for kind in ("event_votes", "poll_votes"):
        assert r[f"{kind}_lost"] == 0, r
        assert r[f"{kind}_duplicates"] == 0, r
        assert r[f"{kind}_wrong_value"] == 0, r
        assert r[f"{kind}_unexplained_stored"] == 0, r
        assert r[f"{kind}_already_voted_without_cause"] == 0, r
    # what clients see during an outage: a clean 503 with Retry-After, never a 500 or a hang
    assert r["responses_5xx_not_503"] == 0, r["examples_5xx"]
    assert r["server_unhandled_errors"] == 0
    assert r["bad_503"] == 0
    assert r["client_timeouts"] == 0
    assert r["statuses"].get("503", 0) > 0, "the faults were felt"
    # tallies: any difference from the recount is a vote whose outcome the client could not
    # know (see docs/RELIABILITY.md, "known gap"); the recount repairs it
    assert r["event_tally_drift_unexplained"] == 0, r["event_tally_drift"]
    assert r["event_tally_drift_after_recount"] == 0
    assert r["poll_tally_drift_unexplained"] == 0, r["poll_tally_drift"]
    assert r["poll_tally_drift_after_recount"] == 0
    # every SSE reader back in sync with the final state
    assert r["sse_readers_out_of_sync"] == 0


async def test_reports_applied_exactly_once_under_crashes(tmp_path: Path) -> None:
    args = parser().parse_args(
        ["--reports", "300", "--sends", "3", "--crash-rate", "0.15", "--clients", "100",
         "--seed", "11", "--data-dir", str(tmp_path)]
    )  # fmt: skip
    r = await run_reports(args)
    save_json("reliability", "chaos-reports", r)
    assert r["simulated_crashes_seen_by_clients"] >= 30
    # each report was sent 3 times with a 15% crash chance per pipeline step: whatever was
    # stored is applied exactly once (by the request or by the pending-report worker)
    assert r["reports_stored"] == r["report_documents"] >= 290
    assert r["audit_entries"] == r["reports_stored"] * 4, "one audit entry per party, once"
    assert r["totals_equal_sum_of_reports"]
    assert r["reported_boxes"] == r["reports_stored"]
    assert r["totals_unchanged_by_resend"] and set(r["resend_statuses"]) <= {"202", "500"}
    assert r["unexpected_5xx"] == 0 and r["bad_503"] == 0
    assert r["ok"]
