"""Backing services for commands: start embedded servers for what is not configured, and run
a coroutine against the database (`livevote serve`, `indexes`, `recount`, `verify`, ...)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from livevote.config import Settings
from livevote.infra.embedded import EmbeddedStack
from livevote.infra.mongo import make_client


def start_backing_services(settings: Settings) -> tuple[Settings, EmbeddedStack | None]:
    """Start embedded servers for what is not configured; export their URLs for workers."""
    if not (settings.embedded_mongo or settings.embedded_redis):
        return settings, None
    stack = EmbeddedStack(Path(settings.data_dir)).start(
        mongo=settings.embedded_mongo, redis=settings.embedded_redis
    )
    if settings.embedded_mongo:
        os.environ["MONGODB_URI"] = stack.mongo_uri
    if settings.embedded_redis:
        os.environ["REDIS_URL"] = stack.redis_url
    return Settings.from_env(), stack


def with_database(settings: Settings, fn: Callable[[Any], Coroutine[Any, Any, int]]) -> int:
    """Run `fn(db)` against the configured (or embedded) MongoDB; returns its exit code."""
    settings, stack = start_backing_services(settings)

    async def run() -> int:
        client = make_client(settings.mongo.uri, settings.mongo.timeout_ms)
        try:
            return await fn(client[settings.mongo.database])
        finally:
            await client.close()

    try:
        return asyncio.run(run())
    finally:
        if stack:
            stack.stop()
