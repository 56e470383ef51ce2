"""A database from before the stage had one truth (the event's `stage` field) still holds the
retired `one_team_on_stage_per_event` index on teams and an `on_stage` field on the team that
was presenting. It keeps working unchanged: `livevote indexes check` reports only missing
indexes (an extra one is no difference), and nothing reads or writes `on_stage` any more."""

from __future__ import annotations

from typing import Any

import httpx
from bson import ObjectId

from livevote.infra.mongo import check_indexes
from tests.support.events import new_event


async def test_a_database_with_the_retired_stage_index_keeps_working(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    host, ev = await new_event(client, teams=2)
    eid, t0, t1 = ev["id"], ev["teams"][0]["id"], ev["teams"][1]["id"]
    await server_db["teams"].create_index(
        [("on_stage", 1)],
        unique=True,
        name="one_team_on_stage_per_event",
        partialFilterExpression={"on_stage": {"$exists": True}},
    )
    await server_db["teams"].update_one({"_id": ObjectId(t0)}, {"$set": {"on_stage": eid}})
    assert await check_indexes(server_db) == []

    for tid in (t1, t0, t1):
        r = await client.put(
            f"/api/events/{eid}/stage", json={"team_id": tid}, headers=host["headers"]
        )
        assert r.status_code == 200 and r.json()["stage"] == tid, r.text
        assert [t["id"] for t in r.json()["teams"] if t["on_stage"]] == [tid]
    r = await client.post(f"/api/events/{eid}/teams", json={"name": "L"}, headers=host["headers"])
    assert r.status_code == 201, r.text
    host2, ev2 = await new_event(client, teams=3)
    r = await client.put(
        f"/api/events/{ev2['id']}/stage",
        json={"team_id": ev2["teams"][2]["id"]},
        headers=host2["headers"],
    )
    assert r.status_code == 200 and r.json()["stage"] == ev2["teams"][2]["id"], r.text
    # the stale field stays where the old code left it: nothing reads or writes it
    assert await server_db["teams"].count_documents({"on_stage": {"$exists": True}}) == 1
