"""The public ledger: every vote in counting order, anonymised, with a digest anyone can check.

`GET /api/events/{id}/ledger` (the host always; everyone once results are visible, else 403
results-hidden) answers

    {format, event_id, title, count, counted, digest, short_digest,
     tallies: [{team_id, name, votes, score_sum}],     # the published results
     voids: [{reason, at, votes}],                       # the host's voids, no attendee
     entries: [{seq, team_id, score, receipt_hash, voided}]}

Each accepted vote answered a `receipt` (RECEIPT_LENGTH characters, ~99 bits); only
sha-256(receipt) is stored (`receipt_hash` on the vote) and published, so the voter can find
their vote ("check my vote" on the phone page) and nobody else can link a vote to a person:
no attendee id, no ticket, no time in the entries (their order is the counting order).

Canonical form (the digest is SHA-256 over its UTF-8 bytes, hex):

    livevote-ledger-v1\n
    event <event id>\n
    <seq>\t<team_id>\t<score>\t<receipt_hash>\t<0|1 voided>\n      one line per entry

`livevote verify ledger FILE` (and `verify` below) recomputes the digest and every team's
tally (votes and score sums of the entries not voided) and reports each difference.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import secrets
import sys
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from livevote.events.views import ordered_teams
from livevote.infra.mongo import Doc

FORMAT = "livevote-ledger-v1"
RECEIPT_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
RECEIPT_LENGTH = 20
SHORT_DIGEST = 12
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def new_receipt() -> str:
    return "".join(secrets.choice(RECEIPT_ALPHABET) for _ in range(RECEIPT_LENGTH))


def receipt_hash(receipt: str) -> str:
    """sha-256 of the receipt as typed back (any case, dashes and spaces ignored)."""
    raw = "".join(ch for ch in receipt.upper() if ch not in "- ")
    return hashlib.sha256(raw.encode()).hexdigest()


def canonical(event_id: str, entries: list[Doc]) -> bytes:
    lines = [f"{FORMAT}\n", f"event {event_id}\n"]
    for e in entries:
        voided = 1 if e["voided"] else 0
        lines.append(f"{e['seq']}\t{e['team_id']}\t{e['score']}\t{e['receipt_hash']}\t{voided}\n")
    return "".join(lines).encode()


def digest(event_id: str, entries: list[Doc]) -> str:
    return hashlib.sha256(canonical(event_id, entries)).hexdigest()


def tallies(entries: list[Doc]) -> dict[str, dict[str, int]]:
    """Votes and score sums per team from the entries that are not voided."""
    out: dict[str, dict[str, int]] = {}
    for e in entries:
        if e["voided"]:
            continue
        t = out.setdefault(str(e["team_id"]), {"votes": 0, "score_sum": 0})
        t["votes"] += 1
        t["score_sum"] += int(e["score"])
    return out


def _minute(at: Any) -> str:
    return at.replace(second=0, microsecond=0).isoformat() if isinstance(at, datetime) else ""


def build(event: Doc, votes: list[Doc], audit: list[Doc]) -> Doc:
    """The ledger of an event from its stored votes (already in counting order)."""
    event_id = str(event["_id"])
    voided = {k for k, v in (event.get("voided") or {}).items() if v}
    entries = [
        {
            "seq": i,
            "team_id": str(v["team_id"]),
            "score": int(v["score"]),
            "receipt_hash": str(v.get("receipt_hash") or ""),
            "voided": str(v.get("attendee_id")) in voided,
        }
        for i, v in enumerate(votes, start=1)
    ]
    tally = event.get("tally") or {}
    published = [
        {
            "team_id": tid,
            "name": name,
            "votes": int((tally.get(tid) or {}).get("votes", 0)),
            "score_sum": int((tally.get(tid) or {}).get("score_sum", 0)),
        }
        for tid, name in ordered_teams(event)
    ]
    full = digest(event_id, entries)
    return {
        "format": FORMAT,
        "event_id": event_id,
        "title": event.get("title", ""),
        "count": len(entries),
        "counted": sum(1 for e in entries if not e["voided"]),
        "digest": full,
        "short_digest": full[:SHORT_DIGEST],
        "tallies": published,
        "voids": [
            {
                "reason": e.get("reason"),
                "at": _minute(e.get("at")),
                "votes": int(e.get("votes") or 0),
            }
            for e in audit
            if e.get("action") == "void"
        ],
        "entries": entries,
    }


def verify(ledger: Any) -> list[str]:
    """Every difference between a ledger's claims and what its entries prove ([] = valid)."""
    if not isinstance(ledger, dict) or not isinstance(ledger.get("entries"), list):
        return ["not a livevote ledger: no entries"]
    problems: list[str] = []
    if ledger.get("format") != FORMAT:
        problems.append(f"unknown format {ledger.get('format')!r} (expected {FORMAT})")
    entries: list[Doc] = []
    for i, e in enumerate(ledger["entries"], start=1):
        try:
            entry: dict[str, Any] = {
                "seq": int(e["seq"]),
                "team_id": str(e["team_id"]),
                "score": int(e["score"]),
                "receipt_hash": str(e["receipt_hash"]),
                "voided": bool(e["voided"]),
            }
        except (KeyError, TypeError, ValueError):
            problems.append(f"entry {i}: malformed {e!r}")
            continue
        if entry["seq"] != i:
            problems.append(f"entry {i}: seq {entry['seq']} out of order")
        if entry["receipt_hash"] and not _HEX64.match(entry["receipt_hash"]):
            problems.append(f"entry {i}: receipt_hash is not a sha-256 hex digest")
        entries.append(entry)
    recomputed = digest(str(ledger.get("event_id", "")), entries)
    if recomputed != ledger.get("digest"):
        problems.append(
            f"digest differs: ledger says {ledger.get('digest')}, entries give {recomputed}"
        )
    counted = tallies(entries)
    for row in ledger.get("tallies") or []:
        tid = str(row.get("team_id"))
        mine = counted.pop(tid, {"votes": 0, "score_sum": 0})
        claimed = {"votes": int(row.get("votes", 0)), "score_sum": int(row.get("score_sum", 0))}
        if mine != claimed:
            problems.append(f"team {tid}: published {claimed}, entries give {mine}")
    for tid, mine in counted.items():
        problems.append(f"team {tid}: not published, entries give {mine}")
    if "count" in ledger and int(ledger["count"]) != len(entries):
        problems.append(f"count {ledger['count']} but {len(entries)} entries")
    return problems


