"""Activities: the rules (host only, one live at a time, one answer each, only while live).

One live activity per event — a unique presence field, not a single pointer field: the live
activity carries `live: <event id>` (absent otherwise) under the unique index
`one_live_activity_per_event` (indexes/activities.json). Why this and not a single field on
one document (as the events domain does for the stage): the activity document is also the
counter of its responses (counting.py), so the mark that says "live" sits on the very
document the counting check-and-set guards on — accepting a response and closing the
activity are two single-document writes of the same document, with no second document to
keep in step. Making B live is: close every other live activity, then set B's mark; the
unique index refuses a set while another is live (a racing "make live" won), and the loop
closes that one in turn, so 50 concurrent calls leave exactly one live activity, the last to
succeed, never two. Closing (`activity_id: null`) removes the mark.

The event document mirrors the live activity id (`activity`, for the public event view),
written after every switch from a fresh read of the truth and only by a newer stamp.
"""

from __future__ import annotations

import asyncio
import random
import time
from datetime import datetime
from typing import Any

from bson import ObjectId

from livevote.activities import kinds, views
from livevote.activities.counting import Again, Answer, closed, responses_commit
from livevote.activities.qa import QuestionService
from livevote.activities.repository import ActivityRepository, Database, epoch_ms
from livevote.activities.schemas import Results
from livevote.errors import Conflict, Forbidden, NotFound, ServiceUnavailable, ValidationFailed
from livevote.infra import metrics
from livevote.infra.auth import Principal
from livevote.infra.groupcommit import GroupCommits
from livevote.infra.hooks import NO_HOOKS, Hooks
from livevote.infra.mongo import Doc
from livevote.infra.resources import Clock, utc_now

RETRIES = 40
DEFAULT_TIME_LIMIT = 20
_names: dict[str, str | None] = {}  # attendee id -> join name (a name never changes)


