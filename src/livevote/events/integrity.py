"""Integrity: what the host sees of ballot stuffing, and voiding an attendee.

The report (`GET /api/events/{id}/integrity`, host only) groups joins and votes by the keyed
hash of the client address stored on each attendee (admission.address_hash: per event, never
the address itself):
- `addresses`: joins, votes and share of all votes per address, largest share first;
- `bursts`: BURST_JOINS or more attendees joining from one address with at most BURST_GAP_S
  seconds between joins, BURST_JOINS of whom vote within BURST_VOTE_S seconds of the last
  join — five private windows on one laptop, each voting at once. A venue's NAT puts many
  phones on one address too, but they join at the door and vote later: no burst;
- `flagged`: the attendees of those bursts (and everyone voided), with their votes.
It is a reading aid; nothing is voided automatically.

Voiding (`POST /api/events/{id}/attendees/{attendee_id}/void {reason}`) is never silent:
1. the attendee is flagged on the event document (`voided.<id>`): their later votes are
   refused (403 attendee-voided) and every recount leaves their votes out;
2. the attendee document keeps `voided: {reason, at}` (the first reason stays);
3. an audit entry `void:<event>:<attendee>` (the export, the ledger and the integrity report
   show it; the ledger without the attendee);
4. a recount (recount.py) takes their votes out of the results, and a follow-up recount a
   few seconds later (fairness.FOLLOW_UP_SECONDS) takes out a vote that passed the vote
   path's cached pre-check just before the flag and was counted after the first recount.
Each step is idempotent, so voiding twice is voiding once, and a void that died half-way is
finished by the next call. After the event ended → 409 event-ended (results are final).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from livevote.errors import Conflict, NotFound
from livevote.events.admission import mode_of
from livevote.events.fairness_repository import FairnessRepository
from livevote.infra import metrics
from livevote.infra.mongo import Doc
from livevote.infra.recount import RecountReport

BURST_JOINS = 4
BURST_GAP_S = 10.0
BURST_VOTE_S = 30.0
TOP_ADDRESSES = 20
SUMMARY_ADDRESSES = 5  # the printed report's top shares


def _seconds(at: Any) -> float:
    return at.timestamp() if isinstance(at, datetime) else 0.0


def _iso(at: Any) -> str:
    return at.replace(microsecond=0).isoformat() if isinstance(at, datetime) else ""


def voided_ids(event: Doc) -> set[str]:
    return {k for k, v in (event.get("voided") or {}).items() if v}


def report(event: Doc, attendees: list[Doc], votes: list[Doc], audit: list[Doc]) -> Doc:
    """The integrity report (pure: documents in, a JSON-ready dict out)."""
    addr_of = {str(a["_id"]): str(a.get("addr") or "unknown") for a in attendees}
    joins = Counter(addr_of.values())
    votes_by_attendee: dict[str, list[float]] = defaultdict(list)
    votes_by_addr: Counter[str] = Counter()
    for v in votes:
        aid = str(v.get("attendee_id"))
        votes_by_attendee[aid].append(_seconds(v.get("at")))
        votes_by_addr[addr_of.get(aid, "unknown")] += 1
    total = sum(votes_by_addr.values())
    rows: list[dict[str, Any]] = [
        {
            "address": addr,
            "joins": joins.get(addr, 0),
            "votes": votes_by_addr.get(addr, 0),
            "share": round(votes_by_addr.get(addr, 0) / total, 4) if total else 0.0,
        }
        for addr in set(joins) | set(votes_by_addr)
    ]
    rows.sort(key=lambda r: (-r["votes"], -r["joins"], r["address"]))
    bursts, in_burst = _bursts(attendees, addr_of, votes_by_attendee)
    voided = voided_ids(event)
    reasons = {str(e.get("attendee_id")): str(e.get("reason") or "") for e in audit}
    flagged = []
    for a in attendees:
        aid = str(a["_id"])
        why = (["burst"] if aid in in_burst else []) + (["voided"] if aid in voided else [])
        if why:
            flagged.append(
                {
                    "attendee_id": aid,
                    "name": a.get("name"),
                    "address": addr_of[aid],
                    "joined_at": _iso(a.get("joined_at")),
                    "votes": len(votes_by_attendee.get(aid, [])),
                    "reasons": why,
                    "voided": aid in voided,
                    "void_reason": reasons.get(aid),
                }
            )
    flagged.sort(key=lambda f: (f["voided"], f["address"], f["joined_at"]))
    return {
        "event_id": str(event["_id"]),
        "admission": mode_of(event),
        "attendees": len(attendees),
        "votes": total,
        "addresses": rows[:TOP_ADDRESSES],
        "address_count": len(rows),
        "largest_share": rows[0]["share"] if rows else 0.0,
        "bursts": bursts,
        "flagged": flagged,
        "voids": [
            {
                "attendee_id": str(e.get("attendee_id")),
                "reason": e.get("reason"),
                "at": _iso(e.get("at")),
                "votes": int(e.get("votes") or 0),
            }
            for e in audit
            if e.get("action") == "void"
        ],
        "rules": {
            "burst_joins": BURST_JOINS,
            "burst_gap_seconds": BURST_GAP_S,
            "burst_vote_seconds": BURST_VOTE_S,
        },
    }


def summary(event: Doc, full: Doc, book: Doc, voter: Callable[[str], str]) -> Doc:
    """The printed report's integrity section (report.html) from the integrity report
    (`full`, above) and the ledger (`book`, ledger.build): counts, the top address shares,
    bursts and the voids. Nothing identifying: addresses as their keyed hashes, attendees
    as `voter(attendee_id)` (the export's anonymised voter id), no names."""
    voids = [
        {
            "voter": voter(str(v["attendee_id"])),
            "reason": str(v["reason"] or ""),
            "at": v["at"],
            "votes": int(v["votes"]),
        }
        for v in full["voids"]
    ]
    return {
        "attendees": int(event.get("attendees") or 0),
        "joins": int(full["attendees"]),
        "votes": int(full["votes"]),
        "address_count": int(full["address_count"]),
        "addresses": full["addresses"][:SUMMARY_ADDRESSES],
        "largest_share": full["largest_share"],
        "bursts": full["bursts"],
        "flagged": len(full["flagged"]),
        "flagged_open": sum(1 for f in full["flagged"] if not f["voided"]),
        "voids": voids,
        "votes_removed": sum(int(v["votes"]) for v in voids),
        "ledger": {
            "count": int(book["count"]),
            "counted": int(book["counted"]),
            "short_digest": str(book["short_digest"]),
            "digest": str(book["digest"]),
        },
        "rules": full["rules"],
    }


def _bursts(
    attendees: list[Doc], addr_of: dict[str, str], votes: dict[str, list[float]]
) -> tuple[list[Doc], set[str]]:
    by_addr: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for a in attendees:
        aid = str(a["_id"])
        by_addr[addr_of[aid]].append((_seconds(a.get("joined_at")), aid))
    bursts: list[Doc] = []
    members: set[str] = set()
    for addr, joined in by_addr.items():
        joined.sort()
        runs: list[list[tuple[float, str]]] = []
        for item in joined:
            if runs and item[0] - runs[-1][-1][0] <= BURST_GAP_S:
                runs[-1].append(item)
            else:
                runs.append([item])
        for run in runs:
            if len(run) < BURST_JOINS:
                continue
            last = run[-1][0]
            quick = [aid for _, aid in run if any(t <= last + BURST_VOTE_S for t in votes[aid])]
            if len(quick) < BURST_JOINS:
                continue
            members.update(quick)
            bursts.append(
                {
                    "address": addr,
                    "joins": len(run),
                    "voters": len(quick),
                    "votes": sum(len(votes[aid]) for aid in quick),
                    "seconds": round(last - run[0][0], 1),
                }
            )
    bursts.sort(key=lambda b: -int(b["votes"]))
    return bursts, members


async def void_attendee(
    fair: FairnessRepository,
    event: Doc,
    attendee_id: str,
    *,
    reason: str,
    by: str,
    now: datetime,
    recount: Callable[[], Awaitable[RecountReport]],
) -> Doc:
    """Void an attendee (module docstring: the four idempotent steps)."""
    event_id = str(event["_id"])
    if event.get("status") == "ended":
        raise Conflict("the event has ended: its results are final", type="event-ended")
    attendee = await fair.attendee(event_id, attendee_id)
    if attendee is None:
        raise NotFound(f"attendee {attendee_id!r} is not part of this event")
    if not await fair.flag_voided(event_id, attendee_id, now):
        raise Conflict("the event has ended: its results are final", type="event-ended")
    first = await fair.mark_attendee_voided(event_id, attendee_id, reason, now)
    their_votes = await fair.votes_of(event_id, attendee_id)
    entry = {
        "_id": f"void:{event_id}:{attendee_id}",
        "event_id": event_id,
        "action": "void",
        "attendee_id": attendee_id,
        "reason": reason,
        "by": by,
        "at": now,
        "votes": their_votes,
    }
    await fair.add_audit(entry)
    result = await recount()
    if first:
        metrics.business("attendee_void")
    stored = await fair.attendee(event_id, attendee_id)
    record = (stored or {}).get("voided") or {"reason": reason, "at": now}
    return {
        "attendee_id": attendee_id,
        "voided": True,
        "reason": record.get("reason"),
        "at": _iso(record.get("at")),
        "votes_removed": their_votes,
        "already_voided": not first,
        "results_consistent": result.consistent or result.fixed,
    }
