"""Live events: request bodies (Input: unknown fields and `$` values rejected) and views."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from livevote.infra.validation import IdStr, Input, Name, Text

MaxScore = Annotated[int, msgspec.Meta(ge=1, le=10)]
JoinCode = Annotated[str, msgspec.Meta(min_length=4, max_length=12, pattern=r"^[A-Za-z0-9]+\Z")]
Admission = Literal["open", "tickets"]
# A ticket as printed (XXXX-XXXX-XXXX-XXXX) or typed (any case, spaces); checked by admission.py.
TicketText = Annotated[str, msgspec.Meta(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9 -]+\Z")]
# Criterion names are keys of stored documents: no leading `$`, no `.`, no control characters.
CriterionName = Annotated[
    str, msgspec.Meta(min_length=1, max_length=40, pattern=r"^(?!\$)[^.\x00-\x1f]+\Z")
]
# Whole weights keep every tally an exact integer (a vote's points are Σ weight × score).
Weight = Annotated[int, msgspec.Meta(ge=1, le=10)]
JuryWeight = Annotated[float, msgspec.Meta(ge=0, le=1)]
# The languages an event's pages can speak (web/i18n.py LANGUAGES); null: each browser's own.
# Any short string is accepted here and checked by the service (422 names the choices).
EVENT_LANGUAGES = ("en", "fr", "es")
LanguageTag = Annotated[str, msgspec.Meta(max_length=16)]


class Criterion(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A score-sheet criterion (in and out): its name and its weight in the sheet's mean."""

    name: CriterionName
    weight: Weight = 1


class TeamIn(Input):
    name: Name


class CreateEventIn(Input):
    title: Name
    teams: Annotated[list[TeamIn], msgspec.Meta(max_length=50)] = []
    max_score: MaxScore = 5
    results: Literal["live", "hidden"] = "live"
    criteria: Annotated[list[Criterion], msgspec.Meta(min_length=1, max_length=8)] | None = None
    jury_weight: JuryWeight = 0.0
    admission: Admission = "open"
    language: LanguageTag | None = None


class LanguageIn(Input):
    language: LanguageTag | None


class StageIn(Input):
    team_id: IdStr


class VotingIn(Input):
    open: bool


class ResultsVisibilityIn(Input):
    visible: bool


class JoinIn(Input):
    code: JoinCode
    name: Name | None = None
    ticket: TicketText | None = None


# -- one person, one vote (admission.py, integrity.py, ledger.py) ---------------------------
class AdmissionIn(Input):
    admission: Admission


class TicketsIn(Input):
    # 1..5000, checked by admission.issue_tickets (422 with the bounds in the detail).
    count: int


class RevokeTicketsIn(Input):
    tickets: Annotated[list[TicketText], msgspec.Meta(min_length=1, max_length=5000)]


class VoidIn(Input):
    reason: Text


class TicketOut(msgspec.Struct, omit_defaults=True):
    ticket: str
    join_url: str
    qr_svg: str | None = None  # only with ?qr=true (the printable sheet)


class TicketsOut(msgspec.Struct):
    tickets: list[TicketOut]


class TicketCounts(msgspec.Struct):
    issued: int
    claimed: int
    admission: str
    cap: int


class RevokedOut(msgspec.Struct):
    revoked: int


class VoteIn(Input):
    team_id: IdStr
    # Bounds and keys depend on the event's max_score and criteria: checked by the service
    # (422), not here. `scores` for any event; a plain `score` counts on every criterion.
    # Either may be left out, neither may be null (a null is a wrong type: 400).
    score: int | msgspec.UnsetType = msgspec.UNSET
    scores: Annotated[dict[str, int], msgspec.Meta(max_length=16)] | msgspec.UnsetType = (
        msgspec.UNSET
    )

    def given(self) -> tuple[int | None, dict[str, int] | None]:
        """(score, scores), None for the one left out."""
        score = None if isinstance(self.score, msgspec.UnsetType) else self.score
        scores = None if isinstance(self.scores, msgspec.UnsetType) else self.scores
        return score, scores


class TeamView(msgspec.Struct):
    id: str
    name: str
    on_stage: bool


class EventView(msgspec.Struct):
    """The public event view (DESIGN.md), also the `event` part of the SSE state."""

    id: str
    code: str
    title: str
    status: str  # draft | live | ended
    voting_open: bool
    voting_team: str | None
    stage: str | None
    teams: list[TeamView]
    attendees: int
    max_score: int
    results_visibility: str  # live | hidden | revealed
    results_visible: bool
    admission: str = "open"  # open | tickets (admission.py)
    activity: str | None = None  # the live activity (activities domain), if any
    criteria: list[Criterion] = []
    jury_weight: float = 0.0
    jury_locked: bool = False
    jurors: int = 0
    language: str | None = None  # en | fr | es; None: each browser's own (web/i18n.py)


class AudienceResult(msgspec.Struct):
    votes: int
    average: float


class JuryResult(msgspec.Struct):
    jurors: int
    average: float


class ResultRow(msgspec.Struct, kw_only=True):
    """A team's result (standings.py): `votes`/`score_sum`/`average` are the audience's, as
    in the first stage; `audience`, `jury` and `final` the pitch-competition result; `rank`
    is by final (ties: jury average, then audience votes, then shared)."""

    team_id: str
    name: str
    votes: int
    score_sum: int
    average: float
    rank: int
    audience: AudienceResult
    jury: JuryResult
    final: float


class ResultsView(msgspec.Struct):
    event_id: str
    total_votes: int
    results: list[ResultRow]


class EventList(msgspec.Struct):
    items: list[EventView]


class JoinOut(msgspec.Struct):
    attendee_id: str
    event_id: str
    token: str
    name: str | None


class VoteOut(msgspec.Struct):
    event_id: str
    team_id: str
    score: int  # the vote's points: its score, or Σ weight × score over several criteria
    receipt: str  # keep it: its sha-256 is in the public ledger (ledger.py)
    scores: dict[str, int] | None = None


class MyVote(msgspec.Struct):
    team_id: str
    score: int


class AttendeeView(msgspec.Struct):
    attendee_id: str
    event_id: str
    name: str | None
    votes: list[MyVote]


class TallyDifference(msgspec.Struct):
    team_id: str
    stored_votes: int
    stored_score_sum: int
    counted_votes: int
    counted_score_sum: int


class JuryDifference(msgspec.Struct):
    """A team's jury tally against its score sheets (`jury <team id>` in `livevote recount
    events`): sheets and the sum of each criterion, stored and rebuilt from the sheets."""

    team_id: str
    stored_sheets: int
    counted_sheets: int
    stored_sums: dict[str, int]
    counted_sums: dict[str, int]


class RecountOut(msgspec.Struct):
    event_id: str
    consistent: bool
    fixed: bool
    differences: list[TallyDifference]
    jury_differences: list[JuryDifference] = msgspec.field(default_factory=list)
