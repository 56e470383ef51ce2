"""The app's Redis connections under a burst (issue 12, "Bounded under abuse"): the pool grows
by one connection per request in flight, so opening one must be cheap (redis-py's default
CLIENT SETINFO cost each a package-metadata lookup and two commands refused by Redis 6.2:
~1.5 ms of CPU per new connection instead of ~0.5 ms), and a burst past the pool's size must
wait for a connection, not skip the rate limits."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from tests.support.http import http_client
from tests.support.redis_traffic import on_redis_send
from tests.support.servers import RunningServer
from tests.support.users import register_user


def _packed(command: Any) -> bytes:
    if isinstance(command, str):
        return command.encode()
    if isinstance(command, bytes | bytearray | memoryview):
        return bytes(command)
    return b"".join(_packed(part) for part in command)


async def test_a_burst_opens_connections_without_client_setinfo(
    make_server: Callable[..., RunningServer],
) -> None:
    sent: list[bytes] = []
    with on_redis_send(lambda command: sent.append(_packed(command))):
        srv = make_server()
        async with http_client(srv.url) as c:
            answers = await asyncio.gather(*(c.get("/api/users/me") for _ in range(30)))
    assert {r.status_code for r in answers} == {401}
    pool = srv.app.state.redis.connection_pool
    opened = len(pool._available_connections) + len(pool._in_use_connections)
    assert opened > 1, "the burst ran its rate-limit checks on concurrent connections"
    assert sent, "the app's Redis traffic was recorded"
    assert not [s for s in sent if b"SETINFO" in s.upper()]


async def test_a_burst_past_the_redis_pool_waits_instead_of_failing_open(
    make_server: Callable[..., RunningServer],
) -> None:
    """More concurrent requests than Redis connections: the plain pool raised
    MaxConnectionsError (a RedisError), so the rate limits failed open as if Redis were down
    and a burst got past them (1000 concurrent requests from one address: 320 answers past a
    20/s limit). The blocking pool makes the excess wait for a connection."""
    srv = make_server(redis={"max_connections": 3}, limits={"user_per_minute": 10})
    async with http_client(srv.url) as c:
        user = await register_user(c)
        answers = await asyncio.gather(
            *(c.get("/api/users/me", headers=user["headers"]) for _ in range(40))
        )
    codes = [r.status_code for r in answers]
    assert codes.count(200) == 10 and codes.count(429) == 30, sorted(codes)
