"""What clients see while MongoDB or Redis is down: a clean 503 with Retry-After, never a 500 or
a hang; limits fail open for the API and closed for login; everything recovers on its own."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from livevote.infra.embedded import EmbeddedStack
from tests.support.http import http_client
from tests.support.servers import Backing, RunningServer, settings_for, start_server
from tests.support.users import register_user


@pytest.fixture(scope="module")
def private_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStack]:
    """Servers of this module only: the tests kill them."""
    stack = EmbeddedStack(Path(tmp_path_factory.mktemp("outage"))).start()
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def outage_server(private_stack: EmbeddedStack) -> Iterator[RunningServer]:
    backing = Backing(private_stack.mongo_uri, private_stack.redis_url, private_stack)
    running = start_server(settings_for(backing, mongo={"timeout_ms": 1500}))
    yield running
    running.stop()


async def test_redis_down(outage_server: RunningServer, private_stack: EmbeddedStack) -> None:
    async with http_client(outage_server.url) as c:
        u = await register_user(c)
        private_stack.redis.kill()  # type: ignore[union-attr]
        try:
            me = await asyncio.wait_for(c.get("/api/users/me", headers=u["headers"]), 15)
            assert me.status_code == 200, "API rate limits fail open: MongoDB alone serves"
            assert "X-RateLimit-Limit" not in me.headers
            login = await c.post(
                "/api/auth/login", json={"email": u["email"], "password": "password123"}
            )
            assert login.status_code == 503, "login brute-force protection fails closed"
            assert login.headers["Retry-After"] and login.headers["content-type"].startswith(
                "application/problem+json"
            )
            ready = await c.get("/health/ready")
            assert ready.status_code == 503 and ready.json()["redis"].startswith("error")
            metrics = (await c.get("/metrics")).text
            assert "livevote_rate_limit_fail_open_total" in metrics
        finally:
            private_stack.restart_redis()
        for _ in range(50):
            if (await c.get("/health/ready")).status_code == 200:
                break
            await asyncio.sleep(0.2)
        login = await c.post(
            "/api/auth/login", json={"email": u["email"], "password": "password123"}
        )
        assert login.status_code == 200


async def test_mongo_down(outage_server: RunningServer, private_stack: EmbeddedStack) -> None:
    async with http_client(outage_server.url) as c:
        u = await register_user(c)
        private_stack.mongo.kill()  # type: ignore[union-attr]
        try:
            me = await asyncio.wait_for(c.get("/api/users/me", headers=u["headers"]), 20)
            assert me.status_code == 503, me.text
            assert int(me.headers["Retry-After"]) >= 1
            assert me.json()["type"].endswith("/service-unavailable")
            reg = await asyncio.wait_for(
                c.post(
                    "/api/auth/register",
                    json={
                        "username": "during_outage",
                        "email": "o@example.com",
                        "password": "password123",
                    },
                ),
                20,
            )
            assert reg.status_code == 503
            ready = await c.get("/health/ready")
            assert ready.status_code == 503 and ready.json()["mongodb"].startswith("error")
        finally:
            private_stack.restart_mongo()
        again: httpx.Response | None = None
        for _ in range(60):
            try:
                again = await c.get("/api/users/me", headers=u["headers"])
            except httpx.HTTPError:
                again = None
            if again is not None and again.status_code == 200:
                break
            await asyncio.sleep(0.25)
        assert again is not None and again.status_code == 200, (
            "acknowledged data survives kill -9 of NX-27017"
        )
