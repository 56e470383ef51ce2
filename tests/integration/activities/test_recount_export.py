"""Recount rebuilds every activity's counters and every question's votes; export at any time."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
from bson import ObjectId

from livevote.activities.recount import recount
from tests.support.activities import room


async def test_recount_reports_and_fixes(client: httpx.AsyncClient, server_db: Any) -> None:
    r = await room(client, attendees=3)
    cloud = await r.create(kind="wordcloud", prompt="Words")
    rank = await r.create(kind="ranking", prompt="Rank", options=["A", "B", "C"])
    await r.live(cloud["id"])
    for a, w in zip(r.attendees, ["sun", "Sun", "rain"], strict=True):
        assert (await r.answer(a, cloud["id"], words=[w])).status_code == 201
    await r.live(rank["id"])
    for a in r.attendees:
        assert (await r.answer(a, rank["id"], order=[2, 1, 0])).status_code == 201
    q = await client.post(
        f"/api/events/{r.id}/questions", json={"text": "Q?"}, headers=r.attendees[0]["headers"]
    )
    await client.post(
        f"/api/events/{r.id}/questions/{q.json()['id']}/upvote",
        headers=r.attendees[1]["headers"],
    )
    (report,) = await recount(server_db, scope_id=r.id, fix=False)
    assert report.consistent, report

    await server_db["activities"].update_one(
        {"_id": ObjectId(rank["id"])}, {"$inc": {"tally.b2": 7, "tally.n": 1}}
    )
    await server_db["questions"].update_one(
        {"_id": ObjectId(q.json()["id"])}, {"$set": {"votes": 9}}
    )
    (report,) = await recount(server_db, scope_id=r.id, fix=False)
    assert not report.consistent and not report.fixed
    whats = {d.what: d for d in report.differences}
    assert whats[f"activity {rank['id']}"].counted == {"n": 3, "b2": 6, "b1": 3}
    assert whats[f"question {q.json()['id']}"].counted == {"votes": 1}
    (fixed,) = await recount(server_db, scope_id=r.id, fix=True)
    assert fixed.fixed
    (again,) = await recount(server_db, scope_id=r.id, fix=False)
    assert again.consistent
    res = await r.results(rank["id"])
    assert [(x["text"], x["points"]) for x in res["ranking"]] == [("C", 6), ("B", 3), ("A", 0)]


async def test_export_csv_and_json(client: httpx.AsyncClient) -> None:
    r = await room(client, attendees=2)
    poll = await r.create(kind="choice", prompt="=cmd()", options=["Yes", "No"])
    await r.live(poll["id"])
    await r.answer(r.attendees[0], poll["id"], options=[0])
    await client.post(
        f"/api/events/{r.id}/questions",
        json={"text": "@question"},
        headers=r.attendees[1]["headers"],
    )
    j = await client.get(f"/api/events/{r.id}/activities/export?format=json", headers=r.h)
    assert j.status_code == 200
    body = j.json()
    assert body["activities"][0]["results"]["options"][0]["count"] == 1
    assert body["questions"][0]["text"] == "@question"
    c = await client.get(f"/api/events/{r.id}/activities/export?format=csv", headers=r.h)
    assert c.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(c.text)))
    assert rows[1][2] == "'=cmd()" and rows[1][3] == "Yes" and rows[1][4] == "1"
    assert any(row[1:2] == ["'@question"] for row in rows)
    stranger = await client.get(f"/api/events/{r.id}/activities/export")
    assert stranger.status_code == 401
