"""The pitch competition's rules: criteria, jurors and their score sheets, the lock, the
reveal ceremony and duplicating an event (DESIGN.md "The pitch competition, complete").

Rules and where the database enforces each:
- Criteria change only while nobody has scored against them (409 criteria-locked): one
  check-and-set on the event (`voting_opened` absent — set by repository.open_voting — no
  juror has begun, `criteria_gen` as read): jury_repository.set_criteria.
- One sheet per juror per team, replaced whole: unique index `one_sheet_per_juror_per_team`
  (indexes/jury_sheets.json) and one upsert that `$set`s the whole `scores` document
  (jury_repository.put_sheet, which also closes NX-27017's upsert gap).
- No sheet after the lock (409 jury-locked), by check-and-set, not read-then-write: the
  lock flags every (juror, team) slot (placeholders for the empty ones) and the sheet upsert
  matches only an unflagged slot, so a write racing the lock either lands before the flag or
  is refused by the unique index (jury_repository.lock_slots / put_sheet).
- Juror tokens are stored only as SHA-256 hashes (jury_rules.token_hash); a token of another
  event is 403.
- The jury tally on the event document moves by each sheet's difference; a change lost to a
  crash is rebuilt from the sheets by recount (jury_recount.py).
- The reveal moves one place at a time by check-and-set on `reveal_step` (reveal.py).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from bson import ObjectId

from livevote.errors import Conflict, Forbidden, NotFound, ServiceUnavailable, Unauthorized
from livevote.events import reveal
from livevote.events.jury_repository import JuryRepository, SheetStored
from livevote.events.jury_rules import check_criteria, check_scores, token_hash
from livevote.events.service import EventService
from livevote.events.standings import criteria_of
from livevote.events.views import ordered_teams
from livevote.infra import metrics
from livevote.infra.auth import Principal
from livevote.infra.mongo import Doc

RETRIES = 20


def locked_error() -> Conflict:
    return Conflict("the jury is locked: scores can no longer change", type="jury-locked")


@dataclass(frozen=True)
class NewJuror:
    juror_id: str
    name: str
    token: str
    link: str


def juror_link(base: str, event_id: str, token: str) -> str:
    # The token rides in the fragment: browsers never send it to a server or a log.
    return f"{base}/jury/{event_id}#token={token}"


def ordered_jurors(event: Doc) -> list[tuple[str, str]]:
    jurors = event.get("jurors") or {}
    items = sorted(jurors.items(), key=lambda kv: (kv[1].get("order", 0), kv[0]))
    return [(jid, j["name"]) for jid, j in items]


class JuryService:
    def __init__(self, events: EventService, repo: JuryRepository) -> None:
        self.events = events
        self.repo = repo
        self.clock = events.clock

    @classmethod
    def of(cls, events: EventService) -> JuryService:
        return cls(events, JuryRepository(events.repo.events.database))

    # -- criteria and the jury's weight (host) -----------------------------------------
    async def set_criteria(
        self, *, event: Doc, criteria: list[Doc], max_score: int | None = None
    ) -> Doc:
        wanted = check_criteria(criteria)
        updated = await self.repo.set_criteria(
            str(event["_id"]), wanted, max_score, event.get("criteria_gen"), self.clock()
        )
        if updated is None:
            raise Conflict(
                "criteria are fixed once voting has opened or a juror has scored",
                type="criteria-locked",
            )
        return updated

    async def set_jury(self, *, event: Doc, locked: bool | None, weight: float | None) -> Doc:
        event_id = str(event["_id"])
        if weight is not None:
            updated = await self.repo.set_jury_weight(event_id, weight, self.clock())
            if updated is None:
                raise locked_error()
            event = updated
        if locked is True:
            event = await self.lock(event=event)
        elif locked is False:
            event = await self.unlock(event=event)
        return event

    async def lock(self, *, event: Doc) -> Doc:
        """Lock the jury (idempotent: locking again finishes a lock cut short by a crash)."""
        event_id = str(event["_id"])
        updated = await self.repo.set_locked_flag(event_id, True, self.clock())
        if updated is None:
            raise NotFound("event not found")
        jurors = [jid for jid, _ in ordered_jurors(updated)]
        teams = [tid for tid, _ in ordered_teams(updated)]
        await self.repo.lock_slots(event_id, jurors, teams)
        metrics.business("jury_lock")
        return updated

    async def unlock(self, *, event: Doc) -> Doc:
        event_id = str(event["_id"])
        await self.repo.unlock_slots(event_id)
        updated = await self.repo.set_locked_flag(event_id, False, self.clock())
        if updated is None:
            raise NotFound("event not found")
        return updated

    # -- jurors (host) -----------------------------------------------------------------
    async def add_juror(self, *, event: Doc, name: str, base: str) -> NewJuror:
        if event.get("jury_locked"):
            raise locked_error()
        event_id = str(event["_id"])
        juror_id = str(ObjectId())
        token = secrets.token_urlsafe(24)
        now = self.clock()
        await self.repo.insert_juror(event_id, juror_id, name, token_hash(token), now)
        if await self.repo.enrol_juror(event_id, juror_id, name, time.time_ns(), now) is None:
            await self.repo.delete_juror(juror_id)  # locked meanwhile: the token never works
            raise locked_error()
        metrics.business("juror_add")
        return NewJuror(juror_id, name, token, juror_link(base, event_id, token))

    async def progress(self, *, event: Doc) -> dict[str, Any]:
        """The host's grid: which juror has scored which team."""
        sheets = await self.repo.sheets_of(str(event["_id"]))
        done = {(s["juror_id"], s["team_id"]) for s in sheets}
        teams = ordered_teams(event)
        return {
            "event_id": str(event["_id"]),
            "locked": bool(event.get("jury_locked")),
            "jury_weight": float(event.get("jury_weight") or 0.0),
            "teams": [{"id": tid, "name": name} for tid, name in teams],
            "jurors": [
                {
                    "juror_id": jid,
                    "name": name,
                    "scored": [tid for tid, _ in teams if (jid, tid) in done],
                }
                for jid, name in ordered_jurors(event)
            ],
        }

    # -- jurors (their own token) ------------------------------------------------------
    async def authenticate(self, *, event: Doc, token: str | None) -> Doc:
        """The juror behind a Bearer token: 401 without a valid one, 403 for another event."""
        if not token:
            raise Unauthorized("a juror token is required (Authorization: Bearer <token>)")
        juror = await self.repo.juror_by_token_hash(token_hash(token))
        if juror is None:
            raise Unauthorized("unknown juror token", type="invalid-token")
        if juror["event_id"] != str(event["_id"]):
            raise Forbidden("this juror token belongs to another event", type="juror-other-event")
        if str(juror["_id"]) not in (event.get("jurors") or {}):
            raise Unauthorized("unknown juror token", type="invalid-token")
        return juror

    async def juror_view(self, *, event: Doc, juror: Doc) -> dict[str, Any]:
        sheets = await self.repo.sheets_of(str(event["_id"]), str(juror["_id"]))
        return {
            "juror_id": str(juror["_id"]),
            "name": juror["name"],
            "event_id": str(event["_id"]),
            "title": event["title"],
            "locked": bool(event.get("jury_locked")),
            "max_score": int(event["max_score"]),
            "criteria": criteria_of(event),
            "teams": [{"id": tid, "name": name} for tid, name in ordered_teams(event)],
            "sheets": {s["team_id"]: s["scores"] for s in sheets},
        }

    async def put_sheet(
        self, *, event: Doc, juror: Doc, team_id: str, scores: dict[str, Any]
    ) -> dict[str, int]:
        """Replace this juror's sheet for the team (see the module docstring)."""
        event_id, juror_id = str(event["_id"]), str(juror["_id"])
        for _ in range(RETRIES):
            if event.get("jury_locked"):
                raise locked_error()
            if team_id not in (event.get("teams") or {}):
                raise NotFound(f"team {team_id!r} is not part of this event")
            sheet = check_scores(event, scores)
            if await self.repo.mark_scoring(event_id, event.get("criteria_gen")):
                break
            event = await self.events.load(event_id)  # locked, or the criteria changed
        else:
            raise ServiceUnavailable("the criteria keep changing; retry")
        for _ in range(RETRIES):
            now = self.clock()
            result = await self.repo.put_sheet(event_id, juror_id, team_id, sheet, now)
            if isinstance(result, SheetStored):
                old = result.previous or {}
                delta = {c: sheet[c] - int(old.get(c, 0)) for c in sheet}
                await self.repo.add_to_tally(event_id, team_id, delta, result.previous is None, now)
                metrics.business("jury_sheet")
                return sheet
            if result.locked:
                raise locked_error()
            # Lost the race to insert this slot: it exists now, the next try updates it.
        raise ServiceUnavailable("this score sheet keeps changing; retry")

    # -- the reveal ceremony (host) ----------------------------------------------------
    async def reveal_next(self, *, event: Doc) -> Doc:
        return await reveal.reveal_next(self.repo, event, self.clock, self.events.load)

    # -- duplicate (host) --------------------------------------------------------------
    async def duplicate(
        self, *, event: Doc, user: Principal, base: str
    ) -> tuple[Doc, list[NewJuror]]:
        """A new event with the same teams, criteria, weights and jury (new tokens), no votes."""
        copy = await self.events.create_event(
            host_id=user.subject,
            title=event["title"],
            team_names=[name for _, name in ordered_teams(event)],
            max_score=int(event["max_score"]),
            results=str(event.get("results") or "live"),
            criteria=criteria_of(event),
            jury_weight=float(event.get("jury_weight") or 0.0),
            language=event.get("language") or None,
        )
        jurors = [
            await self.add_juror(event=copy, name=name, base=base)
            for _, name in ordered_jurors(event)
        ]
        metrics.business("event_duplicate")
        return await self.events.load(str(copy["_id"])), jurors
