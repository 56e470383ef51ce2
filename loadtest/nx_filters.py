"""NX-27017 filters: the hot-path queries of each domain, bare equality vs `$eq`, at N documents.

    python loadtest/nx_filters.py                 # embedded NX-27017, N=20,000, 300 lookups
    python loadtest/nx_filters.py -N 20000 -n 1000 --only events.stored_vote

Not part of the test suite. For each case it fills the case's collection (with its indexes from
indexes/) with N documents shaped like the repository's, then runs the repository's query
`n` times with the filter as the repository wrote it (bare `{field: value}`) and rewritten by
`infra.mongo.eq()` (`{field: {"$eq": value}}`), and prints per lookup: wall time and the
NX-27017 process's CPU (from /proc). Both forms must return the same documents (checked).
NX-27017 compiles a bare equality as "equal, or an array holding it", a full scan; the `$eq`
form is answered from the index (docs/GROUP_COMMIT.md, "NX-27017 and equality filters").
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

from livevote.infra.embedded import EmbeddedStack
from livevote.infra.mongo import Doc, apply_indexes, eq, load_specs, make_client
from loadtest.lib.procs import proc_cpu_seconds

Coll = AsyncCollection[Doc]
NOW = datetime(2026, 1, 1, tzinfo=UTC)


async def _find_one(c: Coll, f: Doc) -> Any:
    doc = await c.find_one(f)
    return None if doc is None else doc["_id"]


async def _find_all(c: Coll, f: Doc) -> Any:
    return sorted(str(d["_id"]) for d in await c.find(f, {"_id": 1}).to_list())


async def _count(c: Coll, f: Doc) -> Any:
    return await c.count_documents(f)


async def _count_ids(c: Coll, f: Doc) -> Any:
    """count_documents replaced by an indexed read of the ids (as tallies count pending)."""
    return len(await c.find(f, {"_id": 1}).to_list())


async def _first_of(c: Coll, f: Doc) -> Any:
    """A top-level `$or` replaced by one indexed find_one per branch (accounts.taken)."""
    for branch in f["$or"]:
        doc = await c.find_one(branch)
        if doc is not None:
            return doc["_id"]
    return None


async def _read_then_touch(c: Coll, f: Doc) -> Any:
    """find_one_and_update replaced by an indexed read of the `_id` (the filter's equalities)
    then the check-and-set on that `_id` with the filter's other conditions (as tallies)."""
    conditions = {k: v for k, v in f.items() if isinstance(v, dict) and "$eq" not in v}
    slot = await c.find_one({k: v for k, v in f.items() if k not in conditions}, {"_id": 1})
    return None if slot is None else await _touch(c, {"_id": slot["_id"], **conditions})


async def _distinct(c: Coll, f: Doc, key: str) -> Any:
    return sorted(str(v) for v in await c.distinct(key, f))


async def _touch(c: Coll, f: Doc) -> Any:
    """find_one_and_update that writes nothing new (same value), so lookups are repeatable."""
    doc = await c.find_one_and_update(
        f, {"$set": {"touched": 1}}, projection={"_id": 1}, return_document=ReturnDocument.AFTER
    )
    return None if doc is None else doc["_id"]


def _eq_or(f: Doc) -> Doc:
    """eq() inside a top-level `$or` too (accounts.taken)."""
    out = eq(f)
    if "$or" in out:
        out["$or"] = [eq(branch) for branch in out["$or"]]
    return out


@dataclass(frozen=True)
class Case:
    name: str  # domain.method as in the repository
    collection: str
    make: Callable[[int], Doc]  # the i-th stored document
    query: Callable[[int], Doc]  # the repository's filter for lookup i (bare form)
    run: Callable[[Coll, Doc], Awaitable[Any]] = _find_one
    convert: Callable[[Doc], Doc] = eq
    run_eq: Callable[[Coll, Doc], Awaitable[Any]] | None = None  # the converted form's call


EVENTS, TEAMS = 20, 10


def _vote(i: int) -> Doc:
    return {
        "_id": ObjectId(),
        "event_id": f"ev{i % EVENTS:022d}",
        "team_id": f"tm{i % TEAMS:022d}",
        "attendee_id": f"at{i // TEAMS:022d}",
        "score": i % 5 + 1,
        "at": NOW,
        "batch": f"b{i // 50}",
    }


def _vote_key(i: int) -> Doc:
    v = _vote(i * 7919 % N_DOCS[0])
    return {k: v[k] for k in ("event_id", "team_id", "attendee_id")}


def _attendee(i: int) -> Doc:  # 200 events x 100 attendees
    return {
        "_id": ObjectId(),
        "event_id": f"ev{i % 200:022d}",
        "name": f"n{i}",
        "joined_at": NOW,
        "batch": f"j{i // 50}",
    }


def _ticket(i: int) -> Doc:
    return {
        "_id": f"h{i:062d}",
        "event_id": f"ev{i % EVENTS:022d}",
        "attendee_id": f"at{i:022d}" if i % 2 else "",
        "revoked": False,
        "issued_at": NOW,
    }


def _ebatch(i: int) -> Doc:
    return {
        "_id": f"eb{i}",
        "counter": ObjectId(),
        "event_id": f"ev{i % EVENTS:022d}",
        "kind": "votes",
        "state": "applied",
        "inc": {},
        "seq": i // EVENTS,
    }


def _response(i: int) -> Doc:  # poll_responses: 2,000 polls x 10 users each
    return {
        "poll_id": f"{i // 10:024x}",
        "user_id": f"us{i % 1000:022d}",
        "kind": "vote" if i % 3 else "skip",
        "option_index": i % 4,
        "batch": f"pb{i // 20}",
        "created_at": NOW,
    }


def _daily(i: int) -> Doc:
    return {
        "user_id": f"us{i % 2000:022d}",
        "day": f"2026-01-{i // 2000 + 1:02d}",
        "count": 1,
        "expires_at": datetime(2100, 1, 1, tzinfo=UTC),  # the TTL index must leave them
    }


def _aresp(i: int) -> Doc:  # activity_responses: 200 activities x 100 attendees
    return {
        "_id": ObjectId(),
        "activity_id": f"ac{i % 200:022d}",
        "attendee_id": f"at{i // 200:022d}",
        "kind": "open",
        "status": "shown" if i % 2 else "pending",
        "batch": f"ab{i // 25}",
        "at": NOW,
    }


def _question(i: int) -> Doc:
    return {
        "_id": ObjectId(),
        "event_id": f"ev{i % 200:022d}",
        "status": "shown",
        "votes": i % 17,
        "pinned": False,
        "created_at": NOW,
    }


def _sheet(i: int) -> Doc:  # jury_sheets: 200 events x 10 jurors x 10 teams
    return {
        "event_id": f"ev{i // 100:022d}",
        "juror_id": f"ju{i // 10 % 10:022d}",
        "team_id": f"tm{i % 10:022d}",
        "scores": {"c0": 3},
        "at": NOW,
    }


def _juror(i: int) -> Doc:
    return {"_id": ObjectId(), "event_id": f"ev{i // 5:022d}", "token_hash": f"{i:064x}"}


def _event(i: int) -> Doc:
    return {"_id": ObjectId(), "code": f"C{i:07d}", "host_id": f"us{i % 500:022d}", "title": "t"}


def _user(i: int) -> Doc:
    return {
        "username": f"User{i}",
        "username_lower": f"user{i}",
        "email": f"user{i}@example.org",
        "password_hash": "x" * 60,
        "created_at": NOW,
    }


N_DOCS = [20_000]  # set from the command line before the cases are used


def _pick(i: int) -> int:
    return i * 7919 % N_DOCS[0]


def _taken(i: int) -> Doc:
    """accounts.taken's pre-check as it was: an `$or` of the e-mail and the username."""
    user = _user(_pick(i))
    return {"$or": [{"email": user["email"]}, {"username_lower": user["username_lower"]}]}


def _attendee_votes(i: int) -> Doc:
    """One attendee's votes of one event (the filter of events/fairness `votes_of`)."""
    vote = _vote(_pick(i))
    return {"event_id": vote["event_id"], "attendee_id": vote["attendee_id"]}


CASES: list[Case] = [
    # events: the vote path, the ledger/integrity reads, tickets, batches
    Case("events.stored_vote", "event_votes", _vote, _vote_key),
    Case(
        "events.votes_of",
        "event_votes",
        _vote,
        _attendee_votes,
        _find_all,
    ),
    Case(
        "fairness.votes_of (count)",
        "event_votes",
        _vote,
        _attendee_votes,
        _count,
    ),
    Case(
        "fairness.votes_of: count -> len(ids)",
        "event_votes",
        _vote,
        _attendee_votes,
        _count,
        run_eq=_count_ids,
    ),
    Case(
        "fairness.ledger_votes",
        "event_votes",
        _vote,
        lambda i: {"event_id": _vote(i)["event_id"]},
        _find_all,
    ),
    Case(
        "events.delete_batch_votes (find)",
        "event_votes",
        _vote,
        lambda i: {"event_id": _vote(_pick(i))["event_id"], "batch": _vote(_pick(i))["batch"]},
        _find_all,
    ),
    Case(
        "fairness.attendees_of",
        "attendees",
        _attendee,
        lambda i: {"event_id": _attendee(i)["event_id"]},
        _find_all,
    ),
    Case(
        "fairness.ticket_counts",
        "event_tickets",
        _ticket,
        lambda i: {"event_id": _ticket(i)["event_id"]},
        _count,
    ),
    Case(
        "fairness.ticket_counts: count -> len(ids)",
        "event_tickets",
        _ticket,
        lambda i: {"event_id": _ticket(i)["event_id"]},
        _count,
        run_eq=_count_ids,
    ),
    Case(
        "fairness.claim_ticket (fou)",
        "event_tickets",
        _ticket,
        lambda i: {
            "_id": _ticket(_pick(i))["_id"],
            "event_id": _ticket(_pick(i))["event_id"],
            "revoked": False,
            "attendee_id": _ticket(_pick(i))["attendee_id"],
        },
        _touch,
    ),
    Case("events.by_code", "events", _event, lambda i: {"code": _event(_pick(i))["code"]}),
    Case(
        "jury.juror_by_token_hash",
        "jurors",
        _juror,
        lambda i: {"token_hash": _juror(_pick(i))["token_hash"]},
    ),
    Case(
        "jury.put_sheet (fou)",
        "jury_sheets",
        _sheet,
        lambda i: {
            **{k: _sheet(_pick(i))[k] for k in ("event_id", "juror_id", "team_id")},
            "locked": {"$exists": False},
        },
        _touch,
    ),
    Case(
        "jury.put_sheet: fou -> read _id, fou by _id",
        "jury_sheets",
        _sheet,
        lambda i: {
            **{k: _sheet(_pick(i))[k] for k in ("event_id", "juror_id", "team_id")},
            "locked": {"$exists": False},
        },
        _touch,
        run_eq=_read_then_touch,
    ),
    Case(
        "fairness.applied_batches",
        "event_batches",
        _ebatch,
        lambda i: {"event_id": _ebatch(i)["event_id"], "state": "applied", "seq": {"$lte": 50}},
        _find_all,
    ),
    # polls: the user's responses, the daily counter
    Case(
        "polls.response",
        "poll_responses",
        _response,
        lambda i: {k: _response(_pick(i))[k] for k in ("poll_id", "user_id")},
    ),
    Case(
        "polls.answered_among",
        "poll_responses",
        _response,
        lambda i: {
            "user_id": _response(_pick(i))["user_id"],
            "poll_id": {"$gte": f"{_pick(i) // 10:024x}", "$lte": f"{_pick(i) // 10 + 200:024x}"},
        },
        _find_all,
    ),
    Case(
        "polls.votes (recount, one poll)",
        "poll_responses",
        _response,
        lambda i: {"kind": "vote", "poll_id": _response(_pick(i))["poll_id"]},
        _find_all,
    ),
    Case(
        "polls.daily_count",
        "daily_votes",
        _daily,
        lambda i: {k: _daily(_pick(i))[k] for k in ("user_id", "day")},
    ),
    Case(
        "polls.take_daily_slot (fou)",
        "daily_votes",
        _daily,
        lambda i: {**{k: _daily(_pick(i))[k] for k in ("user_id", "day")}, "count": {"$lt": 9}},
        _touch,
    ),
    Case(
        "polls.take_daily_slot: fou -> read _id, fou by _id",
        "daily_votes",
        _daily,
        lambda i: {**{k: _daily(_pick(i))[k] for k in ("user_id", "day")}, "count": {"$lt": 9}},
        _touch,
        run_eq=_read_then_touch,
    ),
    Case(
        "activities.live_activity",
        "activities",
        lambda i: {"_id": ObjectId(), "event_id": f"ev{i:022d}", "live": f"ev{i:022d}"},
        lambda i: {"event_id": f"ev{_pick(i):022d}", "live": f"ev{_pick(i):022d}"},
    ),
    # activities: responses, questions
    Case(
        "activities.response_of",
        "activity_responses",
        _aresp,
        lambda i: {k: _aresp(_pick(i))[k] for k in ("activity_id", "attendee_id")},
    ),
    Case(
        "activities.responses_of",
        "activity_responses",
        _aresp,
        lambda i: {"activity_id": _aresp(i)["activity_id"]},
        _find_all,
    ),
    Case(
        "activities.texts",
        "activity_responses",
        _aresp,
        lambda i: {"activity_id": _aresp(i)["activity_id"], "status": {"$in": ["shown"]}},
        _find_all,
    ),
    Case(
        "activities.applied_batches (distinct)",
        "activity_responses",
        _aresp,
        lambda i: {"activity_id": _aresp(i)["activity_id"]},
        lambda c, f: _distinct(c, f, "batch"),
    ),
    Case(
        "activities.delete_batch_responses (find)",
        "activity_responses",
        _aresp,
        lambda i: {"batch": _aresp(_pick(i))["batch"]},
        _find_all,
    ),
    Case(
        "activities.questions_of",
        "questions",
        _question,
        lambda i: {"event_id": _question(i)["event_id"], "status": {"$in": ["shown"]}},
        _find_all,
    ),
    Case(
        "activities.count_questions",
        "questions",
        _question,
        lambda i: {"event_id": _question(i)["event_id"]},
        _count,
    ),
    Case(
        "activities.count_questions: count -> len(ids)",
        "questions",
        _question,
        lambda i: {"event_id": _question(i)["event_id"]},
        _count,
        run_eq=_count_ids,
    ),
    # accounts: login and registration
    Case("accounts.by_email", "users", _user, lambda i: {"email": _user(_pick(i))["email"]}),
    Case("accounts.taken ($or)", "users", _user, _taken, convert=_eq_or),
    Case(
        "accounts.taken: $or -> find_one per branch",
        "users",
        _user,
        _taken,
        convert=_eq_or,
        run_eq=_first_of,
    ),
]


@dataclass
class Row:
    name: str
    bare_ms: float
    bare_cpu_ms: float
    eq_ms: float
    eq_cpu_ms: float


async def measure(uri: str, nx_pid: int | None, n: int, only: str, budget: float) -> list[Row]:
    client = make_client(uri, timeout_ms=60_000)
    db = client["nx_filters"]
    specs = load_specs()
    filled: set[str] = set()
    rows: list[Row] = []
    try:
        for case in CASES:
            if only and only not in case.name:
                continue
            coll = db[case.collection]
            if case.collection not in filled:
                await coll.drop()
                await apply_indexes(db, [s for s in specs if s.collection == case.collection])
                docs = [case.make(i) for i in range(N_DOCS[0])]
                for start in range(0, len(docs), 5_000):
                    await coll.insert_many(docs[start : start + 5_000], ordered=False)
                filled.add(case.collection)
            timings: list[tuple[float, float]] = []
            answers: list[list[Any]] = []
            forms = ((lambda f: f, case.run), (case.convert, case.run_eq or case.run))
            for form, run in forms:
                await run(coll, form(case.query(0)))  # warm up
                got: list[Any] = []
                cpu0 = proc_cpu_seconds(nx_pid) if nx_pid else 0.0
                t0 = time.perf_counter()
                for i in range(n):
                    got.append(await run(coll, form(case.query(i))))
                    if time.perf_counter() - t0 > budget:
                        break  # a slow form: fewer lookups (at least one)
                wall = time.perf_counter() - t0
                cpu = (proc_cpu_seconds(nx_pid) if nx_pid else 0.0) - cpu0
                timings.append((wall * 1000 / len(got), cpu * 1000 / len(got)))
                answers.append(got)
            common = min(len(a) for a in answers)
            if answers[0][:common] != answers[1][:common]:
                raise AssertionError(f"{case.name}: bare and $eq answers differ")
            if all(a in (None, 0, []) for a in answers[0]):
                raise AssertionError(f"{case.name}: nothing found, the case is wrong")
            row = Row(case.name, *timings[0], *timings[1])
            rows.append(row)
            print(
                f"| {row.name} | {row.bare_ms:.2f} | {row.bare_cpu_ms:.2f} "
                f"| {row.eq_ms:.2f} | {row.eq_cpu_ms:.2f} |",
                flush=True,
            )
    finally:
        await client.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("-N", type=int, default=20_000, help="documents per collection")
    parser.add_argument("-n", type=int, default=300, help="timed lookups per form")
    parser.add_argument("--budget", type=float, default=10.0, help="seconds per form at most")
    parser.add_argument("--only", default="", help="run the cases whose name contains this")
    args = parser.parse_args(argv)
    N_DOCS[0] = args.N
    uri = os.environ.get("MONGODB_URI", "")
    stack = None
    nx_pid: int | None = None
    if not uri:
        stack = EmbeddedStack(Path(tempfile.mkdtemp(prefix="nx-filters-"))).start(redis=False)
        uri = stack.mongo_uri
        nx_pid = stack.mongo.proc.pid if stack.mongo else None
    print(f"N={args.N} documents per collection, {args.n} lookups per form; ms per lookup")
    print("| query | bare wall | bare NX CPU | $eq wall | $eq NX CPU |")
    print("|---|---:|---:|---:|---:|")
    try:
        asyncio.run(measure(uri, nx_pid, args.n, args.only, args.budget))
    finally:
        if stack:
            stack.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
