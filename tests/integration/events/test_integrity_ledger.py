"""One person, one vote: the integrity report, voiding an attendee, receipts and the public
ledger with `livevote verify ledger` (DESIGN.md "One person, one vote"), over real servers."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from livevote.events import ledger
from livevote.events.fairness import FOLLOW_UP_SECONDS
from tests.support.events import join, new_event, open_voting_for


def problem_type(r: httpx.Response) -> str:
    assert r.headers["content-type"].startswith("application/problem+json"), r.text
    return str(r.json()["type"]).rsplit("/", 1)[-1]


async def vote(
    client: httpx.AsyncClient, eid: str, voter: dict[str, Any], team: str, score: int
) -> httpx.Response:
    return await client.post(
        f"/api/events/{eid}/votes", json={"team_id": team, "score": score}, headers=voter["headers"]
    )


async def results(client: httpx.AsyncClient, host: dict[str, Any], eid: str) -> dict[str, Any]:
    r = await client.get(f"/api/events/{eid}/results", headers=host["headers"])
    return {x["team_id"]: (x["votes"], x["score_sum"]) for x in r.json()["results"]}


def verify_cli(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "livevote", "verify", "ledger", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_integrity_report_shows_a_burst_from_one_address(client: httpx.AsyncClient) -> None:
    host, ev = await new_event(client, teams=2)
    eid, t0 = ev["id"], ev["teams"][0]["id"]
    await open_voting_for(client, host, eid, t0)
    windows = [await join(client, ev["code"]) for _ in range(6)]  # one laptop, six windows
    for w in windows:
        assert (await vote(client, eid, w, t0, 5)).status_code == 201
    r = await client.get(f"/api/events/{eid}/integrity", headers=host["headers"])
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["attendees"] == 6 and report["votes"] == 6
    top = report["addresses"][0]
    assert top["joins"] == 6 and top["votes"] == 6 and top["share"] == 1.0
    assert report["largest_share"] == 1.0
    assert "127.0.0.1" not in r.text  # addresses only as keyed hashes
    assert len(top["address"]) == 16
    assert report["bursts"] and report["bursts"][0]["joins"] == 6
    flagged = {f["attendee_id"] for f in report["flagged"]}
    assert flagged == {w["attendee_id"] for w in windows}
    # Host only.
    assert (await client.get(f"/api/events/{eid}/integrity")).status_code == 401
    stranger, _ = await new_event(client)
    r = await client.get(f"/api/events/{eid}/integrity", headers=stranger["headers"])
    assert r.status_code == 403


async def test_void_removes_votes_through_a_recount_idempotent_audited(
    client: httpx.AsyncClient, server_db: Any
) -> None:
    host, ev = await new_event(client, teams=2, results="hidden")
    eid, t0, t1 = ev["id"], ev["teams"][0]["id"], ev["teams"][1]["id"]
    honest, stuffer = await join(client, ev["code"]), await join(client, ev["code"])
    await open_voting_for(client, host, eid, t0)
    assert (await vote(client, eid, honest, t0, 2)).status_code == 201
    assert (await vote(client, eid, stuffer, t0, 5)).status_code == 201
    await open_voting_for(client, host, eid, t1)
    assert (await vote(client, eid, stuffer, t1, 5)).status_code == 201
    assert await results(client, host, eid) == {t0: (2, 7), t1: (1, 5)}

    url = f"/api/events/{eid}/attendees/{stuffer['attendee_id']}/void"
    r = await client.post(url, json={"reason": "six windows, one laptop"}, headers=host["headers"])
    assert r.status_code == 200, r.text
    assert r.json()["voided"] is True and r.json()["votes_removed"] == 2
    assert r.json()["already_voided"] is False
    assert await results(client, host, eid) == {t0: (1, 2), t1: (0, 0)}
    again = await client.post(url, json={"reason": "again"}, headers=host["headers"])
    assert again.status_code == 200 and again.json()["already_voided"] is True
    assert again.json()["reason"] == "six windows, one laptop"  # the first reason stays
    assert await results(client, host, eid) == {t0: (1, 2), t1: (0, 0)}
    assert await server_db["event_audit"].count_documents({"event_id": eid}) == 1
    r = await client.post(f"/api/events/{eid}/recount", headers=host["headers"])
    assert r.json()["consistent"] is True, r.text

    # A voided attendee votes no more (after the vote path's short event cache).
    await asyncio.sleep(2.2)
    r = await vote(client, eid, stuffer, t1, 3)
    assert r.status_code == 403 and problem_type(r) == "attendee-voided"
    assert await results(client, host, eid) == {t0: (1, 2), t1: (0, 0)}

    # Shown in the export (JSON and CSV) and in the integrity report.
    body = (await client.get(f"/api/events/{eid}/export", headers=host["headers"])).json()
    assert [v["reason"] for v in body["voids"]] == ["six windows, one laptop"]
    assert sorted(v["voided"] for v in body["votes"]) == [False, True, True]
    assert stuffer["attendee_id"] not in json.dumps(body)
    text = (await client.get(f"/api/events/{eid}/export?format=csv", headers=host["headers"])).text
    sections = text.split("\n\n")
    assert len(sections) == 3 and "six windows, one laptop" in sections[2]
    log = list(csv.DictReader(io.StringIO(sections[1])))
    assert sorted(x["voided"] for x in log) == ["", "yes", "yes"]
    report = (await client.get(f"/api/events/{eid}/integrity", headers=host["headers"])).json()
    assert [v["attendee_id"] for v in report["voids"]] == [stuffer["attendee_id"]]

    # Bad input: an unknown attendee, nothing written.
    known = honest["attendee_id"]
    other_last = "1" if known.endswith("0") else "0"  # never the honest attendee's own id
    for unknown in ("0" * 24, "nope", known[:-1] + other_last):
        r = await client.post(
            f"/api/events/{eid}/attendees/{unknown}/void", json={"reason": "x"},
            headers=host["headers"],
        )  # fmt: skip
        assert r.status_code == 404 and problem_type(r) == "not-found", r.text
    r = await client.post(url, json={}, headers=host["headers"])
    assert r.status_code == 400
    assert await server_db["event_audit"].count_documents({"event_id": eid}) == 1

    # After the event ended: refused.
    assert (await client.post(f"/api/events/{eid}/end", headers=host["headers"])).status_code == 200
    r = await client.post(
        f"/api/events/{eid}/attendees/{honest['attendee_id']}/void",
        json={"reason": "late"},
        headers=host["headers"],
    )
    assert r.status_code == 409 and problem_type(r) == "event-ended"
    assert await results(client, host, eid) == {t0: (1, 2), t1: (0, 0)}


async def test_a_vote_racing_the_void_leaves_the_results_too(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    """A vote that passed the vote path's pre-check (its short event cache) just before the
    void may still be counted after the void's recount: the follow-up recount takes it out,
    and the ledger then proves the results."""
    host, ev = await new_event(client, teams=1)
    eid, t0 = ev["id"], ev["teams"][0]["id"]
    honest, stuffer = await join(client, ev["code"]), await join(client, ev["code"])
    await open_voting_for(client, host, eid, t0)
    assert (await vote(client, eid, honest, t0, 1)).status_code == 201  # warms the cache
    url = f"/api/events/{eid}/attendees/{stuffer['attendee_id']}/void"
    r = await client.post(url, json={"reason": "race"}, headers=host["headers"])
    assert r.status_code == 200 and r.json()["votes_removed"] == 0
    late = await vote(client, eid, stuffer, t0, 5)
    assert late.status_code in (201, 403), late.text  # 201 only inside the cache window
    await asyncio.sleep(FOLLOW_UP_SECONDS + 1.5)
    assert await results(client, host, eid) == {t0: (1, 1)}
    r = await client.post(f"/api/events/{eid}/recount", headers=host["headers"])
    assert r.json()["consistent"] is True, r.text
    book = (await client.get(f"/api/events/{eid}/ledger", headers=host["headers"])).json()
    assert ledger.verify(book) == []
    assert book["counted"] == 1 and book["count"] == (2 if late.status_code == 201 else 1)


async def test_receipts_and_the_ledger(client: httpx.AsyncClient, tmp_path: Path) -> None:
    host, ev = await new_event(client, teams=2, results="hidden")
    eid, t0, t1 = ev["id"], ev["teams"][0]["id"], ev["teams"][1]["id"]
    voters = [await join(client, ev["code"]) for _ in range(4)]
    await open_voting_for(client, host, eid, t0)
    receipts = []
    for i, v in enumerate(voters):
        r = await vote(client, eid, v, t0, i + 1)
        assert r.status_code == 201
        receipts.append(r.json()["receipt"])
    await open_voting_for(client, host, eid, t1)
    r = await vote(client, eid, voters[0], t1, 4)
    receipts.append(r.json()["receipt"])
    assert len(set(receipts)) == 5 and all(len(x) == 20 for x in receipts)
    r = await client.post(
        f"/api/events/{eid}/attendees/{voters[3]['attendee_id']}/void",
        json={"reason": "test"},
        headers=host["headers"],
    )
    assert r.status_code == 200

    # Hidden results: the ledger is the host's only.
    assert (await client.get(f"/api/events/{eid}/ledger")).status_code == 403
    r = await client.get(f"/api/events/{eid}/ledger", headers=voters[0]["headers"])
    assert r.status_code == 403 and problem_type(r) == "results-hidden"
    assert (await client.get(f"/api/events/{eid}/ledger/digest")).status_code == 403
    r = await client.get(f"/api/events/{eid}/ledger", headers=host["headers"])
    assert r.status_code == 200, r.text
    await client.put(f"/api/events/{eid}/results", json={"visible": True}, headers=host["headers"])
    r = await client.get(f"/api/events/{eid}/ledger")
    assert r.status_code == 200
    book = r.json()
    entries = book["entries"]
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5]
    assert set(entries[0]) == {"seq", "team_id", "score", "receipt_hash", "voided"}
    assert [e["voided"] for e in entries] == [False, False, False, True, False]
    assert book["count"] == 5 and book["counted"] == 4
    assert book["voids"] == [{"reason": "test", "at": book["voids"][0]["at"], "votes": 1}]
    for v in voters:  # nothing links a vote to an attendee
        assert v["attendee_id"] not in r.text
    for rc in receipts:  # only hashes of the receipts
        assert rc not in r.text
        assert hashlib.sha256(rc.encode()).hexdigest() in {e["receipt_hash"] for e in entries}
    assert ledger.receipt_hash(receipts[0].lower()) == entries[0]["receipt_hash"]
    canonical = (
        "livevote-ledger-v1\n"
        + f"event {eid}\n"
        + "".join(
            f"{e['seq']}\t{e['team_id']}\t{e['score']}\t{e['receipt_hash']}\t{int(e['voided'])}\n"
            for e in entries
        )
    )
    assert book["digest"] == hashlib.sha256(canonical.encode()).hexdigest()
    short = (await client.get(f"/api/events/{eid}/ledger/digest")).json()
    assert short["short_digest"] == book["digest"][:12] and short["count"] == 5

    # `livevote verify ledger`: untouched → 0; one score changed → non-zero.
    good = tmp_path / "ledger.json"
    good.write_text(r.text)
    ok = verify_cli(good)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "ledger verified: 5 entries" in ok.stdout
    tampered = json.loads(r.text)
    tampered["entries"][1]["score"] = 5 if tampered["entries"][1]["score"] != 5 else 1
    bad = tmp_path / "tampered.json"
    bad.write_text(json.dumps(tampered))
    out = verify_cli(bad)
    assert out.returncode == 1, out.stdout
    assert "digest differs" in out.stdout and f"team {t0}" in out.stdout
    # A tally changed to match the tampered entries still breaks the digest.
    forged = json.loads(bad.read_text())
    for row in forged["tallies"]:
        mine = ledger.tallies(forged["entries"]).get(row["team_id"], {})
        row.update(mine)
    bad.write_text(json.dumps(forged))
    out = verify_cli(bad)
    assert out.returncode == 1 and "digest differs" in out.stdout
    assert "team" not in out.stdout.split("digest differs")[0]

    # Unknown event → 404.
    assert (await client.get(f"/api/events/{'0' * 24}/ledger")).status_code == 404
