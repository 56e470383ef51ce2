"""Activities and Q&A over the event's own SSE stream (DESIGN "Activities and audience Q&A":
"all over the same SSE stream"): GET /api/events/{id}/stream carries `event: state` and
`event: activities` frames on one connection, one subscription slot, one stream cap."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx

from tests.support.activities import Room, new_event
from tests.support.http import sse_events
from tests.support.servers import RunningServer

Frames = AsyncIterator[dict[str, Any]]


@asynccontextmanager
async def event_stream(
    client: httpx.AsyncClient, eid: str, headers: dict[str, str] | None = None
) -> AsyncIterator[Frames]:
    async with client.stream("GET", f"/api/events/{eid}/stream", headers=headers or {}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        yield sse_events(r)


async def until(
    frames: Frames, kind: str, pred: Callable[[dict[str, Any]], bool], seen: list[dict[str, Any]]
) -> dict[str, Any]:
    """The first `kind` frame of this connection whose data matches `pred`, read before
    (`seen`: every frame read so far) or now."""
    for frame in seen:
        if frame["event"] == kind and pred(frame["data"]):
            return frame

    async def read() -> dict[str, Any]:
        async for frame in frames:
            if "event" in frame:
                seen.append(frame)
                if frame["event"] == kind and pred(frame["data"]):
                    return frame
        raise AssertionError("stream ended")

    return await asyncio.wait_for(read(), 10)


async def live_room(client: httpx.AsyncClient) -> Room:
    host, event = await new_event(client, teams=1, results="live")
    r = Room(client, host, event)
    await r.join(2)
    team = event["teams"][0]["id"]
    for path, body in (("stage", {"team_id": team}), ("voting", {"open": True})):
        resp = await client.put(f"/api/events/{r.id}/{path}", json=body, headers=r.h)
        assert resp.status_code == 200, resp.text
    return r


def votes(state: dict[str, Any]) -> int:
    return sum(row["votes"] for row in state["results"] or [])


async def test_one_connection_carries_state_and_activities_frames(
    client: httpx.AsyncClient,
) -> None:
    r = await live_room(client)
    team = r.event["teams"][0]["id"]
    poll = await r.create(kind="choice", prompt="Live?", options=["Yes", "No"])
    seen: list[dict[str, Any]] = []
    async with event_stream(client, r.id) as frames:
        # both snapshots first, whatever their order
        first_state = await until(frames, "state", lambda s: votes(s) == 0, seen)
        first_acts = await until(frames, "activities", lambda a: a["live"] is None, seen)
        assert first_acts["data"]["event_id"] == r.id and first_acts["data"]["questions"] == []

        vote = await client.post(
            f"/api/events/{r.id}/votes",
            json={"team_id": team, "score": 4},
            headers=r.attendees[0]["headers"],
        )
        assert vote.status_code == 201, vote.text
        state = await until(frames, "state", lambda s: votes(s) == 1, seen)
        assert "questions" not in state["data"] and "live" not in state["data"]

        await r.live(poll["id"])
        answer = await r.answer(r.attendees[1], poll["id"], options=[1])
        assert answer.status_code == 201, answer.text
        ask = await client.post(
            f"/api/events/{r.id}/questions",
            json={"text": "Streamed?"},
            headers=r.attendees[0]["headers"],
        )
        assert ask.status_code == 201, ask.text

        def counted(a: dict[str, Any]) -> bool:
            return bool(a["results"] and a["results"]["responses"] == 1 and a["questions"])

        acts = await until(frames, "activities", counted, seen)
    data = acts["data"]
    assert data["live"]["id"] == poll["id"]
    assert [o["count"] for o in data["results"]["options"]] == [0, 1]
    assert data["questions"][0]["text"] == "Streamed?"
    assert "results" not in data["questions"][0]
    # each frame kind has its own ids, increasing within the kind
    for kind, first, last in (("state", first_state, state), ("activities", first_acts, acts)):
        ids = [int(f["id"]) for f in seen if f["event"] == kind]
        assert ids == sorted(set(ids)) and int(first["id"]) < int(last["id"]), (kind, ids)
    assert {f["event"] for f in seen} == {"state", "activities"}


async def test_host_variant_only_on_the_host_stream(client: httpx.AsyncClient) -> None:
    """Pending questions and hidden quiz results reach the host's stream only."""
    r = await live_room(client)
    on = await client.put(f"/api/events/{r.id}/qa", json={"moderation": True}, headers=r.h)
    assert on.status_code == 200
    quiz = await r.create(kind="quiz", prompt="2+2?", options=["3", "4"], correct=1)
    await r.live(quiz["id"])
    ask = await client.post(
        f"/api/events/{r.id}/questions",
        json={"text": "Only the host sees me"},
        headers=r.attendees[0]["headers"],
    )
    assert ask.status_code == 201 and ask.json()["status"] == "pending"
    answer = await r.answer(r.attendees[1], quiz["id"], option=1)
    assert answer.status_code == 201, answer.text
    seen: list[dict[str, Any]] = []
    async with event_stream(client, r.id, r.h) as hosted:
        host = await until(hosted, "activities", lambda a: bool(a["questions"]), seen)
        await until(hosted, "state", lambda s: True, seen)
    assert host["data"]["questions"][0]["status"] == "pending"
    assert host["data"]["results"]["responses"] == 1
    seen = []
    async with event_stream(client, r.id) as public:
        pub = await until(public, "activities", lambda a: a["live"] is not None, seen)
        await until(public, "state", lambda s: True, seen)
    assert pub["data"]["questions"] == [] and pub["data"]["questions_total"] == 1
    assert pub["data"]["results"] is None


