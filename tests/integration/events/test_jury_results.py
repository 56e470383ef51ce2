"""Pitch competition results: audience and jury combined (a hand-worked example), the same
numbers in results, export, the SSE stream and recount; the reveal; duplicate; the report."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import httpx

from livevote.config import replace
from livevote.demo import DEMO_CODE, DEMO_EMAIL, DEMO_PASSWORD, seed_demo
from livevote.events.recount import recount
from tests.support.events import join, new_event, next_state
from tests.support.http import assert_problem, sse_events
from tests.support.jury import add_juror, audience_votes, score
from tests.support.servers import RunningServer
from tests.support.users import register_user

CRITERIA = [{"name": "Pitch", "weight": 2}, {"name": "Product", "weight": 1}]

# The hand-worked example (max_score 10, jury_weight 0.4, Pitch counts twice Product; a
# juror's weighted score is (2 x Pitch + Product) / 3):
#
#   team  audience    aud | juror 1 (P, Pr)     | juror 2 (P, Pr)     | jury | final
#   A     8, 6        7.0 | 8, 5: (16+5)/3 = 7  | 9, 9: 9             | 8.0  | 3.2 + 4.2 = 7.4
#   B     9, 9, 6     8.0 | 6, 9: (12+9)/3 = 7  | 5, 5: 5             | 6.0  | 2.4 + 4.8 = 7.2
#   C     5           5.0 | 10, 10: 10          | 10, 7: (20+7)/3 = 9 | 9.5  | 3.8 + 3.0 = 6.8
#   D     9           9.0 | 5, 5: 5             | 5, 5: 5             | 5.0  | 2.0 + 5.4 = 7.4
#
# (final = 0.4 x jury + 0.6 x audience.)
# A and D tie on 7.4: the higher jury average wins (A 8.0 > D 5.0). Ranks: A 1, D 2, B 3, C 4.
AUDIENCE = {"A": [8, 6], "B": [9, 9, 6], "C": [5], "D": [9]}
JUROR_1 = {"A": (8, 5), "B": (6, 9), "C": (10, 10), "D": (5, 5)}
JUROR_2 = {"A": (9, 9), "B": (5, 5), "C": (10, 7), "D": (5, 5)}
EXPECTED = {
    "A": {"audience": (2, 7.0), "jury": (2, 8.0), "final": 7.4, "rank": 1},
    "B": {"audience": (3, 8.0), "jury": (2, 6.0), "final": 7.2, "rank": 3},
    "C": {"audience": (1, 5.0), "jury": (2, 9.5), "final": 6.8, "rank": 4},
    "D": {"audience": (1, 9.0), "jury": (2, 5.0), "final": 7.4, "rank": 2},
}


def summary(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        r["name"]: {
            "audience": (r["audience"]["votes"], r["audience"]["average"]),
            "jury": (r["jury"]["jurors"], r["jury"]["average"]),
            "final": r["final"],
            "rank": r["rank"],
        }
        for r in rows
    }


async def competition(
    client: httpx.AsyncClient, **body: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The example above, scored and voted; returns (host, event) with the jury locked."""
    host, ev = await new_event(client, 0, criteria=CRITERIA, max_score=10, jury_weight=0.4, **body)
    eid = ev["id"]
    ids = {}
    for name in "ABCD":
        r = await client.post(
            f"/api/events/{eid}/teams", json={"name": name}, headers=host["headers"]
        )
        ids[name] = r.json()["id"]
    ev = (await client.get(f"/api/events/{eid}")).json()
    await audience_votes(client, host, ev, {ids[n]: v for n, v in AUDIENCE.items()})
    for name, sheet in (("Jo", JUROR_1), ("Kim", JUROR_2)):
        juror = await add_juror(client, host, eid, name)
        for team, (pitch, product) in sheet.items():
            r = await score(client, juror, eid, ids[team], Pitch=pitch, Product=product)
            assert r.status_code == 200, r.text
    r = await client.put(f"/api/events/{eid}/jury", json={"locked": True}, headers=host["headers"])
    assert r.status_code == 200
    return host, ev


