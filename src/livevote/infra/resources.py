"""Lifespans for the shared resources (MongoDB, Redis), entered in order and exited in reverse.

Clients live on `app.state`, created inside the running event loop (an AsyncMongoClient
belongs to one loop). Domain code gets them through the `Provide` dependencies below.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from litestar import Litestar
from litestar.datastructures import State
from pymongo.asynchronous.database import AsyncDatabase
from redis.asyncio import Redis
from redis.asyncio.connection import BlockingConnectionPool, Connection
from redis.exceptions import ConnectionError as RedisConnectionError

from livevote.config import Settings
from livevote.infra.auth import PasswordPool, TokenService
from livevote.infra.mongo import Doc, apply_indexes, check_indexes, make_client
from livevote.infra.ratelimit import RateLimiter
from livevote.infra.sse import StreamSlots

log = logging.getLogger("livevote.resources")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@asynccontextmanager
async def mongo_lifespan(app: Litestar) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    client = make_client(settings.mongo.uri, settings.mongo.timeout_ms)
    db = client[settings.mongo.database]
    app.state.mongo_client = client
    app.state.db = db
    try:
        if settings.mongo.auto_apply_indexes:
            created = await apply_indexes(db)
            if created:
                log.info("indexes created", extra={"indexes": created})
        else:
            missing = await check_indexes(db)
            if missing:
                raise RuntimeError(
                    "database indexes differ from indexes/: run `livevote indexes apply`: "
                    + "; ".join(missing)
                )
        yield
    finally:
        await client.close()


class RedisConnection(Connection):
    """Writing to a connection the server has dropped raises RuntimeError ("the handler is
    closed") under uvloop, where redis-py only maps OSError to its ConnectionError. Map it too,
    so a Redis restart is an outage (limits fail open, 503) and never a 500.

    `connect` returns at once on a live connection: redis-py's pool calls it before every
    command and wraps even the no-op in its retry machinery (~5 % of a vote's CPU, #13)."""

    async def connect(self) -> None:
        if self.is_connected:
            return
        await super().connect()  # type: ignore[no-untyped-call]

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        try:
            await super().send_packed_command(command, check_health)
        except RuntimeError as exc:
            if "closed" not in str(exc):
                raise
            await self.disconnect(nowait=True)
            raise RedisConnectionError(f"connection to Redis lost: {exc}") from exc


@asynccontextmanager
async def redis_lifespan(app: Litestar) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    # A blocking pool: past max_connections a command waits (up to 2 s) for a connection to
    # free. The plain pool raised MaxConnectionsError, a RedisError, so under a burst of more
    # concurrent requests than connections the rate limits failed open as if Redis were down:
    # 1000 concurrent requests from one address got 320 answers past a 20/s limit, 300 of
    # them unlimited (measure_attacks, docs/RELIABILITY.md).
    pool = BlockingConnectionPool.from_url(
        settings.redis.url,
        decode_responses=True,
        socket_timeout=2,
        socket_connect_timeout=2,
        health_check_interval=10,
        max_connections=settings.redis.max_connections,
        timeout=2,
        connection_class=RedisConnection,
        # No CLIENT SETINFO on connect: redis-py looks its own version up in the installed
        # package metadata for every new connection and sends two commands that Redis 6.2
        # refuses. A burst of concurrent requests grows the pool by a connection each: ~1.5 ms
        # of CPU per new connection with it, ~0.5 ms without (docs/RELIABILITY.md).
        driver_info=None,
    )
    client = Redis.from_pool(pool)  # owns the pool: closed with the client
    app.state.redis = client
    app.state.limiter = RateLimiter(client, settings.limits, settings.redis.prefix)
    app.state.tokens = TokenService(settings.jwt)
    app.state.stream_slots = StreamSlots(client, settings.sse, settings.redis.prefix)
    app.state.passwords = PasswordPool(
        settings.limits.hashing_concurrency, settings.limits.hashing_wait_ms
    )
    try:
        yield
    finally:
        await client.aclose()


def provide_db(state: State) -> AsyncDatabase[Doc]:
    db: AsyncDatabase[Doc] = state.db
    return db


def provide_redis(state: State) -> Redis:
    client: Redis = state.redis
    return client


def provide_settings(state: State) -> Settings:
    settings: Settings = state.settings
    return settings


def provide_clock(state: State) -> Clock:
    clock: Clock = state.clock
    return clock


def provide_limiter(state: State) -> RateLimiter:
    limiter: RateLimiter = state.limiter
    return limiter


def provide_tokens(state: State) -> TokenService:
    svc: TokenService = state.tokens
    return svc
