"""Documents -> API views (pure): elections, reports, totals summed from the counter shards,
the results snapshot of the screen and the SSE stream, the recount answer."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC
from typing import TYPE_CHECKING, Any

from livevote.infra.mongo import Doc
from livevote.tallies.keys import party_key
from livevote.tallies.schemas import (
    CityOut,
    CityVotes,
    ElectionOut,
    ReportOut,
    TotalsOut,
)

if TYPE_CHECKING:
    from livevote.tallies.recount import ElectionCheck


def election_out(doc: Doc, reporter_key: str | None = None) -> ElectionOut:
    return ElectionOut(
        id=str(doc["_id"]),
        name=doc["name"],
        parties=list(doc["parties"]),
        cities=[CityOut(c["name"], c["ballot_boxes"]) for c in doc["cities"]],
        expected_boxes=doc["expected_boxes"],
        created_at=doc["created_at"].isoformat(),
        creator_id=doc["creator_id"],
        reporter_key=reporter_key,
    )


def report_out(doc: Doc) -> ReportOut:
    received = doc["received_at"]
    if received.tzinfo is None:
        received = received.replace(tzinfo=UTC)
    return ReportOut(
        report_id=doc["report_id"],
        ballot_box_id=doc["ballot_box_id"],
        city=doc["city"],
        votes={p: int(n) for p, n in doc["votes"]},
        status=doc["status"],
        received_at=received.isoformat(),
        kind=doc.get("kind", "report"),
        supersedes=doc.get("supersedes"),
        superseded_by=doc.get("superseded_by"),
    )


def sum_shards(election: Doc, shards: Iterable[Doc]) -> tuple[dict[str, int], int]:
    """Votes by party name and boxes reported, summed over counter shards."""
    keys = [party_key(i) for i in range(len(election["parties"]))]
    sums = dict.fromkeys(keys, 0)
    reported = 0
    for shard in shards:
        votes = shard.get("votes") or {}
        for k in keys:
            sums[k] += int(votes.get(k, 0))
        reported += int(shard.get("reported_boxes", 0))
    return {p: sums[party_key(i)] for i, p in enumerate(election["parties"])}, reported


def totals_out(election: Doc, shards: list[Doc], city_index: int | None) -> TotalsOut:
    """National totals (every shard) or one city's (that city's shards)."""
    votes, reported = sum_shards(election, shards)
    if city_index is None:
        return TotalsOut(votes, reported, election["expected_boxes"], None)
    city = election["cities"][city_index]
    return TotalsOut(votes, reported, city["ballot_boxes"], city["name"])


def snapshot(election: Doc, shards: list[Doc]) -> Doc:
    """Everything a results screen shows: national and per-city totals and progress."""
    by_city: dict[int, list[Doc]] = {}
    for s in shards:
        by_city.setdefault(int(s["city_index"]), []).append(s)
    cities = []
    for ci, c in enumerate(election["cities"]):
        votes, reported = sum_shards(election, by_city.get(ci, []))
        cities.append(
            {
                "name": c["name"],
                "votes": votes,
                "reported_boxes": reported,
                "expected_boxes": c["ballot_boxes"],
            }
        )
    votes, reported = sum_shards(election, shards)
    return {
        "election_id": str(election["_id"]),
        "name": election["name"],
        "parties": election["parties"],
        "national": {
            "votes": votes,
            "reported_boxes": reported,
            "expected_boxes": election["expected_boxes"],
        },
        "cities": cities,
    }


def top_cities(rows: list[Doc]) -> list[CityVotes]:
    return [CityVotes(r["_id"], int(r["votes"])) for r in rows]


def recount_out(check: ElectionCheck) -> dict[str, Any]:
    """The answer of POST /api/elections/{id}/recount."""
    return {
        "election_id": check.election_id,
        "ok": check.ok,
        "reports": check.reports,
        "applied": check.applied,
        "pending": check.pending,
        "in_flight": check.in_flight,
        "votes": check.votes,
        "reported_boxes": check.reported_boxes,
        "differences": check.texts,
    }
