"""The demo election (livevote/demo.py seeds it): "General Election (demo)" mid-count —
six cities, parties in their own colours, about 45% of the boxes reported over the last two
hours, two corrections. Reports go through ElectionService like any ballot box's, with a
clock that walks through the evening. Idempotent: nothing if the host already has it."""

from __future__ import annotations

import hashlib
import random
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId

from livevote.errors import Conflict
from livevote.infra.resources import utc_now
from livevote.tallies.repository import ElectionRepository
from livevote.tallies.service import ElectionService

NAME = "General Election (demo)"
PARTIES = [
    ("Conservative", "#0087dc"),
    ("Labour", "#e4003b"),
    ("Liberal Democrats", "#faa61a"),
    ("Reform UK", "#12b6cf"),
    ("Green", "#02a95b"),
]
# city, ballot boxes, the parties' relative strength there
CITIES = [
    ("London", 60, [28, 44, 14, 6, 8]),
    ("Birmingham", 40, [30, 42, 9, 13, 6]),
    ("Manchester", 30, [22, 50, 11, 10, 7]),
    ("Glasgow", 25, [18, 46, 8, 12, 16]),
    ("Cardiff", 15, [27, 40, 12, 13, 8]),
    ("Belfast", 12, [12, 20, 30, 8, 30]),
]


async def seed_election_mid_count(db: Any, host_id: str) -> str | None:
    """Create and half-count the demo election; its id (None when it existed already)."""
    repo = ElectionRepository(db)
    # One id per host: two processes seeding at once create it once (the loser gets a 409).
    election_id = ObjectId(hashlib.sha256(f"demo-election:{host_id}".encode()).hexdigest()[:24])
    if await repo.election(election_id) is not None:
        return None
    now = utc_now()
    moment: list[datetime] = [now - timedelta(hours=2)]
    elections = ElectionService(repo, clock=lambda: moment[0])
    try:
        election, _, key = await elections.create_election(
            name=NAME,
            parties=[(name, colour) for name, colour in PARTIES],
            cities=[(name, boxes) for name, boxes, _ in CITIES],
            creator_id=host_id,
            election_id=election_id,
        )
    except Conflict:
        return None
    rng = random.Random(2026)
    plan = [
        (city, box, weights)
        for city, boxes, weights in CITIES
        for box in range(boxes)
        if rng.random() < 0.45
    ]
    rng.shuffle(plan)
    names = [name for name, _ in PARTIES]
    for i, (city, box, weights) in enumerate(plan):
        moment[0] = now - timedelta(minutes=115 - 110 * i / max(1, len(plan) - 1))
        size = rng.randint(600, 1400)
        votes = {
            p: max(0, int(size * w / 100 + rng.randint(-25, 25)))
            for p, w in zip(names, weights, strict=True)
        }
        await elections.submit_report(
            election["_id"],
            key,
            report_id=f"demo-{city}-{box}",
            ballot_box_id=f"{city[:3].upper()}-{box:03d}",
            city=city,
            votes=votes,
            supersedes=None,
        )
        if i in (5, len(plan) // 2):  # a recount at the box: the newsroom shows a correction
            moment[0] += timedelta(minutes=3)
            fixed = {p: n + (12 if p == "Labour" else -4 if n > 4 else 0) for p, n in votes.items()}
            await elections.submit_report(
                election["_id"],
                key,
                report_id=f"demo-{city}-{box}-fix",
                ballot_box_id=f"{city[:3].upper()}-{box:03d}",
                city=city,
                votes=fixed,
                supersedes=f"demo-{city}-{box}",
            )
    return str(election["_id"])
