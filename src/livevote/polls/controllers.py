"""Poll feed API (seed 002): create, feed, vote, skip, stats."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.params import FromPath, QueryParameter
from litestar.types import ControllerRouterHandler
from pymongo.asynchronous.database import AsyncDatabase
from redis.asyncio import Redis

from livevote.config import Settings
from livevote.infra.auth import Principal, current_user
from livevote.infra.mongo import Doc
from livevote.infra.resources import Clock
from livevote.polls import feed, service
from livevote.polls.cache import PollCache
from livevote.polls.repository import PollRepository
from livevote.polls.schemas import (
    FeedOut,
    PollIn,
    PollOut,
    ResponseOut,
    SkipIn,
    StatsOut,
    VoteIn,
)

NO_OPERATOR = r"^(?!\$)[^\x00-\x1f]*$"


def provide_polls(db: AsyncDatabase[Doc]) -> PollRepository:
    return PollRepository(db)


def provide_poll_cache(redis: Redis, settings: Settings) -> PollCache:
    return PollCache(redis, settings.redis.prefix)


class PollController(Controller):
    path = "/api/polls"
    tags = ["polls"]
    dependencies = {
        "polls": Provide(provide_polls, sync_to_thread=False),
        "cache": Provide(provide_poll_cache, sync_to_thread=False),
        "user": Provide(current_user),
    }

    @post("/", status_code=201)
    async def create(
        self,
        data: PollIn,
        request: Request[Any, Any, Any],
        polls: PollRepository,
        user: Principal,
        clock: Clock,
    ) -> PollOut:
        doc = await service.create_poll(
            polls,
            title=data.title,
            options=data.options,
            tags=data.tags,
            user_id=user.subject,
            clock=clock,
        )
        return msgspec.convert(feed.item(doc), PollOut)

    @get("/")
    async def feed(
        self,
        polls: PollRepository,
        cache: PollCache,
        user: Principal,
        tag: Annotated[
            str | None, QueryParameter(max_length=32, pattern=r"^[A-Za-z0-9][\w-]*$")
        ] = None,
        q: Annotated[
            str | None, QueryParameter(min_length=1, max_length=100, pattern=NO_OPERATOR)
        ] = None,
        page: Annotated[int, QueryParameter(ge=1, le=100)] = 1,
        limit: Annotated[int, QueryParameter(ge=1, le=50)] = 10,
        cursor: Annotated[str | None, QueryParameter(pattern=r"^[0-9a-f]{24}$")] = None,
        user_id: Annotated[
            str | None, QueryParameter(name="userId", max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
        ] = None,
    ) -> FeedOut:
        """Newest first; only polls the caller has neither voted on nor skipped. Use
        `cursor=<next_cursor>` to page without repeats or gaps while voting (see feed.py)."""
        service.check_user_id(user_id, user)
        page_data = await feed.feed_page(
            polls,
            cache,
            user_id=user.subject,
            tag=tag.lower() if tag else None,
            q=q.strip() or None if q else None,
            page=page,
            limit=limit,
            cursor=cursor,
        )
        return msgspec.convert(page_data, FeedOut)

    @post("/{poll_id:str}/vote", status_code=201)
    async def vote(
        self,
        poll_id: FromPath[str],
        data: VoteIn,
        request: Request[Any, Any, Any],
        polls: PollRepository,
        cache: PollCache,
        user: Principal,
        settings: Settings,
        clock: Clock,
    ) -> ResponseOut:
        service.check_user_id(data.userId, user)
        result = await service.cast_vote(
            polls,
            cache,
            key=service.poll_key(poll_id),
            user_id=user.subject,
            option_index=data.optionIndex,
            daily_limit=settings.limits.daily_votes,
            clock=clock,
        )
        return msgspec.convert(result, ResponseOut)

    @post("/{poll_id:str}/skip", status_code=201)
    async def skip(
        self,
        poll_id: FromPath[str],
        polls: PollRepository,
        cache: PollCache,
        user: Principal,
        clock: Clock,
        request: Request[Any, Any, Any],
        data: SkipIn | None = None,
    ) -> ResponseOut:
        service.check_user_id(data.userId if data else None, user)
        result = await service.skip_poll(
            polls, cache, key=service.poll_key(poll_id), user_id=user.subject, clock=clock
        )
        return msgspec.convert(result, ResponseOut)

    @get("/{poll_id:str}/stats")
    async def stats(
        self, poll_id: FromPath[str], polls: PollRepository, cache: PollCache
    ) -> StatsOut:
        result = await service.poll_stats(polls, cache, key=service.poll_key(poll_id))
        return msgspec.convert(result, StatsOut)


route_handlers: list[ControllerRouterHandler] = [PollController]
