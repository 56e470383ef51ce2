"""Activities over SSE: the channels `activities:<event id>` and `activities:<event id>:host`.

They are companions of the event's channels (`b.channel(..., beside="event:")`): the
event's own stream, GET /api/events/{id}/stream, carries `event: activities` frames beside
its `event: state` frames, on the same subscription (the host's stream gets the host
variant). Payload:

    {event_id, live: ActivityView|null, results: Results|null (when visible; always for
     the host), leaderboard: [LeaderRow]|null (once a quiz answer was revealed),
     quizzes_revealed, questions: [QuestionView] (public: approved/answered, top first;
     host: every status), moderation, questions_total}

Watched collections: `activities` (a switch, a counted batch, a moderated answer all change
the activity document) and `questions`. A change names a document id; its event id comes
from a small in-process map (an activity or question never changes event).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from livevote.activities import views
from livevote.activities.repository import ActivityRepository
from livevote.activities.service import ActivityService
from livevote.infra.broadcaster import Broadcaster, Doc, document_id

PREFIX = "activities:"
EVENT_PREFIX = "event:"  # events/stream.py's channels: each one's subscribers join ours
HOST_SUFFIX = ":host"
TOP_QUESTIONS = 8
_owner: dict[str, str] = {}  # activity or question id -> event id


async def state(activities: ActivityService, event_id: str, *, host: bool) -> dict[str, Any]:
    live = await activities.live(event_id)
    results = None
    if live is not None and (host or live.get("results_visible")):
        results = await activities.results(live, host=host)
    revealed, rows = await activities.leaderboard(event_id)
    qa = activities.questions()
    questions = await qa.questions_of(
        event_id, host=host, sort="top", limit=50 if host else TOP_QUESTIONS
    )
    body = {
        "event_id": event_id,
        "live": views.activity_view(live, host=host) if live else None,
        "results": results,
        "leaderboard": views.leaderboard(rows) if revealed else None,
        "quizzes_revealed": revealed,
        "questions": [views.question_view(q) for q in questions],
        "moderation": await qa.moderation(event_id),
        # every question, pending ones included: wakes the host console (nothing else shown)
        "questions_total": await qa.count(event_id),
    }
    built: dict[str, Any] = msgspec.to_builtins(body)
    return built


def install(b: Broadcaster) -> None:
    activities = ActivityService.of(b.db)
    repo: ActivityRepository = activities.repo

    def keys(event_id: str | None) -> Iterable[str] | None:
        if event_id is None:
            return None
        return (f"{PREFIX}{event_id}", f"{PREFIX}{event_id}{HOST_SUFFIX}")

    async def owner(doc_id: str | None, find: Any) -> str | None:
        if doc_id is None:
            return None
        if doc_id not in _owner:
            event_id = await find(doc_id)
            if event_id is None:
                return None
            if len(_owner) > 100_000:
                _owner.clear()
            _owner[doc_id] = event_id
        return _owner[doc_id]

    async def activity_event(activity_id: str) -> str | None:
        doc = await repo.activity_by_id(activity_id)
        return str(doc["event_id"]) if doc else None

    async def for_activity(change: Doc) -> Iterable[str] | None:
        return keys(await owner(document_id(change), activity_event))

    async def for_question(change: Doc) -> Iterable[str] | None:
        return keys(await owner(document_id(change), repo.question_event))

    async def build(key: str) -> dict[str, Any] | None:
        host = key.endswith(HOST_SUFFIX)
        event_id = key[len(PREFIX) : len(key) - (len(HOST_SUFFIX) if host else 0)]
        return await state(activities, event_id, host=host)

    b.watch("activities", for_activity)
    b.watch("questions", for_question)
    b.channel(PREFIX, build, event="activities", beside=EVENT_PREFIX)
