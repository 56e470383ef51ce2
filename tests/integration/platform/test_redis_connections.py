"""The app's Redis connections are cheap to open (issue 12, "Bounded under abuse"): a burst of
concurrent requests grows the pool by one connection per request in flight, and redis-py's
default CLIENT SETINFO cost each new connection a package-metadata lookup and two commands
(refused by Redis 6.2): ~1.5 ms of CPU per new connection instead of ~0.5 ms."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from livevote.infra.resources import RedisConnection
from tests.support.http import http_client
from tests.support.servers import RunningServer


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
    original = RedisConnection.send_packed_command

    async def recorded(self: RedisConnection, command: Any, check_health: bool = True) -> None:
        sent.append(_packed(command))
        await original(self, command, check_health)

    RedisConnection.send_packed_command = recorded  # type: ignore[method-assign]
    try:
        srv = make_server()
        async with http_client(srv.url) as c:
            answers = await asyncio.gather(*(c.get("/api/users/me") for _ in range(30)))
    finally:
        RedisConnection.send_packed_command = original  # type: ignore[method-assign]
    assert {r.status_code for r in answers} == {401}
    pool = srv.app.state.redis.connection_pool
    opened = len(pool._available_connections) + len(pool._in_use_connections)
    assert opened > 1, "the burst ran its rate-limit checks on concurrent connections"
    assert sent, "the app's Redis traffic was recorded"
    assert not [s for s in sent if b"SETINFO" in s.upper()]
