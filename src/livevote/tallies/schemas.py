"""Request and response bodies of the election API (msgspec; unknown fields rejected)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from livevote.infra.validation import NAME_PATTERN, IdStr, Input, Name

PartyName = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=NAME_PATTERN)]
Count = Annotated[int, msgspec.Meta(ge=0, le=100_000_000)]
Boxes = Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]


class CityIn(Input):
    name: Name
    ballot_boxes: Boxes


class ElectionIn(Input):
    name: Name
    parties: Annotated[list[PartyName], msgspec.Meta(min_length=1, max_length=100)]
    cities: Annotated[list[CityIn], msgspec.Meta(min_length=1, max_length=10_000)]


class ReportIn(Input):
    """One batch of counts from one ballot box. `supersedes` makes it a correction: it
    replaces the named earlier report of the same box (totals move by the difference)."""

    report_id: IdStr
    ballot_box_id: IdStr
    city: Name
    votes: Annotated[dict[PartyName, Count], msgspec.Meta(min_length=1, max_length=100)]
    supersedes: IdStr | None = None


class CityOut(msgspec.Struct):
    name: str
    ballot_boxes: int


class ElectionOut(msgspec.Struct, omit_defaults=True):
    id: str
    name: str
    parties: list[str]
    cities: list[CityOut]
    expected_boxes: int
    created_at: str
    creator_id: str
    reporter_key: str | None = None  # only in the 201 of the creation, never again


class ReportAccepted(msgspec.Struct):
    report_id: str
    status: str  # "applied" | "pending"


class TotalsOut(msgspec.Struct):
    votes: dict[str, int]
    reported_boxes: int
    expected_boxes: int
    city: str | None = None


class ReportOut(msgspec.Struct, omit_defaults=True):
    report_id: str
    ballot_box_id: str
    city: str
    votes: dict[str, int]
    status: str
    received_at: str
    kind: str
    supersedes: str | None = None
    superseded_by: str | None = None


class ReportPage(msgspec.Struct):
    items: list[ReportOut]
    page: int
    limit: int
    has_more: bool


class CityVotes(msgspec.Struct):
    city: str
    votes: int


class TopCitiesOut(msgspec.Struct):
    items: list[CityVotes]
    from_: str | None = msgspec.field(default=None, name="from")
    to: str | None = None
