"""Live events API (DESIGN.md "Live events"): parse, call the service, answer."""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from litestar import Controller, Request, Response, delete, get, post, put
from litestar.di import Provide
from litestar.params import FromPath, FromQuery
from litestar.response import ServerSentEvent

from livevote.config import Settings
from livevote.events import stream, views
from livevote.events.fairness import FairnessService, provide_fairness
from livevote.events.fairness_controllers import FairnessController
from livevote.events.http import (
    ATTENDEE,
    HOST,
    HOST_EVENT,
    LOOKUPS,
    MAYBE_USER,
    attendee_cookies,
    code_lookups,
    join_caller,
)
from livevote.events.schemas import (
    AttendeeView,
    CreateEventIn,
    EventList,
    EventView,
    JoinIn,
    JoinOut,
    LanguageIn,
    MyVote,
    RecountOut,
    ResultsView,
    ResultsVisibilityIn,
    StageIn,
    TeamIn,
    TeamView,
    VoteIn,
    VoteOut,
    VotingIn,
)
from livevote.events.service import EventService, UnknownCode, provide_events
from livevote.infra.auth import Principal, TokenService, current_attendee
from livevote.infra.broadcaster import Broadcaster, provide_broadcaster
from livevote.infra.mongo import Doc
from livevote.infra.ratelimit import MissBudget, RateLimiter
from livevote.infra.sse import sse_stream


