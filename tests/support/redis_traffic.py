"""Watching the app's Redis traffic from a test: every round trip of its real connections."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from livevote.infra.resources import RedisConnection


@contextlib.contextmanager
def on_redis_send(observe: Callable[[Any], None]) -> Iterator[None]:
    """Call `observe(command)` before every Redis round trip of the app's connections (one
    `RedisConnection.send_packed_command` each, whatever thread or process-wide client) while
    inside; the class is restored on the way out."""
    original = RedisConnection.send_packed_command

    async def observed(self: RedisConnection, command: Any, check_health: bool = True) -> None:
        observe(command)
        await original(self, command, check_health)

    RedisConnection.send_packed_command = observed  # type: ignore[method-assign]
    try:
        yield
    finally:
        RedisConnection.send_packed_command = original  # type: ignore[method-assign]