async def test_weighted_results_match_the_hand_worked_example(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    host, ev = await competition(client)
    eid = ev["id"]
    r = await client.get(f"/api/events/{eid}/results", headers=host["headers"])
    assert summary(r.json()["results"]) == EXPECTED

    # the export carries the same numbers (CSV and JSON)
    r = await client.get(f"/api/events/{eid}/export?format=json", headers=host["headers"])
    assert summary(r.json()["results"]) == EXPECTED
    r = await client.get(f"/api/events/{eid}/export?format=csv", headers=host["headers"])
    table = list(csv.DictReader(io.StringIO(r.text.split("\n\n")[0])))
    assert [(t["team"], t["rank"], t["jury_average"], t["final"]) for t in table] == [
        ("A", "1", "8.0", "7.4"),
        ("D", "2", "5.0", "7.4"),
        ("B", "3", "6.0", "7.2"),
        ("C", "4", "9.5", "6.8"),
    ]
    # so does the host's stream
    async with client.stream("GET", f"/api/events/{eid}/stream", headers=host["headers"]) as s:
        state = await next_state(sse_events(s))
    assert summary(state["data"]["results"]) == EXPECTED

    # recount: consistent; a jury tally knocked off (a crash between sheet and tally) is
    # reported, then rebuilt from the sheets
    assert [r.consistent for r in await recount(server_db, scope_id=eid, fix=False)] == [True]
    team_a = next(t["id"] for t in ev["teams"] if t["name"] == "A")
    await server_db.events.update_one(
        {"code": ev["code"]}, {"$inc": {f"jury_tally.{team_a}.sums.Pitch": 7}}
    )
    [report] = await recount(server_db, scope_id=eid, fix=False)
    assert not report.consistent and [d.what for d in report.differences] == [f"jury {team_a}"]
    assert report.differences[0].stored["Pitch"] == report.differences[0].counted["Pitch"] + 7
    r = await client.post(f"/api/events/{eid}/recount", headers=host["headers"])
    assert r.status_code == 200 and r.json()["fixed"] is True
    r = await client.get(f"/api/events/{eid}/results", headers=host["headers"])
    assert summary(r.json()["results"]) == EXPECTED


async def test_reveal_goes_last_to_first_and_phones_see_it(client: httpx.AsyncClient) -> None:
    host, ev = await competition(client, results="hidden")
    eid = ev["id"]
    phone = await join(client, ev["code"])
    url = f"/api/events/{eid}/reveal/next"
    assert_problem(await client.post(url, headers=phone["headers"]), 401)
    other = await register_user(client)
    assert_problem(await client.post(url, headers=other["headers"]), 403)
    revealed = []
    for step in range(1, 5):
        r = await client.post(url, headers=host["headers"])
        assert r.status_code == 200, r.text
        reveal = r.json()["reveal"]
        assert reveal["step"] == step and reveal["total"] == 4
        assert reveal["complete"] is (step == 4)
        revealed = [(p["place"], p["name"], p["final"]) for p in reveal["places"]]
        async with client.stream("GET", f"/api/events/{eid}/stream") as s:  # the public
            public = await next_state(sse_events(s))
        assert [(p["place"], p["name"]) for p in public["data"]["reveal"]["places"]] == [
            (p, n) for p, n, _ in revealed
        ]
        assert public["data"]["results_visible"] is (step == 4)
    assert revealed == [(4, "C", 6.8), (3, "B", 7.2), (2, "D", 7.4), (1, "A", 7.4)]
    assert_problem(await client.post(url, headers=host["headers"]), 409, "reveal-complete")
    assert (await client.get(f"/api/events/{eid}/results")).status_code == 200

    live_host, live = await new_event(client, 2)  # results live: nothing to reveal
    r = await client.post(f"/api/events/{live['id']}/reveal/next", headers=live_host["headers"])
    assert_problem(r, 409, "results-visible")


async def test_duplicate_keeps_teams_criteria_and_jury_with_new_tokens(
    client: httpx.AsyncClient,
) -> None:
    host, ev = await competition(client)
    r = await client.post(f"/api/events/{ev['id']}/duplicate", headers=host["headers"])
    assert r.status_code == 201, r.text
    copy, jurors = r.json()["event"], r.json()["jurors"]
    assert copy["id"] != ev["id"] and copy["code"] != ev["code"]
    assert [t["name"] for t in copy["teams"]] == ["A", "B", "C", "D"]
    assert copy["criteria"] == [
        {"name": "Pitch", "weight": 2.0},
        {"name": "Product", "weight": 1.0},
    ]
    assert copy["jury_weight"] == 0.4 and copy["max_score"] == 10
    assert copy["jury_locked"] is False and copy["status"] == "draft"
    assert [j["name"] for j in jurors] == ["Jo", "Kim"]
    results = (
        await client.get(f"/api/events/{copy['id']}/results", headers=host["headers"])
    ).json()
    assert all(r["votes"] == 0 and r["jury"]["jurors"] == 0 for r in results["results"])
    # the new tokens work for the copy only
    jo = {"headers": {"Authorization": f"Bearer {jurors[0]['token']}"}}
    team = copy["teams"][0]["id"]
    assert (await score(client, jo, copy["id"], team, Pitch=3, Product=3)).status_code == 200
    team_old = ev["teams"][0]["id"]
    assert_problem(await score(client, jo, ev["id"], team_old, Pitch=3, Product=3), 403)
    other = await register_user(client)
    assert_problem(
        await client.post(f"/api/events/{ev['id']}/duplicate", headers=other["headers"]), 403
    )


async def test_report_is_a_printable_page_for_the_host(client: httpx.AsyncClient) -> None:
    host, ev = await competition(client)
    url = f"/api/events/{ev['id']}/report"
    r = await client.get(url, headers=host["headers"])
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    for needle in ("Podium", "Standings", "Votes over time", "Jury by criterion", "Integrity"):
        assert needle in page, needle
    assert "<svg" in page and "polyline" in page and "@media print" in page
    assert re.search(r"Generated \d{2} \w+ \d{4}", page)
    assert "40%</span> jury" in page
    assert "Voided attendees" in page and "Nobody was voided." in page
    assert re.search(r"<dt>Votes stored</dt><dd>7</dd>", page)  # the hand-worked example
    assert_problem(await client.get(url), 401)
    other = await register_user(client)
    assert_problem(await client.get(url, headers=other["headers"]), 403)


async def test_demo_event_has_criteria_and_a_jury(
    client: httpx.AsyncClient, server_db: Any, server: RunningServer
) -> None:
    await seed_demo(server_db, replace(server.settings, demo=True))
    view = (await client.get(f"/api/events/by-code/{DEMO_CODE}")).json()
    assert [c["name"] for c in view["criteria"]] == ["Pitch", "Product", "Impact"]
    assert view["jury_weight"] == 0.4 and view["jurors"] == 2
    r = await client.post("/api/auth/login", json={"email": DEMO_EMAIL, "password": DEMO_PASSWORD})
    host = {"Authorization": f"Bearer {r.json()['access_token']}"}
    grid = (await client.get(f"/api/events/{view['id']}/jury", headers=host)).json()
    assert [(j["name"], len(j["scored"])) for j in grid["jurors"]] == [
        ("Grace Hopper", 2),
        ("Linus Pauling", 0),
    ]
    rows = (await client.get(f"/api/events/{view['id']}/results")).json()["results"]
    # Solar Sprout: Grace's (2×4 + 5 + 4) / 4 = 4.25, no votes yet: final 0.4 × 4.25 = 1.7
    assert (rows[0]["name"], rows[0]["jury"], rows[0]["final"]) == (
        "Solar Sprout",
        {"jurors": 1, "average": 4.25},
        1.7,
    )
