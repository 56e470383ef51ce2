"""MongoDB: the AsyncMongoClient lifespan and indexes-as-data (indexes/<collection>.json).

An index file is a JSON list of specifications:
    [{"keys": [["event_id", 1], ["attendee_id", 1]], "unique": true,
      "partialFilterExpression": {"on_stage": {"$exists": true}}, "name": "one_vote"}]
Indexes are matched by key pattern (NX-27017 renames indexes, reports every key as ascending
and drops partialFilterExpression; see DESIGN.md), so `apply` is idempotent on both servers.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

Doc = dict[str, Any]


def eq(query: Doc) -> Doc:
    """`query` with each bare equality written `{field: {"$eq": value}}` (operators, nested
    conditions and `_id` kept). NX-27017 compiles a bare `{field: value}` as "equal, or an
    array holding it": a json_each subquery per row, so a full scan that grows with the
    collection (measured: 16 ms of server CPU per lookup by (election_id, report_id) at
    10,000 reports), while the `$eq` form is answered from the field's index (< 1 ms). Same
    meaning for scalar fields, which is all we filter on; MongoDB plans both forms alike."""
    return {
        k: v if k.startswith("$") or k == "_id" or isinstance(v, dict) else {"$eq": v}
        for k, v in query.items()
    }


def indexes_dir() -> Path:
    configured = os.environ.get("LIVEVOTE_INDEXES_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[3] / "indexes"


def make_client(uri: str, timeout_ms: int = 5000) -> AsyncMongoClient[Doc]:
    return AsyncMongoClient(
        uri,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        maxPoolSize=200,
        tz_aware=True,
        uuidRepresentation="standard",
    )


@dataclass(frozen=True)
class IndexSpec:
    collection: str
    keys: tuple[tuple[str, int], ...]
    unique: bool
    partial: Doc | None
    name: str | None
    expire_after: int | None

    def describe(self) -> str:
        keys = ", ".join(f"{k}:{d}" for k, d in self.keys)
        flags = " unique" if self.unique else ""
        if self.partial:
            flags += f" partial={json.dumps(self.partial, sort_keys=True)}"
        if self.expire_after is not None:
            flags += f" ttl={self.expire_after}s"
        return f"{self.collection} ({keys}){flags}"


def load_specs(directory: Path | None = None) -> list[IndexSpec]:
    directory = directory or indexes_dir()
    specs: list[IndexSpec] = []
    for path in sorted(directory.glob("*.json")):
        for raw in json.loads(path.read_text()):
            specs.append(
                IndexSpec(
                    collection=path.stem,
                    keys=tuple((str(k), int(d)) for k, d in raw["keys"]),
                    unique=bool(raw.get("unique", False)),
                    partial=raw.get("partialFilterExpression"),
                    name=raw.get("name"),
                    expire_after=raw.get("expireAfterSeconds"),
                )
            )
    return specs


async def is_nx27017(db: AsyncDatabase[Doc]) -> bool:
    info = await db.client.admin.command("buildInfo")
    return info.get("process") == "nx_27017"


async def _existing(db: AsyncDatabase[Doc], collection: str) -> list[Doc]:
    out = []
    async for ix in await db[collection].list_indexes():
        out.append(dict(ix))
    return out


def _matches(spec: IndexSpec, ix: Doc, lenient: bool) -> bool:
    keys = tuple((str(k), int(v)) for k, v in dict(ix["key"]).items())
    if bool(ix.get("unique", False)) != spec.unique:
        return False
    if lenient:  # NX-27017 drops key directions, partialFilterExpression and TTL options
        return [k for k, _ in keys] == [k for k, _ in spec.keys]
    if keys != spec.keys:
        return False
    return (
        ix.get("partialFilterExpression") == spec.partial
        and ix.get("expireAfterSeconds") == spec.expire_after
    )


async def check_indexes(db: AsyncDatabase[Doc], specs: list[IndexSpec] | None = None) -> list[str]:
    """Return the differences between indexes/ and the database (empty when they agree)."""
    specs = load_specs() if specs is None else specs
    lenient = await is_nx27017(db)
    problems = []
    for spec in specs:
        existing = await _existing(db, spec.collection)
        if not any(_matches(spec, ix, lenient) for ix in existing):
            problems.append(f"missing: {spec.describe()}")
    return problems


async def apply_indexes(db: AsyncDatabase[Doc], specs: list[IndexSpec] | None = None) -> list[str]:
    """Create every index in indexes/ that the database lacks; return what was created."""
    specs = load_specs() if specs is None else specs
    lenient = await is_nx27017(db)
    created = []
    for spec in specs:
        existing = await _existing(db, spec.collection)
        if any(_matches(spec, ix, lenient) for ix in existing):
            continue
        options: Doc = {"unique": spec.unique}
        if spec.name:
            options["name"] = spec.name
        if spec.partial:
            options["partialFilterExpression"] = spec.partial
        if spec.expire_after is not None:
            options["expireAfterSeconds"] = spec.expire_after
        await db[spec.collection].create_index(list(spec.keys), **options)
        created.append(spec.describe())
    return created
