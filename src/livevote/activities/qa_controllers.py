"""Audience Q&A API (DESIGN.md "Activities and audience Q&A"): parse, call, answer."""

from __future__ import annotations

from typing import Literal

from litestar import Controller, get, post, put
from litestar.di import Provide
from litestar.params import FromPath, FromQuery

from livevote.activities import views
from livevote.activities.auth import ATTENDEE, MAYBE_USER, is_host
from livevote.activities.schemas import (
    QaSettings,
    QaSettingsIn,
    QuestionIn,
    QuestionList,
    QuestionModerationIn,
    QuestionOut,
    QuestionView,
)
from livevote.activities.service import ActivityService, provide_activities
from livevote.events import HOST_EVENT, EventService, provide_events
from livevote.infra.auth import Principal
from livevote.infra.mongo import Doc


class QuestionsController(Controller):
    path = "/api/events/{event_id:str}"
    tags = ["activities"]
    dependencies = {
        "events": Provide(provide_events, sync_to_thread=False),
        "activities": Provide(provide_activities, sync_to_thread=False),
    }

    @get("/questions", dependencies=MAYBE_USER)
    async def list_questions(
        self,
        event_id: FromPath[str],
        events: EventService,
        activities: ActivityService,
        user: Principal | None,
        sort: FromQuery[Literal["top", "new"]] = "top",
    ) -> QuestionList:
        event = await events.load(event_id)
        eid = str(event["_id"])
        qa = activities.questions()
        docs = await qa.questions_of(eid, host=is_host(event, user), sort=sort)
        return QuestionList(eid, await qa.moderation(eid), [views.question_view(q) for q in docs])

    @post("/questions", status_code=201, dependencies=ATTENDEE)
    async def ask(
        self,
        event_id: FromPath[str],
        data: QuestionIn,
        events: EventService,
        activities: ActivityService,
        attendee: Principal,
    ) -> QuestionOut:
        activities.refuse_if_ended(await events.load(event_id))
        qa = activities.questions()
        name = None if data.anonymous else await activities.join_name(attendee.subject)
        doc = await qa.ask(event_id=event_id, attendee=attendee, text=data.text, name=name)
        return QuestionOut(str(doc["_id"]), doc["status"])

    @post("/questions/{question_id:str}/upvote", status_code=201, dependencies=ATTENDEE)
    async def upvote(
        self,
        event_id: FromPath[str],
        question_id: FromPath[str],
        events: EventService,
        activities: ActivityService,
        attendee: Principal,
    ) -> QuestionView:
        activities.refuse_if_ended(await events.load(event_id))
        qa = activities.questions()
        doc = await qa.upvote(event_id=event_id, question_id=question_id, attendee=attendee)
        return views.question_view(doc)

    @put("/questions/{question_id:str}", dependencies=HOST_EVENT)
    async def moderate(
        self,
        event: Doc,
        question_id: FromPath[str],
        data: QuestionModerationIn,
        activities: ActivityService,
    ) -> QuestionView:
        qa = activities.questions()
        doc = await qa.moderate(
            event_id=str(event["_id"]),
            question_id=question_id,
            status=data.status,
            pinned=data.pinned,
        )
        return views.question_view(doc)

    @get("/qa")
    async def settings(
        self, event_id: FromPath[str], events: EventService, activities: ActivityService
    ) -> QaSettings:
        event = await events.load(event_id)
        eid = str(event["_id"])
        return QaSettings(eid, await activities.questions().moderation(eid))

    @put("/qa", dependencies=HOST_EVENT)
    async def set_settings(
        self, event: Doc, data: QaSettingsIn, activities: ActivityService
    ) -> QaSettings:
        eid = str(event["_id"])
        qa = activities.questions()
        return QaSettings(eid, await qa.set_moderation(eid, data.moderation))


route_handlers = [QuestionsController]
