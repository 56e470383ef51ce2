"""Demo polls for `scripts/serve`: a few tagged polls with some votes already counted, so the
feed (/feed) and its statistics have something to show. Idempotent per host (seeded once,
when the demo event is created)."""

from __future__ import annotations

import random

from bson import ObjectId

from livevote.infra.resources import utc_now
from livevote.polls.counting import VoteCounting
from livevote.polls.repository import Database, NewVote, PollRepository

DEMO_POLLS = [
    ("Which pitch should win the audience prize?", ["Solar Sprout", "ByteBakers",
     "Quiet Cities", "OpenTide", "Nimbus Health"], ["pitchnight"]),
    ("Coffee or tea during the break?", ["Coffee", "Tea", "Neither"], ["break", "fun"]),
    ("How did you hear about tonight?", ["A friend", "Social media", "Newsletter",
     "Walking by"], ["feedback"]),
    ("Should next year's event be in spring?", ["Yes", "No", "Don't mind"], ["planning"]),
    ("Best demo so far?", ["The robot", "The app", "The map"], ["pitchnight", "fun"]),
    ("Would you use a ticketed vote for the jury?", ["Yes", "No"], ["fairness"]),
]  # fmt: skip


async def seed_polls(db: Database, host_id: str) -> None:
    repo = PollRepository(db)
    counting = VoteCounting(repo)
    rng = random.Random(42)  # the same demo every time
    for title, options, tags in DEMO_POLLS:
        poll = await repo.insert_poll(
            title=title, options=options, tags=tags, user_id=host_id, now=utc_now()
        )
        voters = rng.randint(12, 40)
        votes = [
            NewVote(str(ObjectId()), rng.choices(range(len(options)), k=1)[0])
            for _ in range(voters)
        ]
        await counting.store_and_count(poll["key"], votes)
