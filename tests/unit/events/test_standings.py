"""standings.py: the final score and the tie-breaks, on hand-made event documents."""

from __future__ import annotations

from typing import Any

from livevote.events.reveal import reveal_state
from livevote.events.standings import standings, weighted

CRITERIA = [{"name": "Pitch", "weight": 3.0}, {"name": "Demo", "weight": 1.0}]


def event(teams: dict[str, tuple[int, int, int, int, int]], jury_weight: float) -> dict[str, Any]:
    """teams: id -> (votes, audience points, sheets, pitch sum, demo sum); an audience vote's
    points are Σ weight × score (here 3 × pitch + demo, so 4 × its mean score)."""
    return {
        "_id": "e",
        "criteria": CRITERIA,
        "jury_weight": jury_weight,
        "teams": {t: {"name": t.upper(), "order": i} for i, t in enumerate(teams)},
        "tally": {t: {"votes": v[0], "score_sum": v[1]} for t, v in teams.items()},
        "jury_tally": {
            t: {"sheets": v[2], "sums": {"Pitch": v[3], "Demo": v[4]}} for t, v in teams.items()
        },
    }


def test_weighted_mean_of_a_sheet() -> None:
    assert weighted({"Pitch": 4, "Demo": 2}, CRITERIA) == (12 + 2) / 4


def test_final_and_every_tie_break() -> None:
    # a: audience 4.0 (2 votes), jury (3*4+2)/4 = 3.5 -> final .5*3.5 + .5*4 = 3.75
    # b: audience 3.5 (2 votes), jury 4.0           -> 3.75, jury higher than a -> above a
    # c: same as a but 1 vote (audience 4.0)         -> 3.75, jury 3.5, fewer votes -> below a
    # d: exactly like c                              -> shares c's rank
    # e: nothing at all                              -> 0
    ev = event(
        {
            "a": (2, 32, 1, 4, 2),
            "b": (2, 28, 2, 8, 8),
            "c": (1, 16, 1, 4, 2),
            "d": (1, 16, 1, 4, 2),
            "e": (0, 0, 0, 0, 0),
        },
        0.5,
    )
    rows = {r.team_id: (r.final, r.jury.average, r.rank) for r in standings(ev)}
    assert rows == {
        "b": (3.75, 4.0, 1),
        "a": (3.75, 3.5, 2),
        "c": (3.75, 3.5, 3),
        "d": (3.75, 3.5, 3),
        "e": (0.0, 0.0, 5),
    }


def test_jury_weight_one_and_zero() -> None:
    teams = {"a": (1, 5, 1, 1, 1), "b": (1, 1, 1, 5, 5)}
    assert [r.rank for r in standings(event(teams, 1.0))] == [2, 1]
    assert [r.rank for r in standings(event(teams, 0.0))] == [1, 2]


def test_reveal_state_lists_places_last_first() -> None:
    ev = event({"a": (1, 5, 0, 0, 0), "b": (1, 3, 0, 0, 0), "c": (1, 1, 0, 0, 0)}, 0.0)
    assert reveal_state(ev) is None
    ev["reveal_step"] = 2
    state = reveal_state(ev)
    assert state is not None and state["complete"] is False and state["total"] == 3
    assert [(p["place"], p["team_id"]) for p in state["places"]] == [(3, "c"), (2, "b")]
