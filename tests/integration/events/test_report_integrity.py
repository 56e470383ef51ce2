"""The host's printed report summarises integrity (counts, hashed shares, bursts, voids, the
ledger digest) with nothing identifying; the host's recount answers the jury's differences
too; credentials minted in the same second differ (DESIGN.md "One person, one vote", "The
pitch competition, complete"), over real servers."""

from __future__ import annotations

import html
import itertools
import re
from typing import Any

import httpx
import jwt

from livevote.events.recount import recount
from tests.support.events import join, new_event, open_voting_for
from tests.support.jury import add_juror, score

REASON = "six windows <b>one</b> laptop & more"


async def test_report_integrity_section_summarises_without_identifying(
    client: httpx.AsyncClient,
) -> None:
    host, ev = await new_event(client, teams=2)
    eid, t0 = ev["id"], ev["teams"][0]["id"]
    await open_voting_for(client, host, eid, t0)
    windows = [await join(client, ev["code"], name=f"Mallory{i}") for i in range(5)]
    for w in windows:
        r = await client.post(
            f"/api/events/{eid}/votes", json={"team_id": t0, "score": 5}, headers=w["headers"]
        )
        assert r.status_code == 201, r.text
    stuffer = windows[0]["attendee_id"]
    r = await client.post(
        f"/api/events/{eid}/attendees/{stuffer}/void",
        json={"reason": REASON},
        headers=host["headers"],
    )
    assert r.status_code == 200 and r.json()["votes_removed"] == 1, r.text

    integrity = (await client.get(f"/api/events/{eid}/integrity", headers=host["headers"])).json()
    book = (await client.get(f"/api/events/{eid}/ledger", headers=host["headers"])).json()
    export = (await client.get(f"/api/events/{eid}/export", headers=host["headers"])).json()
    [void] = export["voids"]  # the export shows the void (who as the vote log's voter id)
    assert void["reason"] == REASON and void["votes"] == 1

    r = await client.get(f"/api/events/{eid}/report", headers=host["headers"])
    assert r.status_code == 200, r.text
    page = r.text
    section = page[
        page.index('<section class="integrity"') : page.index(
            "</section>", page.index('<section class="integrity"')
        )
    ]
    facts = dict(re.findall(r"<dt>([^<]+)</dt><dd>(\d+)</dd>", section))
    assert facts == {
        "Attendees": "5",
        "Joins": "5",
        "Votes stored": "5",
        "Addresses": "1",
        "Bursts": "1",
        "Flagged": "5",
        "Voided": "1",
    }
    address = integrity["addresses"][0]["address"]
    assert f"<code>{address}</code>" in section and "100%" in section
    assert "5 joins in" in section and "5 voted at once" in section
    # the void: anonymised voter (the export's id), the reason escaped, votes removed
    assert f"<code>{void['voter']}</code>" in section
    assert html.escape(REASON, quote=False) in section and REASON not in section
    assert "1 vote left the results" in section
    # the ledger: its count and digest
    assert book["count"] == 5 and book["counted"] == 4
    assert book["short_digest"] in section and book["digest"] in section
    # nothing identifying anywhere on the page
    assert "127.0.0.1" not in page
    for w in windows:
        assert w["attendee_id"] not in page and w["name"] not in page


async def test_report_integrity_of_a_quiet_event(client: httpx.AsyncClient) -> None:
    host, ev = await new_event(client, teams=1)
    r = await client.get(f"/api/events/{ev['id']}/report", headers=host["headers"])
    assert r.status_code == 200, r.text
    assert "Nobody joined." in r.text and "Nobody was voided." in r.text
    assert "No bursts (4 or more joins" in r.text


