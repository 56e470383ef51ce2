"""A Redis connection dropped under uvloop (what `livevote serve` runs) is a ConnectionError
(an outage: limits fail open, 503), never the RuntimeError uvloop raises on a closed handle."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import uvloop
from redis.asyncio import Redis
from redis.asyncio.connection import Connection
from redis.exceptions import ConnectionError as RedisConnectionError

from livevote.infra.resources import RedisConnection
from tests.support.servers import Backing


async def _write_after_close(url: str, connection_class: type[Connection]) -> BaseException:
    client = Redis.from_url(url, socket_timeout=2, connection_class=connection_class)
    try:
        conn = await client.connection_pool.get_connection()
        assert await client.ping()
        conn._writer.transport.close()  # what the kernel does when the server is killed
        await asyncio.sleep(0.05)
        try:
            await conn.send_packed_command(b"*1\r\n$4\r\nPING\r\n", check_health=False)
        except BaseException as exc:  # the type is the point of the test
            return exc
        raise AssertionError("writing to a closed transport did not fail")
    finally:
        await client.aclose()


def _run(coro_fn: Callable[..., Coroutine[Any, Any, BaseException]], *args: Any) -> BaseException:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro_fn(*args))


def test_uvloop_closed_transport_is_a_connection_error(stack: Backing) -> None:
    stock = _run(_write_after_close, stack.redis_url, Connection)
    ours = _run(_write_after_close, stack.redis_url, RedisConnection)
    if not isinstance(stock, RuntimeError):
        pytest.skip(f"this uvloop/redis-py pair raises {type(stock).__name__}; nothing to map")
    assert isinstance(ours, RedisConnectionError), repr(ours)
