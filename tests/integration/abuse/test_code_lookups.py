"""Bounded under abuse: join codes cannot be enumerated (issue 12 leftover). A lookup by code
(`/api/events/by-code/{code}`, the join, `/e/{code}`, `/screen/{code}`) answered 404 for an
unknown code at the general API (or page) rate, so a script could try ~200 codes a second from
one address. Unknown codes now spend a per-address budget (default 30 a minute); codes that
exist are free, so a venue behind one NAT address still works."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable

import httpx

from livevote.events.service import CODE_ALPHABET
from tests.support.abuse import forwarded
from tests.support.events import new_event
from tests.support.http import assert_problem, http_client
from tests.support.servers import RunningServer

BUDGET = 30


def random_codes(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(CODE_ALPHABET) for _ in range(6)) for _ in range(n)]


def limited(make_server: Callable[..., RunningServer]) -> RunningServer:
    return make_server(
        limits={
            "code_misses_per_address_per_minute": BUDGET,
            "address_per_second": 100_000,
            "pages_per_address_per_minute": 100_000,
            "trusted_proxies": ("127.0.0.1",),
        }
    )


async def test_a_script_guessing_codes_gets_the_budget_then_429(
    make_server: Callable[..., RunningServer],
) -> None:
    srv = limited(make_server)
    async with http_client(srv.url) as c:
        _, ev = await new_event(c, teams=1)
        guesser = forwarded("198.51.100.9")
        answers = [
            await c.get(f"/api/events/by-code/{code}", headers=guesser)
            for code in random_codes(200, seed=12)
            if code != ev["code"]
        ]
        statuses = Counter(r.status_code for r in answers)
        assert statuses[404] == BUDGET and statuses[429] == len(answers) - BUDGET, statuses
        assert [r.status_code for r in answers[:BUDGET]] == [404] * BUDGET
        refused = answers[-1]
        assert_problem(refused, 429, "code-lookups")
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        # the real code from the guessing address is refused too: a 200 among the 429s would
        # still tell codes apart, and the script would enumerate at the general rate
        assert_problem(
            await c.get(f"/api/events/by-code/{ev['code']}", headers=guesser), 429, "code-lookups"
        )
        # everyone else is unaffected
        r = await c.get(f"/api/events/by-code/{ev['code']}", headers=forwarded("203.0.113.5"))
        assert r.status_code == 200 and r.json()["id"] == ev["id"]
        r = await c.post(
            "/api/events/join", json={"code": ev["code"]}, headers=forwarded("203.0.113.5")
        )
        assert r.status_code == 201


async def test_codes_that_exist_cost_nothing(make_server: Callable[..., RunningServer]) -> None:
    """A venue: hundreds of phones behind one address open the real code (API, page, join)."""
    srv = limited(make_server)
    venue = forwarded("192.0.2.44")
    async with http_client(srv.url) as c:
        _, ev = await new_event(c, teams=1)
        for _ in range(3 * BUDGET):
            assert (await c.get(f"/api/events/by-code/{ev['code']}", headers=venue)).is_success
        for _ in range(BUDGET):
            assert (await c.get(f"/e/{ev['code'].lower()}", headers=venue)).status_code == 200
            r = await c.post("/api/events/join", json={"code": ev["code"]}, headers=venue)
            assert r.status_code == 201
            c.cookies.clear()  # a new phone each time
        assert (await c.get(f"/screen/{ev['code']}", headers=venue)).status_code == 200
        # its budget is whole: a few mistyped codes are plain 404s
        mistyped = [
            (await c.get(f"/api/events/by-code/{code}", headers=venue)).status_code
            for code in random_codes(BUDGET, seed=3)
        ]
        assert mistyped == [404] * BUDGET


async def test_pages_join_and_api_share_one_budget(
    make_server: Callable[..., RunningServer],
) -> None:
    srv = limited(make_server)
    codes = iter(random_codes(100, seed=5))
    guesser = forwarded("198.51.100.77")

    async def guess(c: httpx.AsyncClient, kind: int) -> httpx.Response:
        code = next(codes)
        if kind == 0:
            return await c.get(f"/e/{code}", headers=guesser)
        if kind == 1:
            return await c.get(f"/screen/{code}", headers=guesser)
        return await c.post("/api/events/join", json={"code": code}, headers=guesser)

    async with http_client(srv.url) as c:
        answers = [await guess(c, i % 3) for i in range(BUDGET + 6)]
    assert [r.status_code for r in answers] == [404] * BUDGET + [429] * 6
    for r in answers[BUDGET:]:
        assert_problem(r, 429, "code-lookups")
        assert int(r.headers["Retry-After"]) >= 1


async def test_ipv6_guessers_are_one_address_per_64(
    make_server: Callable[..., RunningServer],
) -> None:
    srv = limited(make_server)
    async with http_client(srv.url) as c:
        statuses = [
            (
                await c.get(
                    f"/api/events/by-code/{code}", headers=forwarded(f"2001:db8:4:4::{i + 1:x}")
                )
            ).status_code
            for i, code in enumerate(random_codes(BUDGET + 10, seed=8))
        ]
        other = await c.get("/api/events/by-code/ZZZZZZ", headers=forwarded("2001:db8:4:5::1"))
    assert statuses == [404] * BUDGET + [429] * 10
    assert other.status_code == 404
