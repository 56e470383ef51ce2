"""Bounded under abuse: who counts as one client address (issue 12, findings 5, 8 and 10)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from bson import ObjectId

from livevote.infra.auth import TokenService
from tests.support.abuse import forwarded
from tests.support.events import new_event
from tests.support.http import http_client
from tests.support.servers import RunningServer


async def test_venue_factor_is_for_attendees_only(
    make_server: Callable[..., RunningServer],
) -> None:
    """Finding 5: the ×10 venue factor applied to any valid credential, and user credentials
    are free (anyone registers): 20 user tokens from one address got 10× the address limit."""
    srv = make_server(limits={"address_per_second": 5})
    tokens = TokenService(srv.settings.jwt)
    users = [tokens.issue_user(str(ObjectId())) for _ in range(20)]
    async with http_client(srv.url) as c:
        t0 = time.monotonic()
        responses = await asyncio.gather(
            *(c.get("/api/users/me", headers={"Authorization": f"Bearer {t}"}) for t in users)
        )
        elapsed = time.monotonic() - t0
    limited = sum(r.status_code == 429 for r in responses)
    assert limited >= (15 if elapsed < 0.9 else 10), ([r.status_code for r in responses], elapsed)
    assert next(r for r in responses if r.status_code == 429).json()["detail"].find("address") > 0


async def test_ipv6_clients_are_grouped_by_64(make_server: Callable[..., RunningServer]) -> None:
    """Finding 5: IPv6 clients were not grouped by /64, so one subscriber (who owns a whole
    /64) had 2^64 addresses, each with its own bucket."""
    srv = make_server(limits={"address_per_second": 5, "trusted_proxies": ("127.0.0.1",)})
    async with http_client(srv.url) as c:
        t0 = time.monotonic()
        same_prefix = await asyncio.gather(
            *(c.get("/api/users/me", headers=forwarded(f"2001:db8:1:2::{i:x}")) for i in range(20))
        )
        elapsed = time.monotonic() - t0
        other_prefixes = await asyncio.gather(
            *(
                c.get("/api/users/me", headers=forwarded(f"2001:db8:1:{i:x}::1"))
                for i in range(3, 9)
            )
        )
    limited = sum(r.status_code == 429 for r in same_prefix)
    assert limited >= (15 if elapsed < 0.9 else 10), [r.status_code for r in same_prefix]
    assert all(r.status_code == 401 for r in other_prefixes)


async def test_login_lockout_groups_ipv6_by_64(make_server: Callable[..., RunningServer]) -> None:
    """Finding 5 (every per-address rule): rotating addresses inside one /64 does not reset
    the (account, address) lockout."""
    srv = make_server(limits={"login_failures_per_account": 3, "trusted_proxies": ("127.0.0.1",)})
    async with http_client(srv.url) as c:
        codes = [
            (
                await c.post(
                    "/api/auth/login",
                    json={"email": "someone@example.com", "password": "password123"},
                    headers=forwarded(f"2001:db8:7:7::{i + 1:x}"),
                )
            ).status_code
            for i in range(6)
        ]
        elsewhere = await c.post(
            "/api/auth/login",
            json={"email": "someone@example.com", "password": "password123"},
            headers=forwarded("2001:db8:7:8::1"),  # another /64: another pair
        )
    assert codes == [401, 401, 401, 429, 429, 429]
    assert elsewhere.status_code == 401


async def test_page_requests_are_limited_per_address(
    make_server: Callable[..., RunningServer],
) -> None:
    """Finding 10: HTML pages were outside the limiter, so `/e/{code}` allowed join-code
    enumeration at full speed. Pages have their own per-address rule; assets do not count."""
    srv = make_server(limits={"pages_per_address_per_minute": 5})
    async with http_client(srv.url) as c:
        guesses = [(await c.get(f"/e/ZZZZ{i:02d}")).status_code for i in range(8)]
        assert guesses == [404] * 5 + [429] * 3
        r = await c.get("/e/ZZZZ99")
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
        assert (await c.get("/health/live")).status_code == 200
        assert (await c.get("/api/events/by-code/ZZZZ99")).status_code == 404  # API: own rule


async def test_attendee_cookie_is_secure_behind_a_trusted_tls_proxy(
    make_server: Callable[..., RunningServer],
) -> None:
    """Finding 8: behind the shipped nginx (TLS ends before the app, uvicorn runs without
    proxy headers) the attendee cookie was never `Secure`. `X-Forwarded-Proto` now counts,
    from trusted proxies only."""
    trusting = make_server(limits={"trusted_proxies": ("127.0.0.1",)})
    untrusting = make_server()
    https = {"X-Forwarded-Proto": "https"}
    for srv, headers, secure in (
        (trusting, https, True),
        (trusting, {}, False),
        (untrusting, https, False),  # anyone may send the header: not believed
    ):
        async with http_client(srv.url) as c:
            _, ev = await new_event(c, teams=1)
            r = await c.post("/api/events/join", json={"code": ev["code"]}, headers=headers)
        assert r.status_code == 201
        cookie = r.headers["set-cookie"].lower()
        assert ("; secure" in cookie) is secure, (srv.settings.limits.trusted_proxies, cookie)
