"""Shared fixtures: real servers over real connections.

- `stack`: NX-27017 and redis-server started once per test session on ephemeral ports (or the
  servers named by MONGODB_URI / REDIS_URL, unchanged).
- `make_server(**overrides)`: a real uvicorn server running `create_app(settings)` on a free
  port in a background thread, with its own database and Redis key prefix; stopped at teardown.
- `server` / `client`: one such server per test module and an httpx client pointed at it.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from livevote.app import create_app
from livevote.config import Settings, replace
from livevote.infra.embedded import EmbeddedStack, free_port
from livevote.infra.resources import utc_now

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
_counter = itertools.count()


@dataclass
class Backing:
    mongo_uri: str
    redis_url: str
    stack: EmbeddedStack | None


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backing]:
    mongo_uri = os.environ.get("MONGODB_URI", "")
    redis_url = os.environ.get("REDIS_URL", "")
    embedded = None
    if not (mongo_uri and redis_url):
        embedded = EmbeddedStack(tmp_path_factory.mktemp("embedded")).start(
            mongo=not mongo_uri, redis=not redis_url
        )
        mongo_uri = mongo_uri or embedded.mongo_uri
        redis_url = redis_url or embedded.redis_url
    yield Backing(mongo_uri, redis_url, embedded)
    if embedded:
        embedded.stop()


class FakeClock:
    """An injectable clock for day-boundary and expiry tests."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or utc_now()

    def __call__(self) -> datetime:
        return self.now


@dataclass
class RunningServer:
    url: str
    settings: Settings
    app: Any
    server: uvicorn.Server
    thread: threading.Thread
    clock: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def settings_for(backing: Backing, **groups: Any) -> Settings:
    n = next(_counter)
    base = Settings(
        demo=False,
        log_level=os.environ.get("LIVEVOTE_TEST_LOG_LEVEL", "WARNING"),
        pending_report_delay_seconds=0.5,
    )
    base = replace(
        base,
        mongo={"uri": backing.mongo_uri, "database": f"t{n}_{uuid.uuid4().hex[:8]}"},
        redis={"url": backing.redis_url, "prefix": f"t{n}_{uuid.uuid4().hex[:6]}:"},
        limits={
            "user_per_minute": 100_000,
            "address_per_second": 100_000,
            "attendee_per_minute": 100_000,
            "joins_per_address_per_minute": 100_000,
            "login_failures_per_account": 1000,
            "login_failures_per_address": 1000,
        },
    )
    return replace(base, **groups)


def start_server(settings: Settings, clock: Any = None, hooks: Any = None) -> RunningServer:
    app = create_app(settings, clock=clock or utc_now, hooks=hooks)
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        loop="asyncio",
        timeout_graceful_shutdown=2,
        proxy_headers=False,
        # The server keeps idle connections longer than clients do (keepalive_expiry in
        # http_client), so a busy machine never writes into a connection being closed.
        timeout_keep_alive=30,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    return RunningServer(f"http://127.0.0.1:{port}", settings, app, server, thread, clock)


@pytest.fixture(scope="module")
def make_server(stack: Backing) -> Iterator[Callable[..., RunningServer]]:
    """Start a server with settings overrides, e.g. make_server(limits={"user_per_minute": 5});
    `hooks`: fault injection (tests/support/faults.py)."""
    started: list[RunningServer] = []

    def make(clock: Any = None, hooks: Any = None, **groups: Any) -> RunningServer:
        running = start_server(settings_for(stack, **groups), clock, hooks)
        started.append(running)
        return running

    yield make
    for running in started:
        running.stop()


@pytest.fixture(scope="module")
def server(make_server: Callable[..., RunningServer]) -> RunningServer:
    return make_server()


def http_client(base_url: str, **kw: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(60.0),
        limits=httpx.Limits(
            max_connections=400, max_keepalive_connections=400, keepalive_expiry=2.0
        ),
        **kw,
    )


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(server.url) as c:
        yield c


async def register_user(client: httpx.AsyncClient, name: str | None = None) -> dict[str, Any]:
    """Register and log in a fresh user; returns {"id", "email", "token", "headers"}."""
    name = name or f"u{uuid.uuid4().hex[:10]}"
    email = f"{name}@example.com"
    r = await client.post(
        "/api/auth/register", json={"username": name, "email": email, "password": "password123"}
    )
    assert r.status_code == 201, r.text
    r2 = await client.post("/api/auth/login", json={"email": email, "password": "password123"})
    assert r2.status_code == 200, r2.text
    token = r2.json()["access_token"]
    return {
        "id": r.json()["id"],
        "email": email,
        "token": token,
        "headers": {"Authorization": f"Bearer {token}"},
    }


@pytest.fixture
async def user(client: httpx.AsyncClient) -> dict[str, Any]:
    return await register_user(client)


def gather(*aws: Any) -> Any:
    return asyncio.gather(*aws)


@pytest.fixture
async def server_db(server: RunningServer) -> AsyncIterator[Any]:
    """The module server's database through a client of the test's own event loop
    (the server's AsyncMongoClient belongs to the server thread's loop)."""
    from pymongo import AsyncMongoClient

    mc: AsyncMongoClient[Any] = AsyncMongoClient(server.settings.mongo.uri, tz_aware=True)
    try:
        yield mc[server.settings.mongo.database]
    finally:
        await mc.close()
