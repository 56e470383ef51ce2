"""Poll feed API (seed 002): create, feed, vote, skip, stats. Parse → call the service → answer
with a view; the rules live in service.py."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, QueryParameter
from litestar.types import ControllerRouterHandler

from livevote.infra.auth import Principal, current_user
from livevote.infra.prefetch import PREFETCH, PREFETCHED, Prefetch
from livevote.infra.ratelimit import Rule
from livevote.polls import feed, views
from livevote.polls.schemas import (
    FeedOut,
    PollIn,
    PollOut,
    ResponseOut,
    SkipIn,
    StatsOut,
    VoteIn,
)
from livevote.polls.service import PollService, check_user_id, poll_key, poll_service

NO_OPERATOR = r"^(?!\$)[^\x00-\x1f]*$"


def _prefetch_feed(scope: Any, rules: list[Rule]) -> Prefetch | None:
    """The feed's Redis reads, sent with the rate limit in one round trip (feed.py)."""
    return feed.prefetch_lookup(poll_service(scope["app"].state).cache, scope, rules)


class PollController(Controller):
    path = "/api/polls"
    tags = ["polls"]
    dependencies = {
        "polls": Provide(poll_service, sync_to_thread=False),
        "user": Provide(current_user),
    }

    @post("/", status_code=201)
    async def create(self, data: PollIn, polls: PollService, user: Principal) -> PollOut:
        doc = await polls.create_poll(
            title=data.title, options=data.options, tags=data.tags, user_id=user.subject
        )
        return views.poll_view(doc)

    @get(
        "/",
        # the body is FeedOut, rendered once per walked page and served as bytes (feed.py)
        responses={200: ResponseSpec(data_container=FeedOut, description="Request fulfilled")},
        opt={PREFETCH: _prefetch_feed},  # the feed's cache reads ride on the rate limit's
    )
    async def feed(
        self,
        request: Request[Any, Any, Any],
        polls: PollService,
        user: Principal,
        tag: Annotated[
            str | None, QueryParameter(max_length=32, pattern=r"^[A-Za-z0-9][\w-]*\Z")
        ] = None,
        q: Annotated[
            str | None, QueryParameter(min_length=1, max_length=100, pattern=NO_OPERATOR)
        ] = None,
        page: Annotated[int, QueryParameter(ge=1, le=100)] = 1,
        limit: Annotated[int, QueryParameter(ge=1, le=50)] = 10,
        cursor: Annotated[str | None, QueryParameter(pattern=r"^[0-9a-f]{24}\Z")] = None,
        user_id: Annotated[
            str | None, QueryParameter(name="userId", max_length=64, pattern=r"^[A-Za-z0-9_-]+\Z")
        ] = None,
    ) -> Response[bytes]:
        """Newest first; only polls the caller has neither voted on nor skipped. Use
        `cursor=<next_cursor>` to page without repeats or gaps while voting (see feed.py).
        The page carries an ETag: `If-None-Match` with it answers 304 while it is current."""
        check_user_id(user_id, user)
        found = await polls.feed_page(
            user_id=user.subject,
            tag=tag,
            q=q,
            page=page,
            limit=limit,
            cursor=cursor,
            prefetch=request.scope["state"].get(PREFETCHED),
        )
        return views.feed_response(found, request.headers.get("if-none-match"))

    @post("/{poll_id:str}/vote", status_code=201)
    async def vote(
        self, poll_id: FromPath[str], data: VoteIn, polls: PollService, user: Principal
    ) -> ResponseOut:
        check_user_id(data.userId, user)
        key = poll_key(poll_id)
        remaining = await polls.cast_vote(
            key=key, user_id=user.subject, option_index=data.optionIndex
        )
        return views.vote_view(key, data.optionIndex, remaining)

    @post("/{poll_id:str}/skip", status_code=201)
    async def skip(
        self,
        poll_id: FromPath[str],
        polls: PollService,
        user: Principal,
        data: SkipIn | None = None,
    ) -> ResponseOut:
        check_user_id(data.userId if data else None, user)
        key = poll_key(poll_id)
        await polls.skip_poll(key=key, user_id=user.subject)
        return views.skip_view(key)

    @get("/{poll_id:str}/stats")
    async def stats(self, poll_id: FromPath[str], polls: PollService) -> StatsOut:
        key = poll_key(poll_id)
        options, votes = await polls.poll_stats(key=key)
        return views.stats_view(key, options, votes)


route_handlers: list[ControllerRouterHandler] = [PollController]
