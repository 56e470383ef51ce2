"""Live events: the rules (who may do what, when) over single-document atomic operations.

Three "at most one" rules and how the database enforces each:
- one team on stage: the event document's `stage` field is the one truth. A switch is ONE
  atomic write of that document (`switch_stage`) that sets `stage`, closes the voting window
  and bumps `stage_gen` and `voting_gen` together, so a vote batch's check-and-set
  (`voting_open && voting_team == team && voting_gen == G`, same document) can never count a
  vote for a team that has left the stage, and a
  single field can never hold two teams — at least as strong as a partial unique index, with
  nothing to keep in step. (Until this version `teams.on_stage` mirrored it under a unique
  index, kept in step by a retry loop; the mirror, its loop and its index are gone. A
  database that still holds the `one_team_on_stage_per_event` index is harmless: nothing
  writes `on_stage` any more, and `livevote indexes check` reports only missing indexes;
  `db.teams.dropIndex("one_team_on_stage_per_event")` tidies it away.)
- one vote per attendee per team: the unique index on event_votes (see votes.py).
- votes only while the host keeps voting open for the team on stage: see votes.py.

Votes and joins go through group commit when the app provides it (`provide_events`):
concurrent ones of an event become one batch (votes.count_ballots, joins.admit).

`EventService` is what controllers, pages, the SSE stream and the demo seed call; besides it
only recount.py (the `livevote recount events` contract) reads through the repository.
"""

from __future__ import annotations

import secrets
import time

from bson import ObjectId
from litestar.datastructures import State

from livevote.errors import Conflict, Forbidden, NotFound, ServiceUnavailable, ValidationFailed
from livevote.events import admission, joins, votes
from livevote.events import recount as recounting
from livevote.events.admission import Caller, Joined
from livevote.events.fairness_repository import FairnessRepository
from livevote.events.joins import Joiner
from livevote.events.jury_recount import with_jury
from livevote.events.jury_rules import jury_fields
from livevote.events.ledger import new_receipt, receipt_hash
from livevote.events.repository import Database, EventRepository
from livevote.events.schemas import EVENT_LANGUAGES
from livevote.events.views import results_visible
from livevote.events.votes import Ballot, Fate, check_attendee
from livevote.infra import metrics
from livevote.infra.auth import Principal
from livevote.infra.groupcommit import GroupCommit, GroupCommits
from livevote.infra.hooks import NO_HOOKS, Hooks, provide_hooks
from livevote.infra.mongo import Doc
from livevote.infra.recount import RecountReport
from livevote.infra.resources import Clock, utc_now

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read aloud, typed on phones
CODE_LENGTH = 6
RETRIES = 20  # check-and-set attempts before answering 503 (each lost race means progress)


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(code: str) -> str:
    return code.strip().upper()


def _order() -> int:
    return time.time_ns()


class UnknownCode(NotFound):
    """404 for a join code no event has: the lookups that count against an address's budget
    of unknown codes (http.code_lookups)."""


def _ended() -> Conflict:
    return Conflict("the event has ended", type="event-ended")


def checked_language(language: str | None) -> str:
    """The stored form of an event's language: a supported code, or "" for each browser's
    own (null). Anything else is a 422 naming the choices."""
    if language is None:
        return ""
    if language not in EVENT_LANGUAGES:
        choices = ", ".join(EVENT_LANGUAGES)
        raise ValidationFailed(f"language must be one of {choices} or null, not {language!r}")
    return language


