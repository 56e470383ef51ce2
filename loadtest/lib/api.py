"""The livevote API calls the scenarios share: an account, a live event, attendees."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx

PASSWORD = "password123"  # noqa: S105 -- throwaway accounts on a throwaway database


@dataclass
class User:
    name: str
    headers: dict[str, str]  # the Bearer token


async def register(client: httpx.AsyncClient, name: str) -> User:
    """Register `name` and log in."""
    body = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
    r = await client.post("/api/auth/register", json=body)
    r.raise_for_status()
    r = await client.post("/api/auth/login", json={"email": body["email"], "password": PASSWORD})
    r.raise_for_status()
    return User(name, {"Authorization": f"Bearer {r.json()['access_token']}"})


@dataclass
class LiveEvent:
    id: str
    code: str
    team_id: str  # on stage, voting open
    host_headers: dict[str, str]
    team_ids: list[str]


async def prepare_event(
    client: httpx.AsyncClient, title: str = "load test", teams: int = 1
) -> LiveEvent:
    """A host, an event whose first team is on stage with voting open, live results."""
    host = await register(client, f"host{uuid.uuid4().hex[:10]}")
    r = await client.post(
        "/api/events",
        json={
            "title": title,
            "teams": [{"name": f"Team {chr(65 + i)}"} for i in range(teams)],
            "results": "live",
        },
        headers=host.headers,
    )
    r.raise_for_status()
    event = r.json()
    team_ids = [t["id"] for t in event["teams"]]
    live = LiveEvent(event["id"], event["code"], team_ids[0], host.headers, team_ids)
    await open_voting(client, live, team_ids[0])
    return live


async def open_voting(client: httpx.AsyncClient, event: LiveEvent, team_id: str) -> None:
    """Put `team_id` on stage and open voting for it (as the host)."""
    r = await client.put(
        f"/api/events/{event.id}/stage", json={"team_id": team_id}, headers=event.host_headers
    )
    r.raise_for_status()
    r = await client.put(
        f"/api/events/{event.id}/voting", json={"open": True}, headers=event.host_headers
    )
    r.raise_for_status()
    event.team_id = team_id


def no_cookies() -> CookieJar:
    """A cookie jar that keeps none: a load client plays many attendees, and the join endpoint
    answers a client that carries an attendee cookie with that same attendee (one person,
    one vote: events/admission.py)."""
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


async def join_attendees(client: httpx.AsyncClient, code: str, n: int) -> list[str]:
    """`n` attendees join (50 at a time); their tokens."""
    sem = asyncio.Semaphore(50)

    async def one(i: int) -> str:
        async with sem:
            r = await client.post("/api/events/join", json={"code": code, "name": f"a{i}"})
            r.raise_for_status()
            return str(r.json()["token"])

    return list(await asyncio.gather(*(one(i) for i in range(n))))


async def event_total_votes(url: str, event_id: str) -> int:
    """The event's counted votes, as its public results say."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        r = await client.get(f"/api/events/{event_id}/results")
        r.raise_for_status()
        return int(r.json()["total_votes"])
