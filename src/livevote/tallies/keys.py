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
