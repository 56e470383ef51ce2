"""Refused at the edge (issue 12, "Bounded under abuse"): once Redis has refused a key, the
same key's next requests are answered in front of Litestar from the remembered refusal — the
same 429 problem+json and headers, and not one Redis command (infra/edge.EdgeGuard)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from livevote.infra.auth import TokenService
from livevote.infra.ratelimit import RateLimiter
from tests.support.http import http_client
from tests.support.redis_traffic import on_redis_send
from tests.support.servers import RunningServer


class RedisSends:
    """Every Redis round trip the server's thread makes (one per send_packed_command)."""

    def __init__(self, thread: threading.Thread) -> None:
        self.thread, self.count = thread, 0


@contextlib.contextmanager
def redis_sends(srv: RunningServer) -> Iterator[RedisSends]:
    sends = RedisSends(srv.thread)

    def counted(_command: Any) -> None:
        if threading.get_ident() == sends.thread.ident:
            sends.count += 1

    with on_redis_send(counted):
        yield sends


def limiter(srv: RunningServer) -> RateLimiter:
    result: RateLimiter = srv.app.state.limiter
    return result


async def first_refusal(c: httpx.AsyncClient, path: str, **kw: Any) -> httpx.Response:
    for _ in range(50):
        r = await c.get(path, **kw)
        if r.status_code == 429:
            return r
    raise AssertionError(f"{path} was never refused")


def same_refusal(first: httpx.Response, later: httpx.Response) -> None:
    assert later.status_code == 429
    assert later.headers["content-type"] == first.headers["content-type"]
    a, b = first.json(), later.json()
    assert {k: a[k] for k in ("type", "title", "status", "instance")} == {
        k: b[k] for k in ("type", "title", "status", "instance")
    }
    retry = int(later.headers["Retry-After"])
    assert b["detail"] == re.sub(r"retry in \d+s", f"retry in {retry}s", a["detail"])
    assert 1 <= retry <= int(first.headers["Retry-After"])
    for name in ("X-RateLimit-Limit", "X-RateLimit-Remaining"):
        assert later.headers.get(name) == first.headers.get(name), name
    if "X-RateLimit-Reset" in first.headers:
        assert (
            abs(int(later.headers["X-RateLimit-Reset"]) - int(first.headers["X-RateLimit-Reset"]))
            <= 1
        )
    assert later.headers.get("x-request-id")


async def test_a_refused_address_is_refused_at_the_edge_without_redis(
    make_server: Callable[..., RunningServer],
) -> None:
    srv = make_server(limits={"pages_per_address_per_minute": 5})
    async with http_client(srv.url) as c:
        first = await first_refusal(c, "/")
        assert first.json()["detail"].startswith(
            "rate limit of 5 requests per minute reached (page)"
        )
        with redis_sends(srv) as sends:
            later = await asyncio.gather(*(c.get("/") for _ in range(200)))
        for r in later:
            same_refusal(first, r)
        assert sends.count == 0, f"{sends.count} Redis commands for 200 remembered refusals"


async def test_an_attendee_behind_a_refused_address_still_passes(
    make_server: Callable[..., RunningServer],
) -> None:
    """The address was refused at factor 1; an attendee request counts at the venue factor."""
    srv = make_server(limits={"address_per_second": 3, "user_per_minute": 100_000})
    attendee = TokenService(srv.settings.jwt).issue_attendee("att1", "evt1")
    headers = {"Authorization": f"Bearer {attendee}"}
    async with http_client(srv.url) as c:
        for _ in range(5):  # the address window is one second: retry if the box was too slow
            first = await first_refusal(c, "/api/users/me")
            assert first.headers["X-RateLimit-Limit"] == "3"
            passed = await c.get("/api/users/me", headers=headers)
            again = await c.get("/api/users/me")
            if limiter(srv).refused.check("address:127.0.0.1@3") is None:
                continue  # the refusal expired meanwhile: not conclusive
            assert passed.status_code != 429, passed.text
            assert passed.headers["X-RateLimit-Limit"] != "3"
            same_refusal(first, again)
            return
    raise AssertionError("the machine was too slow to test within one window")


