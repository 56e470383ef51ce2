"""The host's printable results report (`GET /api/events/{id}/report`): podium, a table of
both components per team, votes over time (an SVG drawn here, no script), the criteria
breakdown, the integrity summary (integrity.summary: counts, hashed address shares, bursts,
voids and the ledger digest; nothing identifying) and when it was generated. One
self-contained HTML page (its stylesheet inlined) that prints on A4; the console opens it
from the API with the host's token. Building it is pure: the controller passes the event,
its vote log and the integrity summary.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar.response import Template

from livevote.events.jury import ordered_jurors
from livevote.events.standings import criteria_of, jury_weight_of, podium_order, standings
from livevote.infra.mongo import Doc
from livevote.web import render

PALETTE = ["#4f46e5", "#db2777", "#0d9488", "#ea580c", "#2563eb", "#65a30d", "#9333ea", "#b45309"]
W, H, PAD_L, PAD_R, PAD_T, PAD_B = 480, 250, 40, 12, 14, 34


def _x(t: float, t0: float, t1: float) -> float:
    return PAD_L + (W - PAD_L - PAD_R) * ((t - t0) / (t1 - t0) if t1 > t0 else 1.0)


def _y(n: int, top: int) -> float:
    return PAD_T + (H - PAD_T - PAD_B) * (1 - n / top if top else 1)


def votes_chart(event: Doc, votes: list[Doc], colours: dict[str, str]) -> str:
    """Cumulative audience votes per team over time, as inline SVG (numbers and colours
    only: team names are in the template's legend, escaped by Jinja)."""
    if not votes:
        return ""
    times = [v["at"].timestamp() for v in votes]
    t0, t1 = min(times), max(times)
    counts: dict[str, int] = {}
    series: dict[str, list[tuple[float, int]]] = {}
    for v, t in zip(votes, times, strict=True):
        counts[v["team_id"]] = counts.get(v["team_id"], 0) + 1
        series.setdefault(v["team_id"], [(t0, 0)]).append((t, counts[v["team_id"]]))
    top = max(counts.values())
    parts = [
        f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" '
        f'aria-labelledby="chart-title"><title id="chart-title">Audience votes over time, '
        f"per team</title>"
    ]
    for frac in (0, 0.5, 1):
        n = round(top * frac)
        y = _y(n, top)
        parts.append(
            f'<line class="grid" x1="{PAD_L}" x2="{W - PAD_R}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end">{n}</text>'
        )
    for tid, points in series.items():
        path, prev = [], None
        for t, n in [*points, (t1, points[-1][1])]:
            x, y = _x(t, t0, t1), _y(n, top)
            path.append(f"{x:.1f},{_y(prev, top) if prev is not None else y:.1f} {x:.1f},{y:.1f}")
            prev = n
        parts.append(
            f'<polyline fill="none" stroke="{colours.get(tid, "#555")}" stroke-width="2.5" '
            f'stroke-linejoin="round" points="{" ".join(path)}"/>'
        )
    start, end = votes[0]["at"], votes[-1]["at"]
    clock = "%H:%M:%S" if t1 - t0 < 3600 else "%H:%M"
    parts.append(
        f'<text class="tick" x="{PAD_L}" y="{H - 10}">{start.strftime(clock)}</text>'
        f'<text class="tick" x="{W - PAD_R}" y="{H - 10}" text-anchor="end">'
        f"{end.strftime(clock)} UTC</text>"
    )
    parts.append("</svg>")
    return "".join(parts)


def report_context(event: Doc, votes: list[Doc], integrity: Doc, now: datetime) -> dict[str, Any]:
    """`integrity`: integrity.summary (counts, shares, bursts, voids, the ledger digest)."""
    rows = standings(event)
    ordered = podium_order(rows)
    colours = {r.team_id: PALETTE[i % len(PALETTE)] for i, r in enumerate(rows)}
    criteria = criteria_of(event)
    jury_tally = event.get("jury_tally") or {}
    breakdown = []
    for r in ordered:
        entry = jury_tally.get(r.team_id) or {}
        sheets, sums = int(entry.get("sheets", 0)), entry.get("sums") or {}
        cells = [
            round(int(sums.get(c["name"], 0)) / sheets, 2) if sheets else None for c in criteria
        ]
        breakdown.append({"name": r.name, "sheets": sheets, "cells": cells})
    jw = jury_weight_of(event)
    return {
        "event": event,
        "rows": ordered,
        "podium": [r for r in ordered if r.rank <= 3][:3],
        "colours": colours,
        "chart": votes_chart(event, votes, colours),
        "total_votes": sum(r.votes for r in rows),
        "criteria": criteria,
        "breakdown": breakdown,
        "jurors": [name for _, name in ordered_jurors(event)],
        "jury_weight": jw,
        "jury_pct": round(jw * 100),
        "audience_pct": round((1 - jw) * 100),
        "jury_locked": bool(event.get("jury_locked")),
        "integrity": integrity,
        "generated": now,
        "styles": (render.STATIC / "report.css").read_text(),
    }


def report_page(event: Doc, votes: list[Doc], integrity: Doc, now: datetime) -> Template:
    return render.page("report.html", **report_context(event, votes, integrity, now))
