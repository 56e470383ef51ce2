"""Read side of election tallies: totals (national = Σ city shards), the results snapshot
for the screen and the SSE stream, the report log, and the top cities of a time window."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from livevote.errors import NotFound, ValidationFailed
from livevote.infra.mongo import Doc
from livevote.tallies.repository import ElectionRepository
from livevote.tallies.service import city_index, epoch_ms, party_key


def _sum_shards(election: Doc, shards: Iterable[Doc]) -> tuple[dict[str, int], int]:
    keys = [party_key(i) for i in range(len(election["parties"]))]
    sums = dict.fromkeys(keys, 0)
    reported = 0
    for shard in shards:
        votes = shard.get("votes") or {}
        for k in keys:
            sums[k] += int(votes.get(k, 0))
        reported += int(shard.get("reported_boxes", 0))
    return {p: sums[party_key(i)] for i, p in enumerate(election["parties"])}, reported


async def totals(repo: ElectionRepository, *, election: Doc, city: str | None) -> Doc:
    eid = str(election["_id"])
    if city is None:
        votes, reported = _sum_shards(election, await repo.shard_totals(eid))
        return {
            "votes": votes,
            "reported_boxes": reported,
            "expected_boxes": election["expected_boxes"],
            "city": None,
        }
    try:
        ci = city_index(election, city)
    except ValidationFailed as exc:
        raise NotFound(f"city {city!r} not found in this election") from exc
    votes, reported = _sum_shards(election, await repo.shard_totals(eid, ci))
    return {
        "votes": votes,
        "reported_boxes": reported,
        "expected_boxes": election["cities"][ci]["ballot_boxes"],
        "city": city,
    }


async def snapshot(repo: ElectionRepository, *, election: Doc) -> Doc:
    """Everything a results screen shows: national and per-city totals and progress."""
    shards = await repo.shard_totals(str(election["_id"]))
    by_city: dict[int, list[Doc]] = {}
    for s in shards:
        by_city.setdefault(int(s["city_index"]), []).append(s)
    cities = []
    for ci, c in enumerate(election["cities"]):
        votes, reported = _sum_shards(election, by_city.get(ci, []))
        cities.append(
            {
                "name": c["name"],
                "votes": votes,
                "reported_boxes": reported,
                "expected_boxes": c["ballot_boxes"],
            }
        )
    votes, reported = _sum_shards(election, shards)
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


async def list_reports(
    repo: ElectionRepository,
    *,
    election: Doc,
    city: str | None,
    since: datetime | None,
    until: datetime | None,
    page: int,
    limit: int,
) -> tuple[list[Doc], bool]:
    docs = await repo.list_reports(
        str(election["_id"]),
        city=city,
        since=since,
        until=until,
        skip=(page - 1) * limit,
        limit=limit + 1,
    )
    return docs[:limit], len(docs) > limit


async def top_cities(
    repo: ElectionRepository,
    *,
    election: Doc,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> list[dict[str, Any]]:
    rows = await repo.top_cities(
        str(election["_id"]),
        epoch_ms(since) if since else None,
        epoch_ms(until) if until else None,
        limit,
    )
    return [{"city": r["_id"], "votes": int(r["votes"])} for r in rows]
