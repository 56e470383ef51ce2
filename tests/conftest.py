"""Shared fixtures (only fixtures: what they are built from is in tests/support/).

- `stack`: MongoDB and Redis for the session: NX-27017 and redis-server on ephemeral ports, or
  the servers named by MONGODB_URI / REDIS_URL, unchanged.
- `make_server(clock=None, hooks=None, **groups)`: a real uvicorn server running `create_app` on
  a free port in a background thread, with its own database and Redis key prefix; stopped at
  the end of the module.
- `server` / `client` / `user`: one such server per module, an httpx client pointed at it, a
  registered and logged-in user.
- `server_db`: the module server's database, through a client on the test's own event loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from tests.support.http import http_client
from tests.support.servers import Backing, RunningServer, ServerFactory, open_backing
from tests.support.users import register_user


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backing]:
    with open_backing(tmp_path_factory.mktemp("embedded")) as backing:
        yield backing


@pytest.fixture(scope="module")
def make_server(stack: Backing) -> Iterator[ServerFactory]:
    """Start a server with settings overrides, e.g. make_server(limits={"user_per_minute": 5})."""
    factory = ServerFactory(stack)
    yield factory
    factory.stop_all()


@pytest.fixture(scope="module")
def server(make_server: ServerFactory) -> RunningServer:
    return make_server()


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(server.url) as c:
        yield c


@pytest.fixture
async def user(client: httpx.AsyncClient) -> dict[str, Any]:
    return await register_user(client)


@pytest.fixture
async def server_db(server: RunningServer) -> AsyncIterator[Any]:
    """The module server's database through a client of the test's own event loop
    (the server's AsyncMongoClient belongs to the server thread's loop)."""
    mc: AsyncMongoClient[Any] = AsyncMongoClient(server.settings.mongo.uri, tz_aware=True)
    try:
        yield mc[server.settings.mongo.database]
    finally:
        await mc.close()