async def test_the_remembered_refusal_expires(
    make_server: Callable[..., RunningServer],
) -> None:
    srv = make_server(limits={"address_per_second": 3, "user_per_minute": 100_000})
    async with http_client(srv.url) as c:
        await first_refusal(c, "/api/users/me")
        refused = limiter(srv).refused.check("address:127.0.0.1@3")
        assert refused is not None
        await asyncio.sleep(refused[1] + 0.05)
        with redis_sends(srv) as sends:
            r = await c.get("/api/users/me")
        assert r.status_code == 401, r.text  # counted by Redis again, and let through
        assert sends.count >= 1
        assert int(r.headers["X-RateLimit-Remaining"]) >= 0


async def test_a_spent_code_lookup_budget_is_refused_at_the_edge(
    make_server: Callable[..., RunningServer],
) -> None:
    srv = make_server(
        limits={
            "code_misses_per_address_per_minute": 3,
            "address_per_second": 100_000,
            "pages_per_address_per_minute": 100_000,
        }
    )
    async with http_client(srv.url) as c:
        codes = iter(f"ZZZZ{i:02d}" for i in range(99))
        first = await first_refusal(c, f"/api/events/by-code/{next(codes)}")
        for _ in range(5):
            assert (await c.get(f"/api/events/by-code/{next(codes)}")).status_code == 429
        assert first.json()["type"].endswith("/code-lookups")
        with redis_sends(srv) as sends:
            later = [await c.get(f"/api/events/by-code/{next(codes)}") for _ in range(20)]
            page = await c.get(f"/e/{next(codes)}")
            join = await c.post("/api/events/join", json={"code": next(codes)})
        assert sends.count == 0, f"{sends.count} Redis commands for remembered refusals"
        other = await c.get("/api/users/me")  # not a code lookup: not refused
        for r in later:
            assert r.status_code == 429 and r.json()["type"] == first.json()["type"]
            assert r.json()["instance"].startswith("/api/events/by-code/")
            assert 1 <= int(r.headers["Retry-After"]) <= 60
        assert page.status_code == 429 and page.json()["type"].endswith("/code-lookups")
        assert join.status_code == 429 and join.json()["type"].endswith("/code-lookups")
        assert other.status_code == 401


async def test_fresh_tokens_from_a_refused_address_are_refused_without_redis(
    make_server: Callable[..., RunningServer],
) -> None:
    """Minting user tokens (anyone may register) or forging attendee ones gets nothing past
    a refused address: user tokens count at factor 1 and a forgery verifies as no one."""
    srv = make_server(limits={"address_per_second": 3, "user_per_minute": 100_000})
    users = [TokenService(srv.settings.jwt).issue_user(f"u{i}") for i in range(40)]
    forged_secret = dataclasses.replace(srv.settings.jwt, secret="not-the-secret-" * 4)
    forged = [TokenService(forged_secret).issue_attendee(f"a{i}", "e1") for i in range(10)]
    async with http_client(srv.url) as c:
        for _ in range(5):  # the address window is one second: retry if the box was too slow
            first = await first_refusal(c, "/api/users/me")
            with redis_sends(srv) as sends:
                later = await asyncio.gather(
                    *(
                        c.get("/api/users/me", headers={"Authorization": f"Bearer {t}"})
                        for t in users + forged
                    )
                )
            if limiter(srv).refused.check("address:127.0.0.1@3") is None:
                continue  # the refusal expired meanwhile: not conclusive
            for r in later:
                same_refusal(first, r)
            assert sends.count == 0
            # refused before verifying: a user token cannot be an attendee's, so no HMAC spent
            verified = srv.app.state.tokens._verified
            assert not any(t in verified for t in users)
            return
    raise AssertionError("the machine was too slow to test within one window")
