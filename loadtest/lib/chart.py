"""The flat scenario's chart: CPU milliseconds per vote (app + NX-27017 + redis, per window of
1,000 votes) against the votes already in the event, for the current code and, when measured,
an older commit (`run_suite.py --only flat-before --flat-commit <sha>`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loadtest.lib import LOADTEST

CHART = LOADTEST / "flat-cpu-per-vote.png"


def curve(run: dict[str, Any]) -> tuple[list[int], list[float], list[float]]:
    """x: votes in the event at the window's end; y: total and app-only CPU ms per vote."""
    w = run.get("windows", [])
    xs = [int(r["votes_in_event"]) for r in w]
    total = [float(r["app_ms_per_vote"]) + float(r["backing_ms_per_vote"]) for r in w]
    app = [float(r["app_ms_per_vote"]) for r in w]
    return xs, total, app


def draw(report: dict[str, Any], path: Path = CHART) -> Path | None:
    """Write the PNG from the report's `flat` (after) and `flat-before` runs; None if neither
    has windows."""
    candidates = [
        (report.get("flat-before"), "before", "tab:red"),
        (report.get("flat"), "after", "tab:blue"),
    ]
    runs: list[tuple[dict[str, Any], str, str]] = [
        (r, label, color) for r, label, color in candidates if r and r.get("windows")
    ]
    if not runs:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5.5), dpi=110)
    for run, label, color in runs:
        xs, total, app = curve(run)
        name = f"{label} ({run.get('commit', '?')})"
        ax.plot(xs, total, color=color, marker=".", label=f"{name}: app + NX-27017 + redis")
        ax.plot(xs, app, color=color, linestyle="--", alpha=0.6, label=f"{name}: app only")
    ax.set_title("CPU per vote against votes already in the event (one event, windows of 1,000)")
    ax.set_xlabel("votes in the event")
    ax.set_ylabel("CPU ms per vote")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, fontsize="small")
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _pos: f"{int(v):,}"))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
