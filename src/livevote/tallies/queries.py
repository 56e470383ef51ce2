"""Read-only Mongo queries over an election's history (with repository.py, the only Mongo
code of the domain): report pages by keyset, totals as they stood at a time, the series of a
timeline, the order in which boxes reported, the latest reports, top cities.

Times are compared as epoch milliseconds (`received_ms`, `at_ms`): NX-27017 mis-compares
dates in aggregations. Report pages and the reporting order walk the index
(election_id[, city], received_ms, _id) from a cursor, never by skipping rows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from livevote.infra.mongo import Doc, eq

REPORT_SORT = [("received_ms", 1), ("_id", 1)]


def _window(since_ms: int | None, until_ms: int | None) -> Doc:
    window: Doc = {}
    if since_ms is not None:
        window["$gte"] = since_ms
    if until_ms is not None:
        window["$lt"] = until_ms
    return window


def _after(query: Doc, after: tuple[int, str] | None) -> Doc:
    if after is None:
        return query
    ms, oid = after
    keyset = {
        "$or": [{"received_ms": {"$gt": ms}}, {"received_ms": ms, "_id": {"$gt": ObjectId(oid)}}]
    }
    return {"$and": [query, keyset]}


class ElectionQueries:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.reports = db["election_reports"]
        self.audit = db["election_audit"]

    async def list_reports(
        self,
        election_id: str,
        *,
        city: str | None,
        since_ms: int | None,
        until_ms: int | None,
        after: tuple[int, str] | None,
        skip: int,
        limit: int,
    ) -> list[Doc]:
        query: Doc = {"election_id": election_id}
        if city is not None:
            query["city"] = city
        if window := _window(since_ms, until_ms):
            query["received_ms"] = window
        cursor = self.reports.find(eq(_after(query, after))).sort(REPORT_SORT)
        if skip:
            cursor = cursor.skip(skip)
        return await cursor.limit(limit).to_list()

    async def latest_reports(self, election_id: str, limit: int) -> list[Doc]:
        cursor = self.reports.find(eq({"election_id": election_id}))
        return await cursor.sort([("received_ms", -1), ("_id", -1)]).limit(limit).to_list()

    async def reporting_order(
        self, election_id: str, city: str | None, after: tuple[int, str] | None, limit: int
    ) -> list[Doc]:
        """Plain reports (one per box) in the order they were received."""
        query: Doc = {"election_id": election_id, "original_box": {"$exists": True}}
        if city is not None:
            query["city"] = city
        fields = {
            "report_id": 1,
            "ballot_box_id": 1,
            "city": 1,
            "received_at": 1,
            "received_ms": 1,
        }
        cursor = self.reports.find(eq(_after(query, after)), fields).sort(REPORT_SORT)
        return await cursor.limit(limit).to_list()

    async def count_reported_before(self, election_id: str, city: str | None, at_ms: int) -> int:
        """Boxes whose report was received at or before `at_ms`."""
        query: Doc = {
            "election_id": election_id,
            "original_box": {"$exists": True},
            "received_ms": {"$lte": at_ms},
        }
        if city is not None:
            query["city"] = city
        return await self.reports.count_documents(query)

    async def audit_stream(
        self, election_id: str, city: str | None, until_ms: int | None
    ) -> AsyncIterator[Doc]:
        """(at_ms, party, delta, kind) of every audit entry, oldest first: Σ delta up to a
        time is the totals as they stood then."""
        query: Doc = {"election_id": election_id}
        if city is not None:
            query["city"] = city
        if until_ms is not None:
            query["at_ms"] = {"$lte": until_ms}
        fields = {"_id": 0, "at_ms": 1, "party": 1, "delta": 1, "kind": 1}
        async for doc in self.audit.find(eq(query), fields).sort([("at_ms", 1)]):
            yield doc

    async def first_report_times(self, election_id: str, city: str | None) -> list[int]:
        """received_ms of every plain report (one per box), oldest first."""
        query: Doc = {"election_id": election_id, "original_box": {"$exists": True}}
        if city is not None:
            query["city"] = city
        cursor = self.reports.find(eq(query), {"_id": 0, "received_ms": 1}).sort(REPORT_SORT)
        return [int(d["received_ms"]) async for d in cursor]

    async def top_cities(
        self, election_id: str, since_ms: int | None, until_ms: int | None, limit: int
    ) -> list[Doc]:
        match: Doc = {"election_id": election_id}
        if window := _window(since_ms, until_ms):
            match["at_ms"] = window
        cursor = await self.audit.aggregate(
            [
                {"$match": match},
                {"$group": {"_id": "$city", "votes": {"$sum": "$delta"}}},
                {"$sort": {"votes": -1, "_id": 1}},
                {"$limit": limit},
            ]
        )
        return await cursor.to_list()
