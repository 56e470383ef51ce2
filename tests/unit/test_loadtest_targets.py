"""The load suite's verdicts (loadtest/lib/targets.py) and the flat chart (lib/chart.py) on a
synthetic report: each target says met / missed with its figure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loadtest.lib import chart, targets


def flat_run(first: float, last: float, commit: str = "current") -> dict[str, Any]:
    windows = [
        {"votes_in_event": 1000 * (i + 1), "app_ms_per_vote": v / 2, "backing_ms_per_vote": v / 2}
        for i, v in enumerate([first, (first + last) / 2, last])
    ]
    return {
        "commit": commit,
        "windows": windows,
        "votes": 3000,
        "first_ms_per_vote": first,
        "last_ms_per_vote": last,
        "flat": last <= first * 1.15,
    }


def ballots(per_s: float, p99: float, ok: bool) -> dict[str, Any]:
    return {
        "requests": int(per_s * 30),
        "requests_per_s": per_s,
        "latency_ms": {"p50": 10.0, "p95": 20.0, "p99": p99},
        "server": {"cpu_seconds": per_s * 30 * 0.0015},  # 1.5 ms per report
        "exactly_once": {"ok": ok, "accepted_202": 10, "applied": 10},
    }


def test_every_target_has_a_verdict_with_its_figure() -> None:
    report = {
        "flat": flat_run(4.0, 4.4),
        "ballots": ballots(1010, 300, True),
        "sse": [
            {
                "streams": 1000,
                "rss_per_stream_kib": 11.5,
                "vote_to_screen_ms": {"p99": 160.0},
            }
        ],
    }
    lines = targets.summary(report)
    text = "\n".join(lines)
    assert "within 15 % of the first met (4.00 → 4.40 ms" in text
    assert (
        "ballot reports ≥ 1000/s (offered; sustained = ≥ 98 % served, ≤ 1 % dropped): "
        "met (1010/s, 0 dropped); p99 ≤ 250 ms **missed** (300 ms)"
    ) in text
    assert "app CPU ≤ 2 ms per ballot report: met (1.50 ms)" in text
    assert "applied exactly once: met" in text
    assert "≤ 12 KiB each met (11.5 KiB); vote-to-screen p99 ≤ 150 ms **missed** (160 ms)" in text


def test_a_cost_that_grows_misses_the_flat_target() -> None:
    text = "\n".join(targets.summary({"flat": flat_run(4.0, 4.8)}))
    assert "within 15 % of the first **missed** (4.00 → 4.80 ms" in text


def test_chart_draws_both_curves(tmp_path: Path) -> None:
    report = {"flat": flat_run(4.0, 4.1), "flat-before": flat_run(5.0, 9.0, "edcc8c6")}
    path = chart.draw(report, tmp_path / "out" / "flat.png")
    assert path is not None
    assert path.read_bytes().startswith(b"\x89PNG")
    assert chart.curve(report["flat-before"])[1] == [5.0, 7.0, 9.0]
    assert chart.draw({}, tmp_path / "none.png") is None
