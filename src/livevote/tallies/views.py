"""Documents -> API views (pure): elections, reports, totals summed from the counter shards,
the results snapshot of the screen and the SSE stream, the recount answer."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from livevote.infra.mongo import Doc
from livevote.tallies.keys import encode_cursor, party_colours, party_key
from livevote.tallies.schemas import (
    BoxReported,
    CityOut,
    CityVotes,
    ElectionOut,
    ReporterKeyOut,
    ReportingOrderOut,
    ReportOut,
    ReportPage,
    TimelineOut,
    TimelinePoint,
    TotalsOut,
)

if TYPE_CHECKING:
    from livevote.tallies.recount import ElectionCheck


def _utc(at: datetime) -> str:
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).isoformat()


def colours(doc: Doc) -> dict[str, str]:
    """Party -> colour (elections made before colours get the palette, by position)."""
    stored = doc.get("colours") or party_colours([None] * len(doc["parties"]))
    return dict(zip(doc["parties"], stored, strict=True))


def election_out(
    doc: Doc, reporter_key: str | None = None, key_id: str | None = None
) -> ElectionOut:
    return ElectionOut(
        id=str(doc["_id"]),
        name=doc["name"],
        parties=list(doc["parties"]),
        colours=colours(doc),
        cities=[CityOut(c["name"], c["ballot_boxes"]) for c in doc["cities"]],
        expected_boxes=doc["expected_boxes"],
        created_at=_utc(doc["created_at"]),
        creator_id=doc["creator_id"],
        reporter_key=reporter_key,
        reporter_key_id=key_id,
    )


def key_out(doc: Doc, key: str | None = None) -> ReporterKeyOut:
    revoked = doc.get("revoked_ms")
    return ReporterKeyOut(
        key_id=doc["_id"],
        city=doc.get("city"),
        created_at=_utc(doc["created_at"]),
        key=key,
        revoked_at=None
        if revoked is None
        else datetime.fromtimestamp(revoked / 1000, UTC).isoformat(),
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


def report_page(docs: list[Doc], page: int, limit: int) -> ReportPage:
    """A page of `limit` reports from `limit + 1` rows; `next` is the keyset cursor."""
    items = [report_out(d) for d in docs[:limit]]
    more = len(docs) > limit
    last = docs[limit - 1] if more else None
    cursor = None if last is None else encode_cursor(int(last["received_ms"]), last["_id"])
    return ReportPage(items, page, limit, more, cursor)


def latest_out(doc: Doc) -> Doc:
    """A report as the live screens list it (the newest first)."""
    out = {
        "report_id": doc["report_id"],
        "ballot_box_id": doc["ballot_box_id"],
        "city": doc["city"],
        "votes": {p: int(n) for p, n in doc["votes"]},
        "kind": doc.get("kind", "report"),
        "received_at": _utc(doc["received_at"]),
        "status": doc["status"],
    }
    if doc.get("supersedes"):
        out["corrects"] = doc["supersedes"]
    return out


def snapshot(election: Doc, shards: list[Doc], latest: list[Doc] | None = None) -> Doc:
    """Everything a results screen shows: national and per-city totals and progress, each
    party's colour (in display order) and the latest reports."""
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
        "colours": colours(election),
        "latest": [latest_out(d) for d in latest or []],
        "national": {
            "votes": votes,
            "reported_boxes": reported,
            "expected_boxes": election["expected_boxes"],
        },
        "cities": cities,
    }


def top_cities(rows: list[Doc]) -> list[CityVotes]:
    return [CityVotes(r["_id"], int(r["votes"])) for r in rows]


def top_cities_of_snapshot(snap: Doc, limit: int) -> list[CityVotes]:
    rows = [CityVotes(c["name"], sum(c["votes"].values())) for c in snap["cities"]]
    rows = [r for r in rows if r.votes]
    rows.sort(key=lambda r: (-r.votes, r.city))
    return rows[:limit]


def timeline(
    election: Doc,
    city: str | None,
    step: int,
    start_ms: int,
    deltas: list[dict[str, int]],
    boxes: list[int],
) -> TimelineOut:
    """Cumulative series: the totals and boxes as they stood at the end of each step."""
    running = dict.fromkeys(election["parties"], 0)
    reported = 0
    points = []
    for i, (delta, n) in enumerate(zip(deltas, boxes, strict=True)):
        for party, d in delta.items():
            running[party] = running.get(party, 0) + d
        reported += n
        end = datetime.fromtimestamp((start_ms + (i + 1) * step * 1000) / 1000, UTC)
        points.append(TimelinePoint(end.isoformat(), dict(running), reported))
    return TimelineOut(city, step, points)


def reporting_order(docs: list[Doc], limit: int) -> ReportingOrderOut:
    items = [
        BoxReported(
            ballot_box_id=d["ballot_box_id"],
            city=d["city"],
            report_id=d["report_id"],
            received_at=_utc(d["received_at"]),
        )
        for d in docs[:limit]
    ]
    last = docs[limit - 1] if len(docs) > limit else None
    cursor = None if last is None else encode_cursor(int(last["received_ms"]), last["_id"])
    return ReportingOrderOut(items, cursor)


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