class EventsController(Controller):
    path = "/api/events"
    tags = ["live events"]
    dependencies = {
        "events": Provide(provide_events, sync_to_thread=False),
        "fairness": Provide(provide_fairness, sync_to_thread=False),
        "broadcaster": Provide(provide_broadcaster, sync_to_thread=False),
    }

    # -- hosts --------------------------------------------------------------------------
    @post("/", status_code=201, dependencies=HOST)
    async def create(
        self,
        data: CreateEventIn,
        request: Request[Any, Any, Any],
        events: EventService,
        user: Principal,
    ) -> EventView:
        event = await events.create_event(
            host_id=user.subject,
            title=data.title,
            team_names=[t.name for t in data.teams],
            max_score=data.max_score,
            results=data.results,
            criteria=[msgspec.to_builtins(c) for c in data.criteria] if data.criteria else None,
            jury_weight=data.jury_weight,
            admission=data.admission,
            language=data.language,
        )
        return views.public_view(event)

    @get("/mine", dependencies=HOST)
    async def mine(self, events: EventService, user: Principal) -> EventList:
        return EventList([views.public_view(e) for e in await events.hosted_by(user)])

    @post("/{event_id:str}/teams", status_code=201, dependencies=HOST_EVENT)
    async def add_team(self, event: Doc, data: TeamIn, events: EventService) -> TeamView:
        team = await events.add_team(event=event, name=data.name)
        return TeamView(team["id"], team["name"], False)

    @put("/{event_id:str}/stage", dependencies=HOST_EVENT)
    async def put_stage(self, event: Doc, data: StageIn, events: EventService) -> EventView:
        updated = await events.put_on_stage(event=event, team_id=data.team_id)
        return views.public_view(updated)

    @delete("/{event_id:str}/stage", status_code=200, dependencies=HOST_EVENT)
    async def clear_stage(self, event: Doc, events: EventService) -> EventView:
        updated = await events.put_on_stage(event=event, team_id=None)
        return views.public_view(updated)

    @put("/{event_id:str}/voting", dependencies=HOST_EVENT)
    async def voting(self, event: Doc, data: VotingIn, events: EventService) -> EventView:
        updated = await events.set_voting(event=event, open_=data.open)
        return views.public_view(updated)

    @put("/{event_id:str}/results", dependencies=HOST_EVENT)
    async def results_visibility(
        self, event: Doc, data: ResultsVisibilityIn, events: EventService
    ) -> EventView:
        updated = await events.set_results_visible(event=event, visible=data.visible)
        return views.public_view(updated)

    @put("/{event_id:str}/language", dependencies=HOST_EVENT)
    async def language(self, event: Doc, data: LanguageIn, events: EventService) -> EventView:
        """The language of the event's attendee, screen, juror and ticket pages (null: each
        browser's own); a link's ?lang= still wins (web/i18n.py)."""
        return views.public_view(await events.set_language(event=event, language=data.language))

    @post("/{event_id:str}/end", status_code=200, dependencies=HOST_EVENT)
    async def end(self, event: Doc, events: EventService) -> EventView:
        return views.public_view(await events.end_event(event=event))

    @get("/{event_id:str}/export", dependencies=HOST_EVENT)
    async def export(
        self,
        event: Doc,
        events: EventService,
        fairness: FairnessService,
        settings: Settings,
        format: FromQuery[Literal["csv", "json"]] = "json",
    ) -> Response[Any]:
        rows = views.results(event)
        log = views.export_rows(event, await events.vote_log(event), settings.jwt.secret)
        voids = views.export_voids(event, await fairness.voids(event=event), settings.jwt.secret)
        name = f"livevote-{event['code']}"
        if format == "csv":
            return Response(
                views.export_csv(rows, log, voids),
                media_type="text/csv",  # Litestar appends "; charset=utf-8" to text types
                headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
            )
        body = {"event": views.public_view(event), "results": rows, "votes": log, "voids": voids}
        return Response(
            body, headers={"Content-Disposition": f'attachment; filename="{name}.json"'}
        )

    @post("/{event_id:str}/recount", status_code=200, dependencies=HOST_EVENT)
    async def recount(self, event: Doc, events: EventService) -> RecountOut:
        return views.recount_view(await events.recount(event=event, fix=True))

    # -- everyone -----------------------------------------------------------------------
    @get("/{event_id:str}")
    async def get_event(self, event_id: FromPath[str], events: EventService) -> EventView:
        return views.public_view(await events.load(event_id))

    @get("/by-code/{code:str}", dependencies=LOOKUPS)
    async def by_code(
        self, code: FromPath[str], events: EventService, lookups: MissBudget
    ) -> EventView:
        lookups.check()
        try:
            return views.public_view(await events.load_by_code(code))
        except UnknownCode:
            await lookups.miss()
            raise

    @get("/{event_id:str}/results", dependencies=MAYBE_USER)
    async def results(
        self, event_id: FromPath[str], events: EventService, user: Principal | None
    ) -> ResultsView:
        event = await events.load(event_id)
        events.check_results_access(event, user)
        return views.results_view(event)

    @get("/{event_id:str}/stream", dependencies=MAYBE_USER)
    async def stream(
        self,
        event_id: FromPath[str],
        events: EventService,
        user: Principal | None,
        broadcaster: Broadcaster,
        settings: Settings,
    ) -> ServerSentEvent:
        event = await events.load(event_id)
        host = user is not None and user.subject == event["host_id"]
        key = stream.channel_key(str(event["_id"]), host=host)
        return sse_stream(broadcaster, key, settings.sse, stream="events")

    # -- attendees ----------------------------------------------------------------------
    @post("/join", status_code=201)
    async def join(
        self, data: JoinIn, request: Request[Any, Any, Any], events: EventService
    ) -> Response[JoinOut]:
        """201 a new attendee; 200 the same attendee again (a returning credential in open
        mode, a ticket claimed before in tickets mode): admission.py."""
        # Taken from app.state here, not as dependencies: Litestar resolves two or more
        # dependencies of one level in an anyio task group (~6 % of a join's CPU, #13).
        state = request.app.state
        settings: Settings = state.settings
        limiter: RateLimiter = state.limiter
        tokens: TokenService = state.tokens
        lookups = code_lookups(request, settings, limiter)
        caller = join_caller(request, settings, limiter)
        lookups.check()
        try:
            joined = await events.join(
                code=data.code, name=data.name, ticket=data.ticket, caller=caller
            )
        except UnknownCode:
            await lookups.miss()
            raise
        event_id = str(joined.event["_id"])
        token = tokens.issue_attendee(joined.attendee_id, event_id)
        body = JoinOut(joined.attendee_id, event_id, token, joined.name)
        return Response(
            body,
            status_code=201 if joined.created else 200,
            cookies=attendee_cookies(request, settings, event_id, token),
        )

    @post("/{event_id:str}/votes", status_code=201)
    async def vote(
        self,
        event_id: FromPath[str],
        data: VoteIn,
        request: Request[Any, Any, Any],
        events: EventService,
    ) -> VoteOut:
        # The attendee is resolved here, not as a second dependency beside `events`: Litestar
        # runs two dependencies of one level in an anyio task group (~10 % of a vote's CPU).
        attendee = await current_attendee(request)
        score, scores = data.given()
        points, receipt = await events.cast_vote(
            event_id=event_id, attendee=attendee, team_id=data.team_id, score=score, scores=scores
        )
        return VoteOut(event_id, data.team_id, points, receipt, scores)

    @get("/{event_id:str}/me", dependencies=ATTENDEE)
    async def me(
        self, event_id: FromPath[str], events: EventService, attendee: Principal
    ) -> AttendeeView:
        event = await events.load(event_id)
        doc, votes = await events.my_votes(event=event, attendee=attendee)
        return AttendeeView(
            attendee.subject,
            event_id,
            doc.get("name") if doc else None,
            [MyVote(v["team_id"], int(v["score"])) for v in votes],
        )


route_handlers = [EventsController, FairnessController]
