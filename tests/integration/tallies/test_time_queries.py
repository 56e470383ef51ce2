"""Time queries: totals as they stood at a time, the timeline series, the reporting order."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support.http import http_client
from tests.support.servers import FakeClock, RunningServer
from tests.support.tallies import create_election, report_body, send
from tests.support.users import register_user

T0 = datetime(2026, 5, 7, 22, 0, tzinfo=UTC)


async def test_totals_at_timeline_and_reporting_order(
    make_server: Callable[..., RunningServer],
) -> None:
    clock = FakeClock(T0)
    server = make_server(clock=clock)
    async with http_client(server.url) as client:
        u = await register_user(client)
        e = await create_election(client, u["headers"])
        plan = [  # (minutes after 22:00, report id, box, city, votes, corrects)
            (1, "r1", "b1", "london", {"tories": 100, "labour": 50}, None),
            (4, "r2", "b2", "edinburgh", {"labour": 30}, None),
            (7, "r3", "b3", "london", {"tories": 10}, None),
            (12, "c1", "b1", "london", {"tories": 80, "labour": 50}, "r1"),
        ]
        for minutes, rid, box, city, votes, corrects in plan:
            clock.now = T0 + timedelta(minutes=minutes)
            extra = {"corrects": corrects} if corrects else {}
            r = await send(client, e, report_body(rid, box, city, votes, **extra))
            assert r.status_code == 202, r.text
        url = f"/api/elections/{e['id']}"

        async def at(when: datetime, city: str | None = None) -> dict[str, Any]:
            params = {"at": when.isoformat(), **({"city": city} if city else {})}
            r = await client.get(f"{url}/totals", params=params)
            assert r.status_code == 200, r.text
            return dict(r.json())

        t = await at(T0 + timedelta(minutes=5))
        assert t["votes"] == {"tories": 100, "labour": 80, "libdems": 0, "reform": 0}
        assert t["reported_boxes"] == 2 and t["expected_boxes"] == 670
        t = await at(T0 + timedelta(minutes=10), "london")
        assert t["votes"] == {"tories": 110, "labour": 50, "libdems": 0, "reform": 0}
        assert t["reported_boxes"] == 2 and t["city"] == "london"
        t = await at(T0 + timedelta(minutes=13))  # after the correction
        assert t["votes"]["tories"] == 90 and t["reported_boxes"] == 3
        assert (await at(T0))["votes"]["tories"] == 0
        assert (await client.get(f"{url}/totals", params={"at": "soon"})).status_code == 400

        r = await client.get(f"{url}/timeline", params={"step": 300})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["step"] == 300 and body["city"] is None
        points = [
            (p["at"][11:16], p["votes"]["tories"], p["reported_boxes"]) for p in body["points"]
        ]
        assert points == [("22:05", 100, 2), ("22:10", 110, 3), ("22:15", 90, 3)]
        r = await client.get(f"{url}/timeline", params={"city": "edinburgh", "step": 60})
        assert [p["votes"]["labour"] for p in r.json()["points"]] == [30]
        assert (await client.get(f"{url}/timeline", params={"step": 0})).status_code == 400
        assert (await client.get(f"{url}/timeline", params={"city": "x"})).status_code == 404
        auto = (await client.get(f"{url}/timeline")).json()
        assert 1 <= len(auto["points"]) <= 60 and auto["points"][-1]["votes"]["tories"] == 90

        r = await client.get(f"{url}/reporting-order", params={"limit": 2})
        body = r.json()
        assert [i["ballot_box_id"] for i in body["items"]] == ["b1", "b2"]
        rest = (await client.get(f"{url}/reporting-order", params={"after": body["next"]})).json()
        assert [i["ballot_box_id"] for i in rest["items"]] == ["b3"] and rest["next"] is None
        london = (await client.get(f"{url}/reporting-order", params={"city": "london"})).json()
        assert [i["ballot_box_id"] for i in london["items"]] == ["b1", "b3"]
