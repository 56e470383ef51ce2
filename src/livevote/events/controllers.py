"""Live events API (DESIGN.md "Live events"): parse, call the service, answer."""

from __future__ import annotations

from typing import Any, Literal

from litestar import Controller, Request, Response, delete, get, post, put
from litestar.datastructures import Cookie
from litestar.di import Provide
from litestar.params import FromPath, FromQuery
from litestar.response import ServerSentEvent
from pymongo.asynchronous.database import AsyncDatabase

from livevote.config import Settings
from livevote.errors import Unauthorized
from livevote.events import service, stream, views
from livevote.events.repository import EventRepository
from livevote.events.schemas import (
    AttendeeView,
    CreateEventIn,
    EventList,
    EventView,
    JoinIn,
    JoinOut,
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
from livevote.infra.auth import (
    ATTENDEE_COOKIE,
    Principal,
    TokenService,
    bearer_token,
    current_attendee,
    current_user,
    optional_user,
    verified,
)
from livevote.infra.broadcaster import Broadcaster, provide_broadcaster
from livevote.infra.mongo import Doc
from livevote.infra.resources import Clock
from livevote.infra.sse import sse_stream


async def user_or_attendee(request: Request[Any, Any, Any]) -> Principal | None:
    """The user behind a Bearer token; None for no token or a valid attendee token
    (attendees may read what everyone may read); 401 for a bad token."""
    try:
        return await optional_user(request)
    except Unauthorized:
        token = bearer_token(request)
        if token is None:
            raise
        try:
            principal = verified(request, token)  # verified once per request, then cached
        except Unauthorized:
            principal = None
        if principal is None or principal.kind != "attendee":
            raise Unauthorized("invalid token", type="invalid-token") from None
        return None


HOST = {"user": Provide(current_user)}
MAYBE_USER = {"user": Provide(user_or_attendee)}
ATTENDEE = {"attendee": Provide(current_attendee)}


def provide_repo(db: AsyncDatabase[Doc]) -> EventRepository:
    return EventRepository(db)


def results_view(event: Doc) -> ResultsView:
    rows = views.results(event)
    return ResultsView(str(event["_id"]), sum(r.votes for r in rows), rows)


class EventsController(Controller):
    path = "/api/events"
    tags = ["live events"]
    dependencies = {
        "repo": Provide(provide_repo, sync_to_thread=False),
        "broadcaster": Provide(provide_broadcaster, sync_to_thread=False),
    }

    # -- hosts --------------------------------------------------------------------------
    @post("/", status_code=201, dependencies=HOST)
    async def create(
        self,
        data: CreateEventIn,
        request: Request[Any, Any, Any],
        repo: EventRepository,
        user: Principal,
        clock: Clock,
    ) -> EventView:
        event = await service.create_event(
            repo,
            host_id=user.subject,
            title=data.title,
            team_names=[t.name for t in data.teams],
            max_score=data.max_score,
            results=data.results,
            clock=clock,
        )
        return views.public_view(event)

    @get("/mine", dependencies=HOST)
    async def mine(self, repo: EventRepository, user: Principal) -> EventList:
        return EventList([views.public_view(e) for e in await repo.by_host(user.subject)])

    @post("/{event_id:str}/teams", status_code=201, dependencies=HOST)
    async def add_team(
        self,
        event_id: FromPath[str],
        data: TeamIn,
        request: Request[Any, Any, Any],
        repo: EventRepository,
        user: Principal,
        clock: Clock,
    ) -> TeamView:
        event = await service.load_as_host(repo, event_id, user)
        team = await service.add_team(repo, event=event, name=data.name, clock=clock)
        return TeamView(team["id"], team["name"], False)

    @put("/{event_id:str}/stage", dependencies=HOST)
    async def put_stage(
        self,
        event_id: FromPath[str],
        data: StageIn,
        request: Request[Any, Any, Any],
        repo: EventRepository,
        user: Principal,
        clock: Clock,
    ) -> EventView:
        event = await service.load_as_host(repo, event_id, user)
        updated = await service.put_on_stage(repo, event=event, team_id=data.team_id, clock=clock)
        return views.public_view(updated)

    @delete("/{event_id:str}/stage", status_code=200, dependencies=HOST)
    async def clear_stage(
        self, event_id: FromPath[str], repo: EventRepository, user: Principal, clock: Clock
    ) -> EventView:
        event = await service.load_as_host(repo, event_id, user)
        updated = await service.put_on_stage(repo, event=event, team_id=None, clock=clock)
        return views.public_view(updated)

    @put("/{event_id:str}/voting", dependencies=HOST)
    async def voting(
        self,
        event_id: FromPath[str],
        data: VotingIn,
        request: Request[Any, Any, Any],
        repo: EventRepository,
        user: Principal,
        clock: Clock,
    ) -> EventView:
        event = await service.load_as_host(repo, event_id, user)
        updated = await service.set_voting(repo, event=event, open_=data.open, clock=clock)
        return views.public_view(updated)

    @put("/{event_id:str}/results", dependencies=HOST)
    async def results_visibility(
        self,
        event_id: FromPath[str],
        data: ResultsVisibilityIn,
        request: Request[Any, Any, Any],
        repo: EventRepository,
        user: Principal,
        clock: Clock,
    ) -> EventView:
        event = await service.load_as_host(repo, event_id, user)
        updated = await service.set_results_visible(
            repo, event=event, visible=data.visible, clock=clock
        )
        return views.public_view(updated)

    @post("/{event_id:str}/end", status_code=200, dependencies=HOST)
    async def end(
        self, event_id: FromPath[str], repo: EventRepository, user: Principal, clock: Clock
    ) -> EventView:
        event = await service.load_as_host(repo, event_id, user)
        return views.public_view(await service.end_event(repo, event=event, clock=clock))

    @get("/{event_id:str}/export", dependencies=HOST)
    async def export(
        self,
        event_id: FromPath[str],
        repo: EventRepository,
        user: Principal,
        settings: Settings,
        format: FromQuery[Literal["csv", "json"]] = "json",
    ) -> Response[Any]:
        event = await service.load_as_host(repo, event_id, user)
        rows = views.results(event)
        log = views.export_rows(event, await repo.vote_log(event_id), settings.jwt.secret)
        name = f"livevote-{event['code']}"
        if format == "csv":
            return Response(
                views.export_csv(rows, log),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
            )
        body = {"event": views.public_view(event), "results": rows, "votes": log}
        return Response(
            body, headers={"Content-Disposition": f'attachment; filename="{name}.json"'}
        )

    @post("/{event_id:str}/recount", status_code=200, dependencies=HOST)
    async def recount(
        self, event_id: FromPath[str], repo: EventRepository, user: Principal, clock: Clock
    ) -> RecountOut:
        await service.load_as_host(repo, event_id, user)
        return await service.recount(repo, event_id=event_id, fix=True, clock=clock)

    # -- everyone -----------------------------------------------------------------------
    @get("/{event_id:str}")
    async def get_event(self, event_id: FromPath[str], repo: EventRepository) -> EventView:
        return views.public_view(await service.load(repo, event_id))

    @get("/by-code/{code:str}")
    async def by_code(self, code: FromPath[str], repo: EventRepository) -> EventView:
        return views.public_view(await service.load_by_code(repo, code))

    @get("/{event_id:str}/results", dependencies=MAYBE_USER)
    async def results(
        self, event_id: FromPath[str], repo: EventRepository, user: Principal | None
    ) -> ResultsView:
        event = await service.load(repo, event_id)
        service.check_results_access(event, user)
        return results_view(event)

    @get("/{event_id:str}/stream", dependencies=MAYBE_USER)
    async def stream(
        self,
        event_id: FromPath[str],
        repo: EventRepository,
        user: Principal | None,
        broadcaster: Broadcaster,
        settings: Settings,
    ) -> ServerSentEvent:
        event = await service.load(repo, event_id)
        host = user is not None and user.subject == event["host_id"]
        key = stream.channel_key(str(event["_id"]), host=host)
        return sse_stream(broadcaster, key, settings.sse, stream="events")

    # -- attendees ----------------------------------------------------------------------
    @post("/join", status_code=201)
    async def join(
        self,
        data: JoinIn,
        request: Request[Any, Any, Any],
        repo: EventRepository,
        tokens: TokenService,
        settings: Settings,
        clock: Clock,
    ) -> Response[JoinOut]:
        event, attendee_id = await service.join(repo, code=data.code, name=data.name, clock=clock)
        event_id = str(event["_id"])
        token = tokens.issue_attendee(attendee_id, event_id)
        cookie = Cookie(
            key=ATTENDEE_COOKIE,
            value=token,
            # Scoped to this event's API: joining another event never replaces it.
            path=f"/api/events/{event_id}",
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
            max_age=settings.jwt.attendee_ttl_seconds,
        )
        body = JoinOut(attendee_id, event_id, token, data.name)
        return Response(body, status_code=201, cookies=[cookie])

    @post("/{event_id:str}/votes", status_code=201, dependencies=ATTENDEE)
    async def vote(
        self,
        event_id: FromPath[str],
        data: VoteIn,
        request: Request[Any, Any, Any],
        repo: EventRepository,
        attendee: Principal,
        clock: Clock,
    ) -> VoteOut:
        await service.cast_vote(
            repo,
            event_id=event_id,
            attendee=attendee,
            team_id=data.team_id,
            score=data.score,
            clock=clock,
        )
        return VoteOut(event_id, data.team_id, data.score)

    @get("/{event_id:str}/me", dependencies=ATTENDEE)
    async def me(
        self, event_id: FromPath[str], repo: EventRepository, attendee: Principal
    ) -> AttendeeView:
        event = await service.load(repo, event_id)
        doc, votes = await service.my_votes(repo, event=event, attendee=attendee)
        return AttendeeView(
            attendee.subject,
            event_id,
            doc.get("name") if doc else None,
            [MyVote(v["team_id"], int(v["score"])) for v in votes],
        )


route_handlers = [EventsController]