async def test_reconnect_gets_both_frame_kinds_with_what_was_missed(
    client: httpx.AsyncClient,
) -> None:
    r = await live_room(client)
    team = r.event["teams"][0]["id"]
    seen: list[dict[str, Any]] = []
    async with event_stream(client, r.id) as frames:
        await until(frames, "state", lambda s: True, seen)
        await until(frames, "activities", lambda a: True, seen)
    last_id = seen[-1]["id"]
    # while disconnected: a vote, an activity made live, a question
    vote = await client.post(
        f"/api/events/{r.id}/votes",
        json={"team_id": team, "score": 5},
        headers=r.attendees[0]["headers"],
    )
    assert vote.status_code == 201
    rating = await r.create(kind="rating", prompt="How was it?", scale=5)
    await r.live(rating["id"])
    ask = await client.post(
        f"/api/events/{r.id}/questions",
        json={"text": "Missed?"},
        headers=r.attendees[1]["headers"],
    )
    assert ask.status_code == 201
    again: list[dict[str, Any]] = []
    async with event_stream(client, r.id, {"Last-Event-ID": last_id}) as frames:
        state = await until(frames, "state", lambda s: True, again)
        acts = await until(frames, "activities", lambda a: True, again)
    assert votes(state["data"]) == 1
    assert acts["data"]["live"]["id"] == rating["id"]
    assert [q["text"] for q in acts["data"]["questions"]] == ["Missed?"]
    before = {f["event"]: int(f["id"]) for f in seen}
    assert int(state["id"]) > before["state"] and int(acts["id"]) > before["activities"]


async def test_one_subscription_one_stream_and_no_separate_endpoint(
    client: httpx.AsyncClient, server: RunningServer
) -> None:
    r = await live_room(client)
    gone = await client.get(f"/api/events/{r.id}/activities/stream")
    assert gone.status_code in (404, 405)
    b = server.app.state.broadcaster
    seen: list[dict[str, Any]] = []
    async with event_stream(client, r.id) as frames:
        await until(frames, "activities", lambda a: True, seen)
        keys = (f"event:{r.id}", f"activities:{r.id}")
        subs = [b._channels[k].subscribers for k in keys]
        assert len(subs[0]) == len(subs[1]) == 1
        assert subs[0] == subs[1]  # the same slot in both channels
        (sub,) = subs[0]
        assert sub.keys == keys
    for _ in range(100):
        if not any(k in b._channels for k in keys):
            break
        await asyncio.sleep(0.05)
    assert not any(k in b._channels for k in keys)  # both channels closed with the stream
