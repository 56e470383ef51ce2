"""Pure checks of the pitch-competition input: criteria and score sheets (no I/O).

A bad sheet is refused whole (422 validation-error, nothing written): every criterion of the
event must be scored, no other key may appear, each score is an integer in 1..max_score.
"""

from __future__ import annotations

import hashlib
from typing import Any

from livevote.errors import ValidationFailed
from livevote.events.standings import DEFAULT_CRITERIA, criteria_of, points_scale
from livevote.infra.mongo import Doc


def check_criteria(criteria: list[Doc]) -> list[Doc]:
    """Criteria as stored: [{name, weight}], names unique regardless of case."""
    names = [str(c["name"]).strip() for c in criteria]
    if any(not n for n in names):
        raise ValidationFailed("a criterion needs a name")
    if len({n.casefold() for n in names}) != len(names):
        raise ValidationFailed("criterion names must be unique")
    return [{"name": n, "weight": int(c["weight"])} for n, c in zip(names, criteria, strict=True)]


def jury_fields(criteria: list[Doc] | None, jury_weight: float) -> Doc:
    """The pitch-competition fields of a new event document."""
    return {
        "criteria": check_criteria(criteria) if criteria else list(DEFAULT_CRITERIA),
        "criteria_gen": 0,
        "jury_weight": float(jury_weight),
        "jury_locked": False,
        "jurors": {},
        "jury_tally": {},
        "jury_seq": 0,
        "reveal_step": 0,
    }


def check_scores(event: Doc, scores: dict[str, Any]) -> dict[str, int]:
    """A complete, in-range sheet for the event's criteria (422 otherwise)."""
    names = [c["name"] for c in criteria_of(event)]
    max_score = int(event["max_score"])
    unknown = sorted(set(scores) - set(names))
    if unknown:
        raise ValidationFailed(f"unknown criterion {unknown[0]!r}; criteria are {names}")
    missing = [n for n in names if n not in scores]
    if missing:
        raise ValidationFailed(f"missing a score for criterion {missing[0]!r}")
    out: dict[str, int] = {}
    for name in names:
        value = scores[name]
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= max_score:
            raise ValidationFailed(
                f"the score for {name!r} must be a whole number between 1 and {max_score}"
            )
        out[name] = value
    return out


def vote_points(event: Doc, score: int | None, scores: dict[str, Any] | None) -> int:
    """An audience vote's points (422 for a bad vote): `scores` must be a complete sheet
    (check_scores); a plain `score` (the first stage's vote, still what older clients send)
    counts as that score on every criterion. Points are Σ weight × score over several
    criteria, the score itself over one."""
    criteria = criteria_of(event)
    if (score is None) == (scores is None):
        raise ValidationFailed("send either `score` or `scores` (one score per criterion)")
    if scores is None:
        scores = {c["name"]: score for c in criteria}
    sheet = check_scores(event, scores)
    if points_scale(event) == 1:
        return sheet[criteria[0]["name"]]
    return sum(int(c["weight"]) * sheet[c["name"]] for c in criteria)


def token_hash(token: str) -> str:
    """Juror tokens are stored only as this hash (the token has 192 random bits: a plain
    SHA-256 is enough, no slow hash needed)."""
    return hashlib.sha256(token.encode()).hexdigest()
