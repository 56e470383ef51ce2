"""Demo activities for the demo event (livevote/demo.py): one of each kind, a few questions."""

from __future__ import annotations

from typing import Any

from livevote.activities.schemas import ActivityIn
from livevote.activities.service import ActivityService
from livevote.infra.auth import Principal

ACTIVITIES = [
    ActivityIn(
        kind="choice",
        prompt="Which pitch surprised you most?",
        options=["Solar Sprout", "ByteBakers", "Quiet Cities", "OpenTide"],
    ),
    ActivityIn(kind="wordcloud", prompt="One word for tonight?"),
    ActivityIn(kind="rating", prompt="How useful was this session?", scale=5),
    ActivityIn(kind="open", prompt="What should we do better next time?"),
    ActivityIn(
        kind="ranking",
        prompt="Rank what matters most in a startup",
        options=["Team", "Market", "Product", "Timing"],
    ),
    ActivityIn(
        kind="quiz",
        prompt="In which year did the first iPhone launch?",
        options=["2005", "2007", "2009", "2010"],
        correct=1,
        time_limit_s=20,
    ),
]
QUESTIONS = [
    "How do the judges weigh the audience vote?",
    "Will the slides be shared after the event?",
    "What happens to the winning team next?",
]


async def seed_activities(db: Any, event_id: str) -> None:
    service = ActivityService.of(db)
    for data in ACTIVITIES:
        await service.create(event_id=event_id, data=data)
    qa = service.questions()
    for n, text in enumerate(QUESTIONS):
        asker = Principal(f"demo-asker-{n}", "attendee", {"evt": event_id})
        await qa.ask(event_id=event_id, attendee=asker, text=text, name=None)
