"""Results of a pitch competition: audience and jury combined into one ranking (pure).

Per team (all on the event's 1..max_score scale):
- audience average: the mean of the audience's scores, a vote's score being the weighted mean
  of its criteria: votes store points Σ(weight × score), the tally sums them and the average
  divides by votes × Σ weight (`points_scale`); `votes` counts them.
- jury average: the mean over the jurors who scored the team of each juror's weighted score
  Σ(weight × score) / Σ weight, kept as integer sums per criterion in the event's
  `jury_tally`, so it is exact and rebuilt by recount; `jurors` counts the sheets.
- final = jury_weight × jury average + (1 − jury_weight) × audience average. A team with no
  jury sheet has a jury average of 0 (and one with no votes an audience average of 0): the
  host's progress grid shows the gaps before the jury is locked.

Ranking (documented rule, also in DESIGN.md): higher final first; a tie on final is broken
by the higher jury average, then by more audience votes; teams equal on all three share a
rank (1, 2, 2, 4). Values are compared as shown, rounded to two decimals, so a tie the
audience sees on the screen is a tie in the ranking.
"""

from __future__ import annotations

from typing import Any

from livevote.events.schemas import AudienceResult, JuryResult, ResultRow
from livevote.infra.mongo import Doc

DEFAULT_CRITERIA: list[Doc] = [{"name": "Score", "weight": 1}]


def criteria_of(event: Doc) -> list[Doc]:
    """The event's criteria [{name, weight}] (one default criterion for older events)."""
    return list(event.get("criteria") or DEFAULT_CRITERIA)


def jury_weight_of(event: Doc) -> float:
    return float(event.get("jury_weight") or 0.0)


def points_scale(event: Doc) -> int:
    """What an audience vote's points are divided by to come back to the 1..max_score scale:
    a vote stores Σ weight × score (whole numbers, so tallies stay exact integers), or the
    plain score when the event has a single criterion."""
    criteria = criteria_of(event)
    return sum(int(c["weight"]) for c in criteria) if len(criteria) > 1 else 1


def weighted(scores: dict[str, Any], criteria: list[Doc]) -> float:
    """One sheet's (or vote's) score: Σ(weight × score) / Σ weight over the criteria."""
    total = sum(float(c["weight"]) for c in criteria)
    return sum(float(c["weight"]) * float(scores.get(c["name"], 0)) for c in criteria) / total


def jury_average(entry: Doc | None, criteria: list[Doc]) -> tuple[int, float]:
    """(sheets, average) of one team's jury tally entry {sheets, sums: {criterion: total}}."""
    sheets = int((entry or {}).get("sheets", 0))
    if sheets <= 0:
        return 0, 0.0
    sums = (entry or {}).get("sums") or {}
    return sheets, weighted({c: float(v) / sheets for c, v in sums.items()}, criteria)


def _ordered_teams(event: Doc) -> list[tuple[str, str]]:
    teams = event.get("teams") or {}
    items = sorted(teams.items(), key=lambda kv: (kv[1].get("order", 0), kv[0]))
    return [(tid, t["name"]) for tid, t in items]


def standings(event: Doc) -> list[ResultRow]:
    """One row per team, in team order, with its rank set (see the module docstring)."""
    tally = event.get("tally") or {}
    jury_tally = event.get("jury_tally") or {}
    criteria = criteria_of(event)
    jw = jury_weight_of(event)
    scale = points_scale(event)
    rows = []
    for tid, name in _ordered_teams(event):
        t = tally.get(tid) or {}
        votes, score_sum = int(t.get("votes", 0)), int(t.get("score_sum", 0))
        audience = score_sum / (votes * scale) if votes else 0.0
        jurors, jury = jury_average(jury_tally.get(tid), criteria)
        final = jw * jury + (1 - jw) * audience
        rows.append(
            ResultRow(
                team_id=tid,
                name=name,
                votes=votes,
                score_sum=score_sum,
                average=round(audience, 2),
                rank=0,
                audience=AudienceResult(votes, round(audience, 2)),
                jury=JuryResult(jurors, round(jury, 2)),
                final=round(final, 2),
            )
        )

    def key(r: ResultRow) -> tuple[float, float, int]:
        return (-r.final, -r.jury.average, -r.votes)

    ordered = sorted(rows, key=key)
    for i, row in enumerate(ordered):
        prev = ordered[i - 1] if i else None
        row.rank = prev.rank if prev is not None and key(prev) == key(row) else i + 1
    return rows


def podium_order(rows: list[ResultRow]) -> list[ResultRow]:
    """Rows best first (rank, then team order): the order of the report and the reveal."""
    position = {r.team_id: i for i, r in enumerate(rows)}
    return sorted(rows, key=lambda r: (r.rank, position[r.team_id]))
