"""The demo event comes with one activity of each kind and a few audience questions."""

from __future__ import annotations

from typing import Any

import httpx

from livevote.activities.kinds import KINDS
from livevote.config import replace
from livevote.demo import DEMO_CODE, DEMO_EMAIL, DEMO_PASSWORD, seed_demo
from tests.support.servers import RunningServer


async def test_demo_has_every_kind_and_questions(
    client: httpx.AsyncClient, server_db: Any, server: RunningServer
) -> None:
    await seed_demo(server_db, replace(server.settings, demo=True))
    await seed_demo(server_db, replace(server.settings, demo=True))  # idempotent
    event = (await client.get(f"/api/events/by-code/{DEMO_CODE}")).json()
    login = await client.post(
        "/api/auth/login", json={"email": DEMO_EMAIL, "password": DEMO_PASSWORD}
    )
    host = {"Authorization": f"Bearer {login.json()['access_token']}"}
    listed = (await client.get(f"/api/events/{event['id']}/activities", headers=host)).json()
    assert sorted(a["kind"] for a in listed["items"]) == sorted(KINDS)
    assert listed["live"] is None
    questions = (await client.get(f"/api/events/{event['id']}/questions")).json()
    assert len(questions["items"]) == 3
