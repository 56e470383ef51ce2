"""The pure parts of one person, one vote: tickets, the ledger's canonical form and verify,
the integrity report's bursts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bson import ObjectId

from livevote.events import admission, integrity, ledger


def test_tickets_normalise_and_hash_per_event() -> None:
    t = admission.new_ticket()
    raw = admission.normalise_ticket(t)
    assert raw is not None and len(raw) == 16
    assert admission.normalise_ticket(t.lower().replace("-", " ")) == raw
    assert admission.normalise_ticket("O0I1-LLLL-AAAA-BBBB") is None  # ambiguous characters
    assert admission.ticket_hash("e1", raw) != admission.ticket_hash("e2", raw)


def _event(voided: dict[str, bool] | None = None) -> dict[str, object]:
    return {
        "_id": ObjectId(),
        "title": "t",
        "teams": {"a": {"name": "A", "order": 0}, "b": {"name": "B", "order": 1}},
        "tally": {"a": {"votes": 1, "score_sum": 4}, "b": {"votes": 1, "score_sum": 2}},
        "voided": voided or {},
    }


def _votes() -> list[dict[str, object]]:
    return [
        {"team_id": "a", "score": 4, "receipt_hash": "0" * 64, "attendee_id": "x"},
        {"team_id": "b", "score": 2, "receipt_hash": "1" * 64, "attendee_id": "x"},
        {"team_id": "a", "score": 5, "receipt_hash": "2" * 64, "attendee_id": "gone"},
    ]


def test_ledger_verifies_and_catches_every_kind_of_tampering() -> None:
    book = ledger.build(_event({"gone": True}), _votes(), [])
    assert ledger.verify(book) == []
    assert [e["voided"] for e in book["entries"]] == [False, False, True]
    changed = {**book, "entries": [dict(e) for e in book["entries"]]}
    changed["entries"][0]["score"] = 5
    problems = ledger.verify(changed)
    assert any("digest differs" in p for p in problems)
    assert any(p.startswith("team a:") for p in problems)
    unvoided = {**book, "entries": [dict(e) for e in book["entries"]]}
    unvoided["entries"][2]["voided"] = False
    assert any(p.startswith("team a:") for p in ledger.verify(unvoided))
    reordered = {**book, "entries": list(reversed(book["entries"]))}
    assert any("out of order" in p for p in ledger.verify(reordered))
    assert ledger.verify({"nope": 1}) == ["not a livevote ledger: no entries"]


def test_a_burst_is_many_joins_then_votes_from_one_address() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    event = _event()
    windows = [
        {"_id": ObjectId(), "addr": "laptop", "joined_at": t0 + timedelta(seconds=i)}
        for i in range(5)
    ]
    venue = [  # a venue's NAT: joins at the door, votes much later
        {"_id": ObjectId(), "addr": "venue", "joined_at": t0 + timedelta(seconds=i)}
        for i in range(8)
    ]
    votes = [
        {"attendee_id": str(a["_id"]), "team_id": "a", "at": t0 + timedelta(seconds=10)}
        for a in windows
    ] + [
        {"attendee_id": str(a["_id"]), "team_id": "a", "at": t0 + timedelta(minutes=20)}
        for a in venue
    ]
    report = integrity.report(event, windows + venue, votes, [])
    assert [b["address"] for b in report["bursts"]] == ["laptop"]
    assert {f["attendee_id"] for f in report["flagged"]} == {str(a["_id"]) for a in windows}
    assert report["addresses"][0] == {"address": "venue", "joins": 8, "votes": 8, "share": 0.6154}
