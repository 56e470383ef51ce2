"""Activities and Q&A: request bodies (Input: unknown fields and `$` values rejected) and views."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from livevote.infra.validation import IdStr, Input, Name

Kind = Literal["choice", "wordcloud", "rating", "open", "ranking", "quiz"]
Prompt = Annotated[
    str, msgspec.Meta(min_length=1, max_length=200, pattern=r"^(?!\$)[^\x00-\x1f]*$")
]
# Free text may hold newlines (an open answer, a question) but no other control character.
FreeText = Annotated[
    str, msgspec.Meta(min_length=1, max_length=280, pattern=r"^(?!\$)[^\x00-\x09\x0b-\x1f]*$")
]
Word = Annotated[str, msgspec.Meta(min_length=1, max_length=40, pattern=r"^(?!\$)[^\x00-\x1f]*$")]
Index = Annotated[int, msgspec.Meta(ge=0, le=9)]


class ActivityIn(Input):
    kind: Kind
    prompt: Prompt
    options: Annotated[list[Name], msgspec.Meta(max_length=10)] = []
    multiple: bool = False
    scale: Annotated[int, msgspec.Meta(ge=2, le=10)] | None = None
    correct: Index | None = None
    time_limit_s: Annotated[int, msgspec.Meta(ge=5, le=300)] | None = None


class LiveIn(Input):
    activity_id: IdStr | None


class OrderIn(Input):
    ids: Annotated[list[IdStr], msgspec.Meta(max_length=200)]


class VisibilityIn(Input):
    visible: bool


class ResponseIn(Input):
    """One of the six answer shapes; the activity's kind says which field it needs."""

    options: Annotated[list[int], msgspec.Meta(max_length=10)] | None = None
    option: int | None = None
    value: int | None = None
    order: Annotated[list[int], msgspec.Meta(max_length=10)] | None = None
    words: Annotated[list[Word], msgspec.Meta(max_length=10)] | None = None
    text: FreeText | None = None


class ModerateIn(Input):
    status: Literal["approved", "hidden"]


class QuestionIn(Input):
    text: FreeText
    anonymous: bool = False


class QuestionModerationIn(Input):
    status: Literal["approved", "hidden", "answered"] | None = None
    pinned: bool | None = None


class QaSettingsIn(Input):
    moderation: bool


# -- views --------------------------------------------------------------------------------
class ActivityView(msgspec.Struct):
    id: str
    event_id: str
    kind: str
    prompt: str
    options: list[str]
    multiple: bool
    scale: int | None
    time_limit_s: int | None
    order: int
    status: str  # draft | live | closed
    live: bool
    results_visible: bool
    revealed: bool
    correct: int | None  # the host's, or everyone's once revealed
    opened_at: str | None
    responses: int


class ActivityList(msgspec.Struct):
    event_id: str
    live: str | None
    items: list[ActivityView]


class OptionCount(msgspec.Struct):
    index: int
    text: str
    count: int
    percent: float


class WordCount(msgspec.Struct):
    word: str
    count: int


class RatingRow(msgspec.Struct):
    value: int
    count: int


class RankRow(msgspec.Struct):
    index: int
    text: str
    points: int
    rank: int


class TextRow(msgspec.Struct):
    id: str
    text: str
    status: str


class Results(msgspec.Struct):
    activity_id: str
    kind: str
    prompt: str
    responses: int
    options: list[OptionCount] = []
    words: list[WordCount] = []
    average: float | None = None
    distribution: list[RatingRow] = []
    ranking: list[RankRow] = []
    texts: list[TextRow] = []
    correct: int | None = None


class ResponseOut(msgspec.Struct):
    activity_id: str
    accepted: bool


class MyResponse(msgspec.Struct):
    """The caller's own answer: quiz correctness and points only once the host revealed it."""

    activity_id: str
    answered: bool
    correct: bool | None = None
    points: int | None = None


class LeaderRow(msgspec.Struct):
    rank: int
    nickname: str
    points: int
    answers: int


class Leaderboard(msgspec.Struct):
    event_id: str
    questions: int  # quiz questions revealed so far
    rows: list[LeaderRow]


class QuestionView(msgspec.Struct):
    id: str
    text: str
    name: str | None
    status: str  # pending | approved | hidden | answered
    pinned: bool
    votes: int
    created_at: str


class QuestionList(msgspec.Struct):
    event_id: str
    moderation: bool
    items: list[QuestionView]


class QuestionOut(msgspec.Struct):
    id: str
    status: str


class QaSettings(msgspec.Struct):
    event_id: str
    moderation: bool