class LedgerCache:
    """Built ledgers per process, keyed by what changes them (counted votes, voids): a screen
    asking every few seconds costs one build per change, and concurrent askers share it."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._built: OrderedDict[str, tuple[tuple[Any, ...], Doc]] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, event: Doc, build_ledger: Callable[[], Awaitable[Doc]]) -> Doc:
        event_id = str(event["_id"])
        key = (
            event.get("vote_seq"),
            event.get("batch_seq"),
            repr(sorted((event.get("tally") or {}).items())),
            tuple(sorted(event.get("voided") or {})),
        )
        hit = self._built.get(event_id)
        if hit is not None and hit[0] == key:
            return hit[1]
        lock = self._locks.setdefault(event_id, asyncio.Lock())
        async with lock:
            hit = self._built.get(event_id)
            if hit is not None and hit[0] == key:
                return hit[1]
            ledger = await build_ledger()
            self._built[event_id] = (key, ledger)
            self._built.move_to_end(event_id)
            while len(self._built) > self.size:
                old, _ = self._built.popitem(last=False)
                self._locks.pop(old, None)
        return ledger


def verify_file(path: str) -> int:
    """`livevote verify ledger FILE`: 0 when the ledger proves its tallies and digest, 1 with
    every difference printed otherwise (2: the file cannot be read as JSON)."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as exc:
        print(f"cannot read {path}: {exc}", file=sys.stderr)
        return 2
    problems = verify(data)
    for line in problems:
        print(f"DIFFERENCE: {line}")
    if problems:
        print(f"ledger {path}: {len(problems)} difference(s) — NOT verified")
        return 1
    tally = {str(row.get("team_id")) for row in data.get("tallies") or []}
    print(
        f"ledger verified: {len(data['entries'])} entries, {len(tally)} team tallies match, "
        f"digest {data['digest']}"
    )
    return 0


def add_verify_command(sub: Any) -> None:
    """Add `livevote verify ledger FILE` (`sub`: the livevote subparsers)."""
    verify_parser = sub.add_parser("verify", help="verify published results")
    what = verify_parser.add_subparsers(dest="what", required=True)
    p = what.add_parser("ledger", help="recompute a downloaded ledger's tallies and digest")
    p.add_argument("file", help="the JSON of GET /api/events/{id}/ledger")
    p.set_defaults(func=lambda a: verify_file(a.file))