async def test_host_recount_lists_and_fixes_jury_differences_like_the_cli(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    criteria = [{"name": "Pitch", "weight": 2}, {"name": "Product", "weight": 1}]
    host, ev = await new_event(client, teams=2, criteria=criteria, max_score=10, jury_weight=0.5)
    eid = ev["id"]
    a, b = ev["teams"][0]["id"], ev["teams"][1]["id"]
    jo = await add_juror(client, host, eid, "Jo")
    for team, (pitch, product) in ((a, (8, 5)), (b, (6, 9))):
        assert (await score(client, jo, eid, team, Pitch=pitch, Product=product)).status_code == 200
    r = await client.post(f"/api/events/{eid}/recount", headers=host["headers"])
    assert r.json() == {
        "event_id": eid,
        "consistent": True,
        "fixed": False,
        "differences": [],
        "jury_differences": [],
    }
    before = (await client.get(f"/api/events/{eid}/results", headers=host["headers"])).json()

    # A crash between a sheet and its tally, written straight to the database: team A's
    # Pitch sum is off by 7, team B counts a sheet that does not exist.
    await server_db.events.update_one(
        {"code": ev["code"]},
        {"$inc": {f"jury_tally.{a}.sums.Pitch": 7, f"jury_tally.{b}.sheets": 1}},
    )
    [cli] = await recount(server_db, scope_id=eid, fix=False)  # `livevote recount events`
    assert [d.what for d in cli.differences] == sorted([f"jury {a}", f"jury {b}"])
    r = await client.post(f"/api/events/{eid}/recount", headers=host["headers"])
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["consistent"] is False and out["fixed"] is True and out["differences"] == []
    expected: dict[str, dict[str, Any]] = {
        a: {
            "stored_sheets": 1,
            "counted_sheets": 1,
            "stored_sums": {"Pitch": 15, "Product": 5},
            "counted_sums": {"Pitch": 8, "Product": 5},
        },
        b: {
            "stored_sheets": 2,
            "counted_sheets": 1,
            "stored_sums": {"Pitch": 6, "Product": 9},
            "counted_sums": {"Pitch": 6, "Product": 9},
        },
    }
    assert {d.pop("team_id"): d for d in out["jury_differences"]} == expected
    # the same numbers as the CLI's report (`jury <team>: stored {...}, counted {...}`)
    for d in cli.differences:
        row = expected[d.what.removeprefix("jury ")]
        assert d.stored == {"sheets": row["stored_sheets"], **row["stored_sums"]}
        assert d.counted == {"sheets": row["counted_sheets"], **row["counted_sums"]}
    # fixed: the results are back, a second recount is clean
    after = (await client.get(f"/api/events/{eid}/results", headers=host["headers"])).json()
    assert after == before
    r = await client.post(f"/api/events/{eid}/recount", headers=host["headers"])
    assert r.json()["consistent"] is True and r.json()["jury_differences"] == []
    [cli] = await recount(server_db, scope_id=eid, fix=False)
    assert cli.consistent


async def test_a_ticket_claimed_twice_in_a_second_gets_two_different_credentials(
    client: httpx.AsyncClient,
) -> None:
    host, ev = await new_event(client, teams=1, admission="tickets")
    r = await client.post(
        f"/api/events/{ev['id']}/tickets", json={"count": 1}, headers=host["headers"]
    )
    ticket = r.json()["tickets"][0]["ticket"]
    answers = []
    for _ in range(3):  # phones of one voter, claiming within a second or two
        r = await client.post("/api/events/join", json={"code": ev["code"], "ticket": ticket})
        client.cookies.clear()
        assert r.status_code in (200, 201), r.text
        answers.append(r.json())
    assert len({a["attendee_id"] for a in answers}) == 1
    assert len({a["token"] for a in answers}) == 3
    minted = [jwt.decode(a["token"], options={"verify_signature": False}) for a in answers]
    assert any(x["iat"] == y["iat"] for x, y in itertools.pairwise(minted))
    assert len({m["jti"] for m in minted}) == 3
    for a in answers:  # each verifies, as the same attendee
        me = await client.get(
            f"/api/events/{ev['id']}/me", headers={"Authorization": f"Bearer {a['token']}"}
        )
        assert me.status_code == 200 and me.json()["attendee_id"] == a["attendee_id"]
