"""The embedded NX-27017 answers change-stream polls from an index, so their cost stays flat.

NX-27017 keeps change-stream history in one SQLite table and answers each getMore with
`WHERE collection_name = ? AND id > <watermark>`. Without an index on (collection_name, id) a
stream on a quiet collection walks every later row of the busy ones on every poll, and the
broadcaster polls every 20 ms: NX-27017's CPU per vote stepped from 0.8 to 2.1 ms as the
retained history filled (issue 13, flat scenario). The launcher adds the index
(infra/embedded.py `_NX_CHANGESTREAM_INDEX`).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from livevote.infra.embedded import EmbeddedServer, start_mongo

POLL = (
    "SELECT id FROM _neosqlite_changestream WHERE collection_name = ? AND id > ? "
    "ORDER BY id LIMIT 101"
)


@pytest.fixture
def nx(tmp_path: Path) -> Iterator[EmbeddedServer]:
    server = start_mongo(tmp_path)
    yield server
    server.stop()


async def _next_change(stream: Any) -> Any:
    for _ in range(200):
        change = await stream.try_next()
        if change is not None:
            return change
        await asyncio.sleep(0.01)
    raise AssertionError("no change arrived within 2 s")


async def test_quiet_stream_polls_seek_the_index_and_still_see_their_changes(
    nx: EmbeddedServer, tmp_path: Path
) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        f"mongodb://127.0.0.1:{nx.port}/?directConnection=true"
    )
    try:
        db = client["cs"]
        busy_id = (await db.busy.insert_one({"n": 0})).inserted_id
        quiet = await db.quiet.watch()
        busy = await db.busy.watch()
        for _ in range(50):
            await db.busy.update_one({"_id": {"$eq": busy_id}}, {"$inc": {"n": 1}})
        assert await quiet.try_next() is None  # polled past 50 rows of another collection
        seen = [(await _next_change(busy))["fullDocument"]["n"] for _ in range(50)]
        assert seen == list(range(1, 51))
        await db.quiet.insert_one({"late": True})
        assert (await _next_change(quiet))["fullDocument"]["late"] is True
        await quiet.close()
        await busy.close()
    finally:
        await client.close()

    files = list((tmp_path / "mongo").glob("cs*.db"))
    assert len(files) == 1, files
    with sqlite3.connect(files[0]) as sql:
        plan = " ".join(row[3] for row in sql.execute(f"EXPLAIN QUERY PLAN {POLL}", ("q", 1)))
    assert "livevote_changestream_by_collection" in plan, plan