class EventService:
    def __init__(
        self, repo: EventRepository, clock: Clock = utc_now, commits: GroupCommits | None = None
    ) -> None:
        self.repo = repo
        self.clock = clock
        self.db: Database = repo.events.database
        # Group commit (infra/groupcommit.py): concurrent votes and joins of one event are
        # written and counted as one batch (votes.count_ballots, joins.admit). Without it
        # (commands, the demo seed, tests) each vote or join is a batch of its own.
        self._votes: GroupCommit[str, Ballot, Fate] | None = None
        self._joins: GroupCommit[str, Joiner, str] | None = None
        if commits is not None:
            self._votes = commits.get(
                "event_votes",
                lambda: GroupCommit("event_votes", lambda k, b: votes.count_ballots(repo, k, b)),
            )
            self._joins = commits.get(
                "event_joins",
                lambda: GroupCommit("event_joins", lambda k, j: joins.admit(repo, k, j)),
            )

    @classmethod
    def of(
        cls,
        db: Database,
        clock: Clock = utc_now,
        hooks: Hooks = NO_HOOKS,
        commits: GroupCommits | None = None,
    ) -> EventService:
        return cls(EventRepository(db, hooks), clock, commits)

    # -- reads --------------------------------------------------------------------------
    async def find(self, event_id: str) -> Doc | None:
        return await self.repo.get(event_id)

    async def find_by_code(self, code: str) -> Doc | None:
        """The event with this join code, typed in any case (None when there is none)."""
        event = await self.repo.by_code(normalise_code(code))
        if event is None and code != normalise_code(code):
            event = await self.repo.by_code(code)
        return event

    async def load(self, event_id: str) -> Doc:
        event = await self.repo.get(event_id)
        if event is None:
            raise NotFound(f"event {event_id!r} not found")
        return event

    async def load_by_code(self, code: str) -> Doc:
        code = normalise_code(code)[:12]
        event = await self.repo.by_code(code)
        if event is None:
            raise UnknownCode(f"no event with code {code!r}")
        return event

    async def load_as_host(self, event_id: str, user: Principal) -> Doc:
        event = await self.load(event_id)
        if event["host_id"] != user.subject:
            raise Forbidden("only the host of this event may do this")
        return event

    async def hosted_by(self, user: Principal) -> list[Doc]:
        return await self.repo.by_host(user.subject)

    @staticmethod
    def check_results_access(event: Doc, user: Principal | None) -> None:
        if user is not None and user.subject == event["host_id"]:
            return
        if not results_visible(event):
            raise Forbidden("results are hidden until the host reveals them", type="results-hidden")

    async def vote_log(self, event: Doc) -> list[Doc]:
        """Every stored vote of the event, oldest first (for the host's export)."""
        return await self.repo.vote_log(str(event["_id"]))

    # -- hosts --------------------------------------------------------------------------
    async def create_event(
        self,
        *,
        host_id: str,
        title: str,
        team_names: list[str],
        max_score: int,
        results: str,
        code: str | None = None,
        criteria: list[Doc] | None = None,
        jury_weight: float = 0.0,
        admission: str = "open",
        language: str | None = None,
    ) -> Doc:
        stored_language = checked_language(language)  # before anything is written
        now = self.clock()
        event_id = ObjectId()
        teams = {str(ObjectId()): name for name in team_names}
        await self.repo.insert_teams(str(event_id), teams)
        base = _order()
        doc: Doc = {
            "_id": event_id,
            "title": title,
            "host_id": host_id,
            "status": "draft",
            "max_score": max_score,
            "results": results,
            "admission": admission,  # open | tickets (admission.py)
            "language": stored_language,  # the pages' language, "" = each browser's
            "revealed": False,
            "stage": "",
            "stage_gen": 0,
            "voting_open": False,
            "voting_team": "",
            "voting_gen": 0,
            "teams": {
                tid: {"name": n, "order": base + i} for i, (tid, n) in enumerate(teams.items())
            },
            "tally": {tid: {"votes": 0, "score_sum": 0} for tid in teams},
            "vote_seq": 0,
            "attendees": 0,
            "last_batch": "",  # the counting chain (infra/batchcount.py): see votes.py
            "batch_seq": 0,
            # The pitch competition (jury.py): criteria, the jury and the reveal ceremony.
            **jury_fields(criteria, jury_weight),
            "created_at": now,
            "updated_at": now,
        }
        for _ in range(RETRIES):  # 31^6 ≈ 887 million codes: a collision is rare, retry
            doc["code"] = code or new_code()
            if await self.repo.insert_event(doc):
                metrics.business("event_create")
                return doc
            if code:
                await self.repo.delete_teams(str(event_id))  # created above for this event only
                raise Conflict(f"join code {code} is taken", type="code-taken")
        raise ServiceUnavailable("could not allocate a join code; retry")

    async def add_team(self, *, event: Doc, name: str) -> Doc:
        team_id = str(ObjectId())
        updated = await self.repo.add_team(str(event["_id"]), team_id, name, _order(), self.clock())
        if updated is None:
            raise _ended()
        return {"id": team_id, "name": name}

    async def put_on_stage(self, *, event: Doc, team_id: str | None) -> Doc:
        """Switch the stage to `team_id` (None: nobody) in one write that also closes voting:
        the host opens it again for the new team. Idempotent: re-putting the team on stage
        changes nothing (voting stays as it is)."""
        event_id = str(event["_id"])
        if team_id is not None and team_id not in (event.get("teams") or {}):
            raise NotFound(f"team {team_id!r} is not part of this event")
        wanted = team_id or ""
        for _ in range(RETRIES):
            updated = await self.repo.switch_stage(event_id, wanted, self.clock())
            if updated is not None:
                metrics.business("stage_switch")
                return updated
            current = await self.load(event_id)  # not switched: ended, or already there
            if current["status"] == "ended":
                raise _ended()
            if (current.get("stage") or "") == wanted:
                return current
        raise ServiceUnavailable("the stage keeps changing; retry")

    async def set_voting(self, *, event: Doc, open_: bool) -> Doc:
        event_id = str(event["_id"])
        if not open_:
            closed = await self.repo.close_voting(event_id, self.clock())
            if closed is None:
                raise _ended()
            return closed
        for _ in range(RETRIES):
            stage = event.get("stage") or ""
            if not stage:
                raise Conflict("put a team on stage before opening voting", type="no-team-on-stage")
            if event.get("status") == "ended":
                raise _ended()
            # Check-and-set on (stage, stage_gen): never opens voting for a team that just left.
            updated = await self.repo.open_voting(
                event_id, stage, event.get("stage_gen", 0), self.clock()
            )
            if updated is not None:
                metrics.business("voting_open")
                return updated
            event = await self.load(event_id)
        raise ServiceUnavailable("the stage keeps changing; retry")

    async def set_results_visible(self, *, event: Doc, visible: bool) -> Doc:
        updated = await self.repo.set_results_visible(str(event["_id"]), visible, self.clock())
        if updated is None:
            raise NotFound("event not found")
        return updated

    async def set_language(self, *, event: Doc, language: str | None) -> Doc:
        updated = await self.repo.set_language(
            str(event["_id"]), checked_language(language), self.clock()
        )
        if updated is None:
            raise NotFound("event not found")
        return updated

    async def end_event(self, *, event: Doc) -> Doc:
        event_id = str(event["_id"])
        updated = await self.repo.end_event(event_id, self.clock())
        if updated is None:  # already ended: idempotent
            return await self.load(event_id)
        metrics.business("event_end")
        return updated

    async def recount(self, *, event: Doc, fix: bool) -> RecountReport:
        counted = await recounting.recount_event(
            self.repo, str(event["_id"]), fix=fix, clock=self.clock
        )
        return await with_jury(self.repo, counted, fix=fix, clock=self.clock)

    # -- attendees ----------------------------------------------------------------------
    async def join(
        self, *, code: str, name: str | None, ticket: str | None, caller: Caller
    ) -> Joined:
        """Admit the caller under the event's admission mode (admission.py): a new attendee,
        or the same one again (a returning credential, a ticket claimed before)."""
        event = await self.load_by_code(code)
        if event["status"] == "ended":
            raise Conflict("this event has ended", type="event-ended")
        return await admission.admit(
            self.repo,
            FairnessRepository(self.db),
            event,
            name=name,
            ticket=ticket,
            caller=caller,
            now=self.clock(),
            store=self._store_attendee,
        )

    async def _store_attendee(self, event_id: str, name: str | None, fields: Doc) -> str:
        """A new attendee, stored and counted in a batch of joins (joins.admit)."""
        joiner: Joiner = (name, self.clock(), fields)
        if self._joins is not None:
            return await self._joins.submit(event_id, joiner)
        (attendee_id,) = await joins.admit(self.repo, event_id, [joiner])
        return attendee_id

    async def cast_vote(
        self,
        *,
        event_id: str,
        attendee: Principal,
        team_id: str,
        score: int | None,
        scores: dict[str, int] | None = None,
    ) -> tuple[int, str]:
        """Cast a vote; returns its points (a single criterion: the score itself) and its
        receipt (only its hash is stored: ledger.py)."""
        receipt = new_receipt()
        points = await votes.cast_vote(
            self.repo,
            event_id=event_id,
            attendee=attendee,
            team_id=team_id,
            score=score,
            now=self.clock(),
            receipt_hash=receipt_hash(receipt),
            submit=self._votes.submit if self._votes is not None else None,
            scores=scores,
        )
        return points, receipt

    async def my_votes(self, *, event: Doc, attendee: Principal) -> tuple[Doc | None, list[Doc]]:
        check_attendee(event, attendee)
        doc = await self.repo.attendee(attendee.subject)
        return doc, await self.repo.votes_of(str(event["_id"]), attendee.subject)


def provide_events(state: State) -> EventService:
    """The `events` dependency of the controllers and pages (db, clock, group commits and the
    fault-injection hooks from app.state; a Protocol cannot be a dependency's parameter type).
    It takes `state` alone, not the `db` and `clock` dependencies: Litestar resolves two or
    more dependencies of one level in an anyio task group, ~10 % of a vote's CPU (#13)."""
    commits: GroupCommits | None = getattr(state, "group_commits", None)
    db: Database = state.db
    clock: Clock = state.clock
    return EventService.of(db, clock, provide_hooks(state), commits)
