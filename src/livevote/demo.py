"""Demo data for `livevote serve` (settings.demo): a host account, a running event with
activities, polls for the feed and an election mid-count.

Idempotent: does nothing when the demo event (code DEMO42) exists, nor when the demo account
has the demo election. Log in as demo@livevote.dev / demo-password; attendees join with
code DEMO42; the newsroom console (/newsroom) shows the election. Production sets
LIVEVOTE_DEMO=false.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from livevote.accounts.repository import DuplicateKeyError, UserRepository
from livevote.activities.demo import seed_activities
from livevote.config import Settings
from livevote.errors import Conflict
from livevote.events.jury import JuryService
from livevote.events.service import EventService
from livevote.infra.auth import hash_password
from livevote.infra.mongo import Doc, apply_indexes
from livevote.infra.resources import utc_now
from livevote.polls.demo import seed_polls
from livevote.tallies.demo import seed_election_mid_count

log = logging.getLogger("livevote.demo")

DEMO_EMAIL = "demo@livevote.dev"
DEMO_PASSWORD = "demo-password"  # noqa: S105 - published demo credential
DEMO_CODE = "DEMO42"
DEMO_TEAMS = ["Solar Sprout", "ByteBakers", "Quiet Cities", "OpenTide", "Nimbus Health"]
DEMO_CRITERIA = [
    {"name": "Pitch", "weight": 2},
    {"name": "Product", "weight": 1},
    {"name": "Impact", "weight": 1},
]
DEMO_JURY_WEIGHT = 0.4
# Two jurors; the first has already scored the first two teams, so the host console's
# progress grid and the results show the jury at once.
DEMO_JURORS = {
    "Grace Hopper": [
        {"Pitch": 4, "Product": 5, "Impact": 4},
        {"Pitch": 3, "Product": 4, "Impact": 5},
    ],
    "Linus Pauling": [],
}


async def seed_demo(db: Any, settings: Settings) -> None:
    events = EventService.of(db, utc_now)
    if await events.find_by_code(DEMO_CODE) is not None:
        print(f"demo: event {DEMO_CODE} present; host login {DEMO_EMAIL} / {DEMO_PASSWORD}")
        await seed_demo_election(db, await _demo_host(db))
        return
    await apply_indexes(db)  # the unique indexes must exist before anything is written
    host = await _demo_host(db)
    await seed_demo_election(db, host)
    try:
        event = await events.create_event(
            host_id=str(host["_id"]),
            title="Pitch Night",
            team_names=DEMO_TEAMS,
            max_score=5,
            results="live",
            code=DEMO_CODE,
            criteria=DEMO_CRITERIA,
            jury_weight=DEMO_JURY_WEIGHT,
        )
    except Conflict:  # created concurrently by another process
        return
    base = settings.public_url or f"http://{settings.host}:{settings.port}"
    links = await seed_jury(events, event, base)
    await seed_activities(db, str(event["_id"]))
    await seed_polls(db, str(host["_id"]))
    first = next(iter(event["teams"]))
    event = await events.put_on_stage(event=event, team_id=first)
    await events.set_voting(event=event, open_=True)
    log.warning(
        "demo event seeded: host login %s / %s, join code %s, screen %s/screen/%s",
        DEMO_EMAIL,
        DEMO_PASSWORD,
        DEMO_CODE,
        base,
        DEMO_CODE,
    )
    print(
        f"demo: host login {DEMO_EMAIL} / {DEMO_PASSWORD}; attendees join with code "
        f"{DEMO_CODE} at {base}/e/{DEMO_CODE}; projector: {base}/screen/{DEMO_CODE}; "
        f"newsroom: {base}/newsroom"
    )
    for name, link in links.items():
        print(f"demo: juror {name}: {link}")


async def seed_jury(events: EventService, event: Doc, base: str) -> dict[str, str]:
    """The demo jury: its members' secret links (printed once, like the host's console)."""
    jury = JuryService.of(events)
    teams = list(event["teams"])
    links = {}
    for name, sheets in DEMO_JURORS.items():
        juror = await jury.add_juror(event=event, name=name, base=base)
        links[name] = juror.link
        doc = await jury.authenticate(event=await events.load(str(event["_id"])), token=juror.token)
        for team_id, scores in zip(teams, sheets, strict=False):
            await jury.put_sheet(
                event=await events.load(str(event["_id"])),
                juror=doc,
                team_id=team_id,
                scores=scores,
            )
    return links


async def _demo_host(db: Any) -> Any:
    await apply_indexes(db)
    users = UserRepository(db)
    host = await users.by_email(DEMO_EMAIL)
    if host is None:
        try:
            host = await users.insert(
                username="demo",
                email=DEMO_EMAIL,
                password_hash=await asyncio.to_thread(hash_password, DEMO_PASSWORD),
                now=utc_now(),
            )
        except DuplicateKeyError:
            host = await users.by_email(DEMO_EMAIL)
    assert host is not None
    return host


async def seed_demo_election(db: Any, host: Any) -> None:
    """An election mid-count: 6 cities, about 45% of the boxes in over the last two hours,
    two corrections (idempotent: skipped when the demo account has it)."""
    await seed_election_mid_count(db, str(host["_id"]))
