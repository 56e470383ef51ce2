"""Audience Q&A: attendees ask and upvote, the host moderates, the screen shows the top ones.

Rules and where each lives:
- Moderation on/off per event (`qa_settings`, default off): with it on a question waits as
  `pending` until the host approves it; only `approved` and `answered` questions are public.
- One upvote per attendee per question: unique index `one_upvote_per_attendee`
  (indexes/question_votes.json); a second → 409 already-upvoted.
- An upvote counts only while the question is public: it starts with a check-and-set on the
  question's status that marks it in flight (`upvoting` +1, `vote_seq` +1); a hidden or
  pending question → 409 question-hidden (nothing written). Then the vote is stored and the
  counter counts it (`votes` +1, `upvoting` -1 in one update). `recount` rebuilds `votes`
  from question_votes only while no upvote is in flight and only if none was claimed since
  it read the counter (recount.py), so a fix beside live upvotes never leaves it off by one.
- Pinned questions come first in either order (`top`: votes then oldest; `new`: newest).
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId

from livevote.activities.repository import VISIBLE, ActivityRepository
from livevote.errors import Conflict, Forbidden, NotFound, ValidationFailed
from livevote.infra import metrics
from livevote.infra.auth import Principal
from livevote.infra.mongo import Doc
from livevote.infra.resources import Clock, utc_now

STATUSES = ["pending", "approved", "hidden", "answered"]


def _hidden() -> Conflict:
    return Conflict("this question is not shown", type="question-hidden")


class QuestionService:
    def __init__(self, repo: ActivityRepository, clock: Clock = utc_now) -> None:
        self.repo = repo
        self.clock = clock

    async def moderation(self, event_id: str) -> bool:
        return await self.repo.moderation(event_id)

    async def set_moderation(self, event_id: str, on: bool) -> bool:
        await self.repo.set_moderation(event_id, on)
        return on

    async def questions_of(
        self, event_id: str, *, host: bool, sort: str, limit: int = 200
    ) -> list[Doc]:
        return await self.repo.questions_of(event_id, None if host else VISIBLE, sort, limit)

    async def count(self, event_id: str) -> int:
        return await self.repo.count_questions(event_id)

    async def ask(self, *, event_id: str, attendee: Principal, text: str, name: str | None) -> Doc:
        if attendee.event_id != event_id:
            raise Forbidden("this attendee credential belongs to another event")
        text = text.strip()
        if not text:
            raise ValidationFailed("write a question first")
        now = self.clock()
        moderated = await self.repo.moderation(event_id)
        doc: Doc = {
            "_id": ObjectId(),
            "event_id": event_id,
            "attendee_id": attendee.subject,
            "name": name or "",
            "text": text,
            "status": "pending" if moderated else "approved",
            "pinned": False,
            "votes": 0,
            "upvoting": 0,
            "vote_seq": 0,
            "created_at": now,
            "updated_at": now,
        }
        await self.repo.insert_question(doc)
        metrics.business("question_ask")
        return doc

    async def upvote(self, *, event_id: str, question_id: str, attendee: Principal) -> Doc:
        if attendee.event_id != event_id:
            raise Forbidden("this attendee credential belongs to another event")
        question = await self.repo.question(event_id, question_id)
        if question is None:
            raise NotFound(f"question {question_id!r} not found")
        if question["status"] not in VISIBLE:
            raise _hidden()
        qid = str(question["_id"])
        # Three writes, each counted by the recount (recount.py): the claim (a check-and-set
        # on the status; `upvoting` +1), the vote, then the counter (`votes` +1, `upvoting` -1).
        if not await self.repo.claim_upvote(qid, self.clock()):
            raise _hidden()
        try:
            vote = await self.repo.insert_upvote(qid, attendee.subject)
        except BaseException:
            await self.repo.release_upvote(qid)
            raise
        if vote is None:
            await self.repo.release_upvote(qid)
            raise Conflict("you already upvoted this question", type="already-upvoted")
        await self.repo.count_claimed_upvote(qid, self.clock())
        metrics.business("question_upvote")
        found = await self.repo.question(event_id, qid)
        return found or question

    async def moderate(
        self, *, event_id: str, question_id: str, status: str | None, pinned: bool | None
    ) -> Doc:
        fields: dict[str, Any] = {"updated_at": self.clock()}
        if status is not None:
            fields["status"] = status
        if pinned is not None:
            fields["pinned"] = pinned
        if await self.repo.question(event_id, question_id) is None:
            raise NotFound(f"question {question_id!r} not found")
        updated = await self.repo.update_question(event_id, question_id, fields)
        if updated is None:
            raise NotFound(f"question {question_id!r} not found")
        return updated
