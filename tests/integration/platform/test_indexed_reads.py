"""The reads that replaced NX-27017's scanning forms (count_documents, `$or`) answer as before.

docs/GROUP_COMMIT.md ("NX-27017 and equality filters"): ticket counts, an attendee's vote
count, the questions count and the registration pre-check are indexed reads now. Each is
checked against documents of another event / account, which the old scans also had to skip.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId

from livevote.accounts.repository import Taken, UserRepository
from livevote.activities.repository import ActivityRepository
from livevote.events.fairness_repository import FairnessRepository

NOW = datetime(2026, 1, 1, tzinfo=UTC)
STUB_HASH = "x" * 60  # never verified here


def _id() -> str:
    return str(ObjectId())


async def test_ticket_counts_and_votes_of_count_only_their_event(server_db: Any) -> None:
    fair = FairnessRepository(server_db)
    mine, other = _id(), _id()
    await fair.insert_tickets(mine, [uuid.uuid4().hex for _ in range(5)], NOW)
    await fair.insert_tickets(other, [uuid.uuid4().hex for _ in range(3)], NOW)
    assert await fair.ticket_counts(mine) == (5, 0)
    claimed = await server_db["event_tickets"].find_one({"event_id": mine})
    assert await fair.claim_ticket(mine, claimed["_id"], _id(), NOW)
    assert await fair.ticket_counts(mine) == (5, 1)
    assert await fair.ticket_counts(other) == (3, 0)

    attendee = _id()
    votes = [
        {"event_id": mine, "team_id": f"t{i}", "attendee_id": attendee, "score": 3, "at": NOW}
        for i in range(3)
    ]
    votes.append({"event_id": other, "team_id": "t0", "attendee_id": attendee, "score": 1})
    votes.append({"event_id": mine, "team_id": "t0", "attendee_id": _id(), "score": 1})
    await server_db["event_votes"].insert_many(votes)
    assert await fair.votes_of(mine, attendee) == 3
    assert await fair.votes_of(other, attendee) == 1
    assert await fair.votes_of(mine, _id()) == 0


async def test_count_questions_counts_the_events_questions(server_db: Any) -> None:
    repo = ActivityRepository(server_db)
    mine, other = _id(), _id()
    for event_id, n in ((mine, 4), (other, 2)):
        for i in range(n):
            await repo.insert_question(
                {"event_id": event_id, "text": f"q{i}", "status": "shown", "votes": 0}
            )
    assert await repo.count_questions(mine) == 4
    assert await repo.count_questions(other) == 2
    assert await repo.count_questions(_id()) == 0


async def test_taken_names_the_field_in_use(server_db: Any) -> None:
    users = UserRepository(server_db)
    name = f"Taker{uuid.uuid4().hex[:8]}"
    email = f"{name.lower()}@example.org"
    added = await users.add_user(username=name, email=email, password_hash=STUB_HASH, now=NOW)
    assert not isinstance(added, Taken)
    fresh = f"{uuid.uuid4().hex[:8]}@example.org"
    assert await users.taken(username=f"new{uuid.uuid4().hex[:8]}", email=email) == Taken("email")
    assert await users.taken(username=name.upper(), email=fresh) == Taken("username")
    assert await users.taken(username=name, email=email) == Taken("email")
    assert await users.taken(username=f"new{uuid.uuid4().hex[:8]}", email=fresh) is None