class ActivityService:
    def __init__(
        self,
        repo: ActivityRepository,
        commits: GroupCommits | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.repo = repo
        self.commits = commits or GroupCommits()
        self.clock = clock

    @classmethod
    def of(
        cls,
        db: Database,
        commits: GroupCommits | None = None,
        clock: Clock = utc_now,
        hooks: Hooks = NO_HOOKS,
    ) -> ActivityService:
        return cls(ActivityRepository(db, hooks), commits, clock)

    # -- reads --------------------------------------------------------------------------
    async def load(self, event_id: str, activity_id: str) -> Doc:
        activity = await self.repo.activity(event_id, activity_id)
        if activity is None:
            raise NotFound(f"activity {activity_id!r} not found")
        return activity

    async def activities_of(self, event_id: str) -> list[Doc]:
        return await self.repo.activities_of(event_id)

    async def live(self, event_id: str) -> Doc | None:
        return await self.repo.live_activity(event_id)

    @staticmethod
    def refuse_if_ended(event: Doc) -> None:
        """Nothing is prepared, switched live, answered, asked or upvoted once the event
        has ended (409 event-ended, like every write of the events domain)."""
        if event.get("status") == "ended":
            raise Conflict("the event has ended", type="event-ended")

    @staticmethod
    def check_results_access(activity: Doc, host: bool) -> None:
        if not host and not activity.get("results_visible"):
            raise Forbidden("results are hidden until the host shows them", type="results-hidden")

    async def shown_words(self, activity: Doc, keys: list[str]) -> dict[str, str]:
        return await self.repo.shown_words(str(activity["_id"]), keys)

    async def texts(self, activity: Doc, *, host: bool) -> list[Doc]:
        statuses = ["pending", "approved", "hidden"] if host else ["approved"]
        return await self.repo.texts(str(activity["_id"]), statuses)

    async def responses(self, activity: Doc) -> list[Doc]:
        return await self.repo.responses_of(str(activity["_id"]))

    async def leaderboard(self, event_id: str) -> tuple[int, list[Doc]]:
        """(revealed quiz questions, points per attendee over them, best first)."""
        quizzes = [
            str(a["_id"])
            for a in await self.repo.activities_of(event_id)
            if a["kind"] == "quiz" and a.get("revealed")
        ]
        rows = await self.repo.quiz_scores(quizzes)
        rows.sort(key=lambda r: (-int(r.get("points") or 0), str(r.get("nickname") or "")))
        return len(quizzes), rows

    # -- hosts --------------------------------------------------------------------------
    async def create(self, *, event_id: str, data: Any) -> Doc:
        options = [o.strip() for o in data.options]
        kinds.check_definition(
            data.kind, options, data.multiple, data.scale, data.correct, data.time_limit_s
        )
        now = self.clock()
        doc: Doc = {
            "_id": ObjectId(),
            "event_id": event_id,
            "kind": data.kind,
            "prompt": data.prompt.strip(),
            "options": options,
            "multiple": bool(data.multiple),
            "scale": (data.scale or 5) if data.kind == "rating" else None,
            "correct": data.correct,
            "time_limit_s": (data.time_limit_s or DEFAULT_TIME_LIMIT)
            if data.kind == "quiz"
            else None,
            "order": time.time_ns(),
            "status": "draft",
            "live_gen": 0,
            "opened_ms": 0,
            "results_visible": data.kind != "quiz",
            "revealed": False,
            "tally": {},
            "last_batch": "",
            "batch_seq": 0,
            "created_at": now,
            "updated_at": now,
        }
        await self.repo.insert_activity(doc)
        metrics.business("activity_create")
        return doc

    async def reorder(self, *, event_id: str, ids: list[str]) -> list[Doc]:
        current = {str(a["_id"]) for a in await self.repo.activities_of(event_id)}
        if len(set(ids)) != len(ids) or set(ids) != current:
            raise ValidationFailed("list every activity of the event exactly once")
        await self.repo.set_order(event_id, ids, self.clock())
        return await self.repo.activities_of(event_id)

    async def make_live(self, *, event_id: str, activity_id: str | None) -> Doc | None:
        """Make `activity_id` the one live activity (None: close the live one)."""
        if activity_id is not None:
            await self.load(event_id, activity_id)
        live = await self._switch(event_id, activity_id)
        stamp = time.time_ns()  # before reading the truth: see repository.mirror_live
        truth = await self.repo.live_activity(event_id)
        await self.repo.mirror_live(event_id, str(truth["_id"]) if truth else "", stamp)
        return live

    async def _switch(self, event_id: str, activity_id: str | None) -> Doc | None:
        for attempt in range(RETRIES):
            now = self.clock()
            await self.repo.release_live(event_id, activity_id, now)
            if activity_id is None:
                return None
            taken = await self.repo.take_live(event_id, activity_id, now)
            if taken is not None:
                metrics.business("activity_live")
                return taken
            current = await self.load(event_id, activity_id)
            if current.get("live"):  # already live: nothing to change
                return current
            await asyncio.sleep(random.uniform(0, 0.002 * (attempt + 1)))  # another host won
        raise ServiceUnavailable("the live activity keeps changing; retry")

    async def set_results_visible(self, *, activity: Doc, visible: bool) -> Doc:
        return await self._update(activity, {"results_visible": visible})

    async def reveal(self, *, activity: Doc) -> Doc:
        if activity["kind"] != "quiz":
            raise Conflict("only a quiz has an answer to reveal", type="not-a-quiz")
        return await self._update(activity, {"revealed": True, "results_visible": True})

    async def _update(self, activity: Doc, fields: Doc) -> Doc:
        fields["updated_at"] = self.clock()
        updated = await self.repo.update_activity(
            activity["event_id"], str(activity["_id"]), fields
        )
        if updated is None:
            raise NotFound("activity not found")
        return updated

    async def moderate(self, *, activity: Doc, response_id: str, status: str) -> None:
        if activity["kind"] != "open":
            raise NotFound("only open answers are moderated")
        if not await self.repo.moderate_text(
            str(activity["_id"]), response_id, status, self.clock()
        ):
            raise NotFound(f"answer {response_id!r} not found")

    # -- attendees ----------------------------------------------------------------------
    async def respond(
        self, *, event_id: str, activity_id: str, attendee: Principal, body: dict[str, Any]
    ) -> int | None:
        """Accept one answer (see counting.py); returns the quiz points, else None."""
        if attendee.event_id != event_id:
            raise Forbidden("this attendee credential belongs to another event")
        for _ in range(5):
            activity = await self.load(event_id, activity_id)
            if not activity.get("live"):
                metrics.business("activity_response", "closed")
                raise closed()
            counted = kinds.answer(activity, body)
            now = self.clock()
            fields = dict(counted.fields)
            words: dict[str, str] = {}
            if activity["kind"] == "wordcloud":
                words = {kinds.word_key(kinds.normalise_word(w)): w for w in fields["words"]}
            if activity["kind"] == "quiz":
                fields.update(await self._quiz_fields(activity, attendee, fields["option"], now))
            answer = Answer(
                event_id,
                attendee.subject,
                activity["kind"],
                int(activity.get("live_gen") or 0),
                fields,
                kinds.counters_of(activity, fields),
                words,
                now,
            )
            commit = responses_commit(self.commits, self.repo)
            try:
                await commit.submit(activity_id, answer)
            except Again:
                continue
            except Conflict as exc:
                metrics.business("activity_response", exc.type)
                raise
            metrics.business("activity_response")
            return fields.get("points")
        raise ServiceUnavailable("your answer could not be stored; retry")

    async def _quiz_fields(
        self, activity: Doc, attendee: Principal, option: int, now: datetime
    ) -> Doc:
        limit_ms = int(activity.get("time_limit_s") or DEFAULT_TIME_LIMIT) * 1000
        elapsed = epoch_ms(now) - int(activity.get("opened_ms") or 0)
        if elapsed > limit_ms:
            raise Conflict("time is up for this question", type="activity-closed")
        right = option == activity.get("correct")
        return {
            "correct": right,
            "elapsed_ms": max(0, elapsed),
            "points": kinds.score(correct=right, elapsed_ms=elapsed, limit_ms=limit_ms),
            "nickname": await self.nickname(attendee.subject),
        }

    async def nickname(self, attendee_id: str) -> str:
        if attendee_id not in _names:
            if len(_names) > 50_000:
                _names.clear()
            _names[attendee_id] = await self.repo.nickname(attendee_id)
        return _names[attendee_id] or f"Player {attendee_id[-4:].upper()}"

    async def join_name(self, attendee_id: str) -> str | None:
        """The name the attendee joined with (None: joined without one)."""
        await self.nickname(attendee_id)
        return _names.get(attendee_id)

    def questions(self) -> QuestionService:
        return QuestionService(self.repo, self.clock)

    async def results(self, activity: Doc, *, host: bool) -> Results:
        """The activity's live results as this reader may see them."""
        keys = views.top_word_keys(activity) if activity["kind"] == "wordcloud" else []
        words = await self.repo.shown_words(str(activity["_id"]), keys) if keys else {}
        texts = await self.texts(activity, host=host) if activity["kind"] == "open" else []
        return views.results(activity, words=words, texts=texts, host=host)

    async def my_response(self, activity: Doc, attendee: Principal) -> Doc | None:
        if attendee.event_id != activity["event_id"]:
            raise Forbidden("this attendee credential belongs to another event")
        return await self.repo.response_of(str(activity["_id"]), attendee.subject)


def provide_activities(
    db: Database, group_commits: GroupCommits, clock: Clock, hooks: Hooks
) -> ActivityService:
    """The `activities` dependency of the controllers (db, commits, clock from app.state)."""
    return ActivityService.of(db, group_commits, clock, hooks)
