"""Audience Q&A: asking, moderation, upvotes, ordering."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.activities import Room, room


async def ask(r: Room, who: dict[str, Any], text: str, **body: Any) -> dict[str, Any]:
    res = await r.client.post(
        f"/api/events/{r.id}/questions", json={"text": text, **body}, headers=who["headers"]
    )
    assert res.status_code == 201, res.text
    out: dict[str, Any] = res.json()
    return out


async def upvote(r: Room, who: dict[str, Any], qid: str) -> httpx.Response:
    return await r.client.post(f"/api/events/{r.id}/questions/{qid}/upvote", headers=who["headers"])


async def test_ask_upvote_sort_and_names(client: httpx.AsyncClient) -> None:
    r = await room(client, attendees=3, name="Guest")
    a, b, c = r.attendees
    q1 = await ask(r, a, "First question?")
    q2 = await ask(r, b, "Second <b>question</b>?", anonymous=True)
    assert q1["status"] == "approved"  # moderation is off by default
    assert (await upvote(r, a, q2["id"])).status_code == 201
    assert (await upvote(r, c, q2["id"])).status_code == 201
    top = (await client.get(f"/api/events/{r.id}/questions?sort=top")).json()["items"]
    assert [(q["text"], q["votes"], q["name"]) for q in top] == [
        ("Second <b>question</b>?", 2, None),
        ("First question?", 0, "Guest0"),
    ]
    new = (await client.get(f"/api/events/{r.id}/questions?sort=new")).json()["items"]
    assert [q["id"] for q in new] == [q2["id"], q1["id"]]
    pin = await client.put(
        f"/api/events/{r.id}/questions/{q1['id']}", json={"pinned": True}, headers=r.h
    )
    assert pin.status_code == 200 and pin.json()["pinned"] is True
    top = (await client.get(f"/api/events/{r.id}/questions?sort=top")).json()["items"]
    assert top[0]["id"] == q1["id"]  # pinned first
    answered = await client.put(
        f"/api/events/{r.id}/questions/{q2['id']}", json={"status": "answered"}, headers=r.h
    )
    assert answered.json()["status"] == "answered"


async def test_moderation_hides_until_approved_and_blocks_upvotes(
    client: httpx.AsyncClient,
) -> None:
    r = await room(client, attendees=2)
    a, b = r.attendees
    on = await client.put(f"/api/events/{r.id}/qa", json={"moderation": True}, headers=r.h)
    assert on.status_code == 200 and on.json()["moderation"] is True
    q = await ask(r, a, "Moderated?")
    assert q["status"] == "pending"
    public = (await client.get(f"/api/events/{r.id}/questions")).json()
    assert public["items"] == [] and public["moderation"] is True
    host = (await client.get(f"/api/events/{r.id}/questions", headers=r.h)).json()
    assert [x["status"] for x in host["items"]] == ["pending"]
    pending = await upvote(r, b, q["id"])
    assert pending.status_code == 409 and pending.json()["type"].endswith("/question-hidden")
    await client.put(
        f"/api/events/{r.id}/questions/{q['id']}", json={"status": "approved"}, headers=r.h
    )
    assert (await upvote(r, b, q["id"])).status_code == 201
    await client.put(
        f"/api/events/{r.id}/questions/{q['id']}", json={"status": "hidden"}, headers=r.h
    )
    hidden = await upvote(r, a, q["id"])
    assert hidden.status_code == 409 and hidden.json()["type"].endswith("/question-hidden")
    host = (await client.get(f"/api/events/{r.id}/questions", headers=r.h)).json()
    assert host["items"][0]["votes"] == 1  # the refused upvote wrote nothing


async def test_bad_questions(client: httpx.AsyncClient) -> None:
    r = await room(client, attendees=1)
    (a,) = r.attendees
    long = await client.post(
        f"/api/events/{r.id}/questions", json={"text": "x" * 281}, headers=a["headers"]
    )
    assert long.status_code == 400
    assert long.headers["content-type"].startswith("application/problem+json")
    nobody = await client.post(f"/api/events/{r.id}/questions", json={"text": "hi"})
    assert nobody.status_code == 401
    other = await room(client, attendees=1)
    wrong_event = await client.post(
        f"/api/events/{r.id}/questions",
        json={"text": "hi"},
        headers=other.attendees[0]["headers"],
    )
    assert wrong_event.status_code == 403
    not_host = await client.put(
        f"/api/events/{r.id}/qa", json={"moderation": True}, headers=other.h
    )
    assert not_host.status_code == 403
    listed = (await client.get(f"/api/events/{r.id}/questions", headers=r.h)).json()
    assert listed["items"] == []
