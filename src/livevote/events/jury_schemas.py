"""Pitch competition bodies (Input: strict, unknown fields rejected) and answers."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from livevote.events.schemas import Criterion, EventView, JuryWeight, MaxScore
from livevote.infra.validation import Input, Name


class CriteriaIn(Input):
    criteria: Annotated[list[Criterion], msgspec.Meta(min_length=1, max_length=8)]
    max_score: MaxScore | None = None


class JuryIn(Input):
    locked: bool | None = None
    jury_weight: JuryWeight | None = None


class JurorIn(Input):
    name: Name


class SheetIn(Input):
    # Keys and bounds depend on the event's criteria and max_score: checked by the service.
    scores: Annotated[dict[str, int], msgspec.Meta(max_length=16)]


class JurorOut(msgspec.Struct):
    juror_id: str
    name: str
    token: str
    link: str


class SheetOut(msgspec.Struct):
    event_id: str
    juror_id: str
    team_id: str
    scores: dict[str, int]


class RevealOut(msgspec.Struct):
    event: EventView
    reveal: dict[str, Any] | None


class DuplicateOut(msgspec.Struct):
    event: EventView
    jurors: list[JurorOut]
