"""Request and response bodies of the election API (msgspec; unknown fields rejected)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from livevote.infra.validation import NAME_PATTERN, IdStr, Input, Name

PartyName = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=NAME_PATTERN)]
Colour = Annotated[str, msgspec.Meta(pattern=r"^#[0-9a-fA-F]{6}$")]
Count = Annotated[int, msgspec.Meta(ge=0, le=100_000_000)]
Boxes = Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]


class CityIn(Input):
    name: Name
    ballot_boxes: Boxes


class PartyIn(Input):
    """A party with its own colour (a party given by name gets one from the palette)."""

    name: PartyName
    colour: Colour | None = None


class ElectionIn(Input):
    name: Name
    parties: Annotated[list[PartyName | PartyIn], msgspec.Meta(min_length=1, max_length=100)]
    # A parse bound only: the service refuses more than settings.elections.max_cities (422).
    cities: Annotated[list[CityIn], msgspec.Meta(min_length=1, max_length=10_000)]


class ReportIn(Input):
    """The counts of one ballot box (one effective report per box). `corrects` (or its older
    name `supersedes`) makes it a correction of an earlier report of the same box: totals
    move by the difference."""

    report_id: IdStr
    ballot_box_id: IdStr
    city: Name
    votes: Annotated[dict[PartyName, Count], msgspec.Meta(min_length=1, max_length=100)]
    corrects: IdStr | None = None
    supersedes: IdStr | None = None


class ReporterKeyIn(Input):
    city: Name | None = None  # None: the election-wide key


class ReporterKeyOut(msgspec.Struct, omit_defaults=True):
    key_id: str
    city: str | None
    created_at: str
    key: str | None = None  # only in the 201 of the creation, never again
    revoked_at: str | None = None


class ReporterKeyList(msgspec.Struct):
    items: list[ReporterKeyOut]


class CityOut(msgspec.Struct):
    name: str
    ballot_boxes: int


class ElectionOut(msgspec.Struct, omit_defaults=True):
    id: str
    name: str
    parties: list[str]
    colours: dict[str, str]
    cities: list[CityOut]
    expected_boxes: int
    created_at: str
    creator_id: str
    reporter_key: str | None = None  # only in the 201 of the creation, never again
    reporter_key_id: str | None = None


class ElectionList(msgspec.Struct):
    items: list[ElectionOut]


class ReportAccepted(msgspec.Struct):
    report_id: str
    status: str  # "applied" | "pending"


class TotalsOut(msgspec.Struct):
    votes: dict[str, int]
    reported_boxes: int
    expected_boxes: int
    city: str | None = None


class TotalsAtOut(TotalsOut):
    at: str = ""  # the totals as they stood at this time


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
    next: str | None = None  # the `after` cursor of the next page (keyset)


class CityVotes(msgspec.Struct):
    city: str
    votes: int


class TopCitiesOut(msgspec.Struct):
    items: list[CityVotes]
    from_: str | None = msgspec.field(default=None, name="from")
    to: str | None = None


class TimelinePoint(msgspec.Struct):
    at: str
    votes: dict[str, int]
    reported_boxes: int


class TimelineOut(msgspec.Struct):
    city: str | None
    step: int  # seconds
    points: list[TimelinePoint]


class BoxReported(msgspec.Struct):
    ballot_box_id: str
    city: str
    report_id: str
    received_at: str


class ReportingOrderOut(msgspec.Struct):
    items: list[BoxReported]  # the first to report first
    next: str | None = None
