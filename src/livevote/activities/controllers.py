"""Activities and Q&A API (DESIGN.md "Activities and audience Q&A"): parse, call, answer."""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from litestar import Controller, Response, get, post, put
from litestar.di import Provide
from litestar.params import FromPath, FromQuery

from livevote.activities import views
from livevote.activities.auth import ATTENDEE, MAYBE_USER, is_host
from livevote.activities.qa_controllers import route_handlers as qa_routes
from livevote.activities.schemas import (
    ActivityIn,
    ActivityList,
    ActivityView,
    Leaderboard,
    LiveIn,
    ModerateIn,
    MyResponse,
    OrderIn,
    ResponseIn,
    ResponseOut,
    Results,
    VisibilityIn,
)
from livevote.activities.service import ActivityService, provide_activities
from livevote.errors import NotFound
from livevote.events import HOST_EVENT, EventService, provide_events
from livevote.infra.auth import Principal
from livevote.infra.mongo import Doc


class ActivitiesController(Controller):
    path = "/api/events/{event_id:str}"
    tags = ["activities"]
    dependencies = {
        "events": Provide(provide_events, sync_to_thread=False),
        "activities": Provide(provide_activities, sync_to_thread=False),
    }

    async def _list(self, activities: ActivityService, event_id: str, host: bool) -> ActivityList:
        docs = await activities.activities_of(event_id)
        live = next((str(a["_id"]) for a in docs if a.get("live")), None)
        shown = [a for a in docs if host or a.get("status") != "draft"]
        return ActivityList(event_id, live, [views.activity_view(a, host=host) for a in shown])

    # -- hosts --------------------------------------------------------------------------
    @post("/activities", status_code=201, dependencies=HOST_EVENT)
    async def create(
        self, event: Doc, data: ActivityIn, activities: ActivityService
    ) -> ActivityView:
        activities.refuse_if_ended(event)
        doc = await activities.create(event_id=str(event["_id"]), data=data)
        return views.activity_view(doc, host=True)

    @put("/activities/order", dependencies=HOST_EVENT)
    async def reorder(self, event: Doc, data: OrderIn, activities: ActivityService) -> ActivityList:
        await activities.reorder(event_id=str(event["_id"]), ids=data.ids)
        return await self._list(activities, str(event["_id"]), True)

    @put("/activity", dependencies=HOST_EVENT)
    async def make_live(
        self, event: Doc, data: LiveIn, activities: ActivityService
    ) -> ActivityList:
        if data.activity_id is not None:  # closing the live activity stays possible
            activities.refuse_if_ended(event)
        await activities.make_live(event_id=str(event["_id"]), activity_id=data.activity_id)
        return await self._list(activities, str(event["_id"]), True)

    @put("/activities/{activity_id:str}/results", dependencies=HOST_EVENT)
    async def results_visibility(
        self,
        event: Doc,
        activity_id: FromPath[str],
        data: VisibilityIn,
        activities: ActivityService,
    ) -> ActivityView:
        activity = await activities.load(str(event["_id"]), activity_id)
        updated = await activities.set_results_visible(activity=activity, visible=data.visible)
        return views.activity_view(updated, host=True)

    @post("/activities/{activity_id:str}/reveal", status_code=200, dependencies=HOST_EVENT)
    async def reveal(
        self, event: Doc, activity_id: FromPath[str], activities: ActivityService
    ) -> ActivityView:
        activity = await activities.load(str(event["_id"]), activity_id)
        return views.activity_view(await activities.reveal(activity=activity), host=True)

    @put("/activities/{activity_id:str}/responses/{response_id:str}", dependencies=HOST_EVENT)
    async def moderate(
        self,
        event: Doc,
        activity_id: FromPath[str],
        response_id: FromPath[str],
        data: ModerateIn,
        activities: ActivityService,
    ) -> Results:
        activity = await activities.load(str(event["_id"]), activity_id)
        await activities.moderate(activity=activity, response_id=response_id, status=data.status)
        return await activities.results(activity, host=True)

    @get("/activities/export", dependencies=HOST_EVENT)
    async def export(
        self,
        event: Doc,
        activities: ActivityService,
        format: FromQuery[Literal["csv", "json"]] = "json",
    ) -> Response[Any]:
        eid = str(event["_id"])
        docs = await activities.activities_of(eid)
        results = [await activities.results(a, host=True) for a in docs]
        questions = [
            views.question_view(q)
            for q in await activities.questions().questions_of(eid, host=True, sort="new")
        ]
        name = f"livevote-{event['code']}-activities"
        if format == "csv":
            rows = [
                r for a, res in zip(docs, results, strict=True) for r in views.export_rows(a, res)
            ]
            return Response(
                views.export_csv(rows, questions),
                media_type="text/csv",
                headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
            )
        body = {
            "event_id": eid,
            "activities": [
                {"activity": views.activity_view(a, host=True), "results": r}
                for a, r in zip(docs, results, strict=True)
            ],
            "questions": questions,
        }
        return Response(
            msgspec.to_builtins(body),
            headers={"Content-Disposition": f'attachment; filename="{name}.json"'},
        )

    # -- everyone -----------------------------------------------------------------------
    @get("/activities", dependencies=MAYBE_USER)
    async def list_activities(
        self,
        event_id: FromPath[str],
        events: EventService,
        activities: ActivityService,
        user: Principal | None,
    ) -> ActivityList:
        event = await events.load(event_id)
        return await self._list(activities, str(event["_id"]), is_host(event, user))

    @get("/activities/leaderboard")
    async def leaderboard(
        self, event_id: FromPath[str], events: EventService, activities: ActivityService
    ) -> Leaderboard:
        event = await events.load(event_id)
        count, rows = await activities.leaderboard(str(event["_id"]))
        return Leaderboard(str(event["_id"]), count, views.leaderboard(rows, limit=50))

    @get("/activities/{activity_id:str}", dependencies=MAYBE_USER)
    async def get_activity(
        self,
        event_id: FromPath[str],
        activity_id: FromPath[str],
        events: EventService,
        activities: ActivityService,
        user: Principal | None,
    ) -> ActivityView:
        event = await events.load(event_id)
        host = is_host(event, user)
        activity = await activities.load(str(event["_id"]), activity_id)
        if not host and activity.get("status") == "draft":
            raise NotFound(f"activity {activity_id!r} not found")
        return views.activity_view(activity, host=host)

    @get("/activities/{activity_id:str}/results", dependencies=MAYBE_USER)
    async def results(
        self,
        event_id: FromPath[str],
        activity_id: FromPath[str],
        events: EventService,
        activities: ActivityService,
        user: Principal | None,
    ) -> Results:
        event = await events.load(event_id)
        host = is_host(event, user)
        activity = await activities.load(str(event["_id"]), activity_id)
        activities.check_results_access(activity, host)
        return await activities.results(activity, host=host)

    # -- attendees ----------------------------------------------------------------------
    @post("/activities/{activity_id:str}/responses", status_code=201, dependencies=ATTENDEE)
    async def respond(
        self,
        event_id: FromPath[str],
        activity_id: FromPath[str],
        data: ResponseIn,
        events: EventService,
        activities: ActivityService,
        attendee: Principal,
    ) -> ResponseOut:
        activities.refuse_if_ended(await events.load(event_id))
        await activities.respond(
            event_id=event_id,
            activity_id=activity_id,
            attendee=attendee,
            body=msgspec.to_builtins(data),
        )
        return ResponseOut(activity_id, True)

    @get("/activities/{activity_id:str}/response", dependencies=ATTENDEE)
    async def my_response(
        self,
        event_id: FromPath[str],
        activity_id: FromPath[str],
        activities: ActivityService,
        attendee: Principal,
    ) -> MyResponse:
        activity = await activities.load(event_id, activity_id)
        mine = await activities.my_response(activity, attendee)
        if mine is None:
            return MyResponse(activity_id, False)
        if activity["kind"] != "quiz" or not activity.get("revealed"):
            return MyResponse(activity_id, True)
        return MyResponse(
            activity_id, True, bool(mine.get("correct")), int(mine.get("points") or 0)
        )


route_handlers = [ActivitiesController, *qa_routes]
