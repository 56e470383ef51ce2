"""Request and response bodies of the poll feed API (seed 002's field names)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from livevote.infra.validation import IdStr, Input, Name, Text

Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][\w-]*\Z")]
PollKey = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{24}\Z")]


class PollIn(Input):
    title: Text
    options: Annotated[list[Name], msgspec.Meta(min_length=2, max_length=10)]
    tags: Annotated[list[Tag], msgspec.Meta(max_length=10)] = []


class VoteIn(Input):
    optionIndex: Annotated[int, msgspec.Meta(ge=0, le=9)]
    userId: IdStr | None = None


class SkipIn(Input):
    userId: IdStr | None = None


class PollOut(msgspec.Struct):
    id: str
    title: str
    options: list[str]
    tags: list[str]
    created_at: str
    created_by: str


class FeedOut(msgspec.Struct):
    items: list[PollOut]
    page: int
    limit: int
    has_more: bool
    next_cursor: str | None  # pass as `cursor` for the next page: never repeats or drops a poll


class ResponseOut(msgspec.Struct):
    poll_id: str
    kind: str  # "vote" | "skip"
    option_index: int | None = None
    daily_votes_remaining: int | None = None


class OptionStats(msgspec.Struct):
    index: int
    text: str
    votes: int
    percent: float


class StatsOut(msgspec.Struct):
    poll_id: str
    total: int
    options: list[OptionStats]
