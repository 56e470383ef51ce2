"""One person, one vote: admission modes, tickets, returning credentials, the join rate
(DESIGN.md "One person, one vote (live events)"), over real servers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
from bson import ObjectId

from tests.support.events import new_event, open_voting_for
from tests.support.http import http_client
from tests.support.servers import RunningServer


def problem_type(r: httpx.Response) -> str:
    assert r.headers["content-type"].startswith("application/problem+json"), r.text
    return str(r.json()["type"]).rsplit("/", 1)[-1]


async def tickets_event(
    client: httpx.AsyncClient, count: int = 3, **body: Any
) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    host, ev = await new_event(client, teams=2, admission="tickets", **body)
    assert ev["admission"] == "tickets"
    r = await client.post(
        f"/api/events/{ev['id']}/tickets", json={"count": count}, headers=host["headers"]
    )
    assert r.status_code == 201, r.text
    tickets = r.json()["tickets"]
    assert len(tickets) == count
    return host, ev, [t["ticket"] for t in tickets]


async def claim(
    client: httpx.AsyncClient, code: str, ticket: str | None, name: str | None = None
) -> httpx.Response:
    body: dict[str, Any] = {"code": code}
    if ticket is not None:
        body["ticket"] = ticket
    if name:
        body["name"] = name
    return await client.post("/api/events/join", json=body)


async def attendees(client: httpx.AsyncClient, eid: str) -> int:
    return int((await client.get(f"/api/events/{eid}")).json()["attendees"])


async def test_tickets_are_random_unambiguous_and_stored_only_as_hashes(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    host, ev, tickets = await tickets_event(client, count=20)
    assert len(set(tickets)) == 20
    for t in tickets:
        raw = t.replace("-", "")
        assert len(raw) == 16 and not set(raw) & set("01OIL"), t  # 31^16 ≈ 2^79
    r = await client.post(
        f"/api/events/{ev['id']}/tickets", json={"count": 1}, headers=host["headers"]
    )
    item = r.json()["tickets"][0]
    assert item["join_url"].endswith(f"/e/{ev['code']}?ticket={item['ticket']}")
    docs = await server_db["event_tickets"].find({"event_id": ev["id"]}).to_list()
    assert len(docs) == 21
    stored = repr(docs)
    for t in [*tickets, item["ticket"]]:
        assert t not in stored and t.replace("-", "") not in stored
    r = await client.get(f"/api/events/{ev['id']}/tickets", headers=host["headers"])
    assert r.status_code == 200 and r.json()["issued"] == 21 and r.json()["claimed"] == 0


async def test_tickets_mode_join_rules(client: httpx.AsyncClient) -> None:
    host, ev, tickets = await tickets_event(client, count=3)
    code, eid = ev["code"], ev["id"]
    r = await claim(client, code, None)
    assert r.status_code == 403 and problem_type(r) == "ticket-required"
    for bad in ("ZZZZ-ZZZZ-ZZZZ-ZZZZ", "not-a-ticket", tickets[0][:-1]):
        r = await claim(client, code, bad)
        assert r.status_code == 403 and problem_type(r) == "ticket-invalid", bad
    _, _, other_tickets = await tickets_event(client, count=1)
    r = await claim(client, code, other_tickets[0])  # a ticket of another event
    assert r.status_code == 403 and problem_type(r) == "ticket-invalid"
    assert await attendees(client, eid) == 0

    first = await claim(client, code, tickets[0], name="Ada")
    assert first.status_code == 201, first.text
    client.cookies.clear()
    # A new phone: typed in lower case without dashes, still the same attendee.
    again = await claim(client, code, tickets[0].replace("-", "").lower())
    assert again.status_code == 200, again.text
    assert again.json()["attendee_id"] == first.json()["attendee_id"]
    assert await attendees(client, eid) == 1
    counts = (await client.get(f"/api/events/{eid}/tickets", headers=host["headers"])).json()
    assert counts == {"issued": 3, "claimed": 1, "admission": "tickets", "cap": counts["cap"]}

    r = await client.post(
        f"/api/events/{eid}/tickets/revoke", json={"tickets": [tickets[1]]}, headers=host["headers"]
    )
    assert r.status_code == 200 and r.json() == {"revoked": 1}
    r = await claim(client, code, tickets[1])
    assert r.status_code == 403 and problem_type(r) == "ticket-invalid"
    client.cookies.clear()


async def test_tickets_mode_a_second_vote_is_impossible(client: httpx.AsyncClient) -> None:
    """Stuffing in tickets mode: five phones (or private windows) with one ticket are one
    attendee, and that attendee votes once per team."""
    host, ev, tickets = await tickets_event(client, count=2)
    eid, t0 = ev["id"], ev["teams"][0]["id"]
    await open_voting_for(client, host, eid, t0)
    ids, codes = set(), []
    for _ in range(5):
        async with http_client(client.base_url) as window:  # a fresh private window
            r = await claim(window, ev["code"], tickets[0])
            assert r.status_code in (200, 201), r.text
            ids.add(r.json()["attendee_id"])
            v = await window.post(
                f"/api/events/{eid}/votes",
                json={"team_id": t0, "score": 5},
                headers={"Authorization": f"Bearer {r.json()['token']}"},
            )
            codes.append(v.status_code)
    assert len(ids) == 1
    assert codes == [201, 409, 409, 409, 409]
    results = (await client.get(f"/api/events/{eid}/results", headers=host["headers"])).json()
    row = next(x for x in results["results"] if x["team_id"] == t0)
    assert row["votes"] == 1 and row["score_sum"] == 5
    assert await attendees(client, eid) == 1


async def test_50_simultaneous_claims_of_one_ticket_make_one_attendee(
    server: RunningServer, server_db: Any
) -> None:
    async with http_client(server.url) as client:
        host, ev, tickets = await tickets_event(client, count=1)

        async def one() -> httpx.Response:
            async with http_client(server.url) as phone:
                return await claim(phone, ev["code"], tickets[0])

        responses = await asyncio.gather(*(one() for _ in range(50)))
        codes = sorted(r.status_code for r in responses)
        assert codes == [200] * 49 + [201], codes
        ids = {r.json()["attendee_id"] for r in responses}
        assert len(ids) == 1
        stored = await server_db["attendees"].find({"event_id": ev["id"]}).to_list()
        assert [str(a["_id"]) for a in stored] == list(ids)
        assert stored[0]["ticket"] is True and len(stored[0]["addr"]) == 16
        assert await attendees(client, ev["id"]) == 1
        counts = await client.get(f"/api/events/{ev['id']}/tickets", headers=host["headers"])
        assert counts.json()["claimed"] == 1


async def test_ticket_counts_and_bad_input_write_nothing(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    host, ev = await new_event(client, admission="tickets")
    eid = ev["id"]
    for count in (0, 5001, -1):
        r = await client.post(
            f"/api/events/{eid}/tickets", json={"count": count}, headers=host["headers"]
        )
        assert r.status_code == 422 and problem_type(r) == "validation-error", r.text
    r = await client.post(
        f"/api/events/{eid}/tickets", json={"count": "3"}, headers=host["headers"]
    )
    assert r.status_code == 400
    assert await server_db["event_tickets"].count_documents({"event_id": eid}) == 0
    doc = await server_db["events"].find_one({"_id": ObjectId(eid)})
    assert int(doc.get("tickets_issued", 0)) == 0
    stranger = await new_event(client)
    r = await client.post(
        f"/api/events/{eid}/tickets", json={"count": 1}, headers=stranger[0]["headers"]
    )
    assert r.status_code == 403
    r = await client.get(f"/api/events/{eid}/tickets")
    assert r.status_code == 401
    r = await client.post(
        f"/api/events/{eid}/tickets", json={"count": 5000}, headers=host["headers"]
    )
    assert r.status_code == 201 and len(r.json()["tickets"]) == 5000
    r = await client.get(f"/api/events/{eid}/tickets", headers=host["headers"])
    assert r.json()["issued"] == 5000


async def test_admission_mode_changes_only_before_voting_first_opens(
    client: httpx.AsyncClient,
) -> None:
    host, ev = await new_event(client, teams=2)
    eid = ev["id"]
    assert ev["admission"] == "open"
    r = await client.put(
        f"/api/events/{eid}/admission", json={"admission": "tickets"}, headers=host["headers"]
    )
    assert r.status_code == 200 and r.json()["admission"] == "tickets", r.text
    r = await client.put(
        f"/api/events/{eid}/admission", json={"admission": "everyone"}, headers=host["headers"]
    )
    assert r.status_code == 400
    await open_voting_for(client, host, eid, ev["teams"][0]["id"])
    r = await client.put(f"/api/events/{eid}/voting", json={"open": False}, headers=host["headers"])
    r = await client.put(
        f"/api/events/{eid}/admission", json={"admission": "open"}, headers=host["headers"]
    )
    assert r.status_code == 409 and problem_type(r) == "admission-locked"
    assert (await client.get(f"/api/events/{eid}")).json()["admission"] == "tickets"


async def test_open_mode_returning_credential_is_the_same_attendee(
    client: httpx.AsyncClient,
) -> None:
    _, ev = await new_event(client)
    _, other = await new_event(client)
    async with http_client(client.base_url) as phone:
        first = await claim(phone, ev["code"], None, name="Bo")
        assert first.status_code == 201
        # The join cookie reaches the join endpoint: the same attendee, a fresh credential.
        again = await claim(phone, ev["code"], None)
        assert again.status_code == 200, again.text
        assert again.json()["attendee_id"] == first.json()["attendee_id"]
        assert again.json()["name"] == "Bo"
        # Joining another event neither replaces this event's cookie nor reuses it.
        elsewhere = await claim(phone, other["code"], None)
        assert elsewhere.status_code == 201
        assert elsewhere.json()["attendee_id"] != first.json()["attendee_id"]
        back = await claim(phone, ev["code"], None)
        assert back.status_code == 200 and back.json()["attendee_id"] == first.json()["attendee_id"]
        me = await phone.get(f"/api/events/{ev['id']}/me")  # the event's API cookie still works
        assert me.status_code == 200 and me.json()["attendee_id"] == first.json()["attendee_id"]
    async with http_client(client.base_url) as app:  # an API client: the Bearer token
        bearer = {"Authorization": f"Bearer {first.json()['token']}"}
        r = await app.post("/api/events/join", json={"code": ev["code"]}, headers=bearer)
        assert r.status_code == 200 and r.json()["attendee_id"] == first.json()["attendee_id"]
        # Another event's credential is no credential here: a new attendee.
        r = await app.post("/api/events/join", json={"code": other["code"]}, headers=bearer)
        assert r.status_code == 201
    assert (await client.get(f"/api/events/{ev['id']}")).json()["attendees"] == 1


async def test_open_mode_private_windows_are_limited_by_the_join_rate(
    make_server: Callable[..., RunningServer],
) -> None:
    """The user's report: five private windows on one laptop each joined and voted. Re-joins
    without a credential are new attendees, limited per address per event; with a credential
    they are the same attendee (not limited); the screen counts attendees."""
    server = make_server(limits={"joins_per_address_per_minute": 3})
    async with http_client(server.url) as client:
        host, ev = await new_event(client, teams=1)
        _, other = await new_event(client, host=host)
        eid, t0 = ev["id"], ev["teams"][0]["id"]
        await open_voting_for(client, host, eid, t0)
        async with http_client(server.url) as phone:
            mine = await claim(phone, ev["code"], None)
            assert mine.status_code == 201
            for _ in range(3):  # reloads with the cookie: never a new attendee, never limited
                r = await claim(phone, ev["code"], None)
                assert r.status_code == 200
        outcomes = []
        for _ in range(5):
            async with http_client(server.url) as window:
                r = await claim(window, ev["code"], None)
                outcomes.append(r.status_code)
                if r.status_code == 429:
                    assert problem_type(r) == "join-rate"
                    assert int(r.headers["retry-after"]) >= 1
                    continue
                bearer = {"Authorization": f"Bearer {r.json()['token']}"}
                v = await window.post(
                    f"/api/events/{eid}/votes", json={"team_id": t0, "score": 5}, headers=bearer
                )
                assert v.status_code == 201
        assert outcomes == [201, 201, 429, 429, 429]
        view = (await client.get(f"/api/events/{eid}")).json()
        assert view["attendees"] == 3  # attendees, not join requests
        # The limit is per event: the same address still joins another event.
        r = await claim(client, other["code"], None)
        assert r.status_code == 201
