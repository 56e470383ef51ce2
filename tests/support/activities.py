"""Helpers for the activities tests: an event with a host, attendees, activities."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.events import join, new_event

__all__ = ["EACH_KIND", "Room", "join", "new_event", "room", "town_hall"]


class Room:
    """An event with its host and a few joined attendees."""

    def __init__(self, client: httpx.AsyncClient, host: dict[str, Any], event: dict[str, Any]):
        self.client = client
        self.host = host
        self.event = event
        self.id = event["id"]
        self.attendees: list[dict[str, Any]] = []

    @property
    def h(self) -> dict[str, str]:
        return dict(self.host["headers"])

    async def join(self, n: int = 1, name: str | None = None) -> list[dict[str, Any]]:
        out = []
        for i in range(n):
            out.append(await join(self.client, self.event["code"], name and f"{name}{i}"))
        self.attendees += out
        return out

    async def create(self, **body: Any) -> dict[str, Any]:
        r = await self.client.post(f"/api/events/{self.id}/activities", json=body, headers=self.h)
        assert r.status_code == 201, r.text
        activity: dict[str, Any] = r.json()
        return activity

    async def live(self, activity_id: str | None) -> dict[str, Any]:
        r = await self.client.put(
            f"/api/events/{self.id}/activity", json={"activity_id": activity_id}, headers=self.h
        )
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out

    async def answer(
        self, attendee: dict[str, Any], activity_id: str, **body: Any
    ) -> httpx.Response:
        return await self.client.post(
            f"/api/events/{self.id}/activities/{activity_id}/responses",
            json=body,
            headers=attendee["headers"],
        )

    async def results(self, activity_id: str, host: bool = True) -> dict[str, Any]:
        r = await self.client.get(
            f"/api/events/{self.id}/activities/{activity_id}/results",
            headers=self.h if host else {},
        )
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out


async def room(client: httpx.AsyncClient, attendees: int = 0, name: str | None = None) -> Room:
    host, event = await new_event(client, teams=1)
    r = Room(client, host, event)
    if attendees:
        await r.join(attendees, name)
    return r


# One activity of each kind, in the order the browser tests run them (the poll first).
EACH_KIND: list[dict[str, Any]] = [
    {
        "kind": "choice",
        "prompt": "Where should the next offsite be?",
        "options": ["Lisbon", "A cabin in the mountains", "Right here"],
    },
    {"kind": "wordcloud", "prompt": "One word for this year?"},
    {"kind": "rating", "prompt": "How was the keynote?", "scale": 5},
    {"kind": "open", "prompt": "What should we change?"},
    {
        "kind": "ranking",
        "prompt": "Rank our priorities",
        "options": ["Hiring", "Product", "Customers"],
    },
    {
        "kind": "quiz",
        "prompt": "When was the company founded?",
        "options": ["2012", "2015", "2018", "2020"],
        "correct": 1,
        "time_limit_s": 120,
    },
]


async def town_hall(
    client: httpx.AsyncClient, activities: list[dict[str, Any]]
) -> tuple[Room, list[dict[str, Any]]]:
    """A new host's event "Town Hall" (one team, Keynote) with `activities` created on it, in
    order: the room (no attendees yet) and the activities as created."""
    host, event = await new_event(client, ["Keynote"], title="Town Hall")
    hall = Room(client, host, event)
    return hall, [await hall.create(**spec) for spec in activities]
