"""Pure naming helpers shared by the tallies files: party keys, shard ids, hashes, times."""

from __future__ import annotations

import hashlib
import json
import zlib
from datetime import datetime

from livevote.infra.mongo import Doc


def epoch_ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def party_key(index: int) -> str:
    """Counters are keyed p0, p1, ... (party names may hold "." or "$", keys may not)."""
    return f"p{index}"


def shard_id(election_id: str, city_index: int, bucket: int) -> str:
    return f"{election_id}:{city_index}:{bucket}"


def shard_of_box(election: Doc, city_index: int, box: str) -> str:
    shards = int(election["cities"][city_index]["shards"])
    return shard_id(str(election["_id"]), city_index, zlib.crc32(box.encode()) % shards)


def hash_key(key: str) -> str:
    # The key is 256 random bits: a fast hash is enough (nothing to brute-force).
    return hashlib.sha256(key.encode()).hexdigest()


def canonical_hash(box: str, city: str, votes: dict[str, int], supersedes: str | None) -> str:
    body = {"ballot_box_id": box, "city": city, "votes": votes, "supersedes": supersedes}
    raw = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()


# Distinct on the dark screen and the light console; a party keeps its colour all night.
PALETTE = (
    "#3b82f6",
    "#ef4444",
    "#f59e0b",
    "#10b981",
    "#8b5cf6",
    "#ec4899",
    "#06b6d4",
    "#f97316",
    "#84cc16",
    "#64748b",
)


def party_colours(given: list[str | None]) -> list[str]:
    """Each party's colour: its own, else the first palette colour nobody took (cycling)."""
    taken = {c.lower() for c in given if c}
    free = [c for c in PALETTE if c not in taken] or list(PALETTE)
    out, n = [], 0
    for colour in given:
        if colour:
            out.append(colour.lower())
        else:
            out.append(free[n % len(free)])
            n += 1
    return out


def encode_cursor(ms: int, oid: object) -> str:
    """Keyset cursor of a page: the (time in ms, _id) of its last row."""
    return f"{ms}_{oid}"


def decode_cursor(cursor: str) -> tuple[int, str] | None:
    ms, _, oid = cursor.partition("_")
    if not ms.isdigit() or len(oid) != 24 or any(c not in "0123456789abcdef" for c in oid):
        return None
    return int(ms), oid
