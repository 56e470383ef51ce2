"""Live events: the rules (who may do what, when) over single-document atomic operations.

Three "at most one" rules and how the database enforces each:
- one team on stage: the event document's `stage` is the public truth (switched by one
  atomic update); the `teams.on_stage` presence field has a unique index, so the database
  itself never holds two presenting teams. After switching `stage`, `_sync_stage` makes the
  teams collection follow (unset the old, set the new, re-check `stage_gen`, repeat): several
  hosts or processes racing converge to the last switch, and a crash half-way is repaired by
  the next switch. Readers build `on_stage` from the one event document, so no reader ever
  observes two teams on stage, not even between the unset and the set.
- one vote per attendee per team: the unique index on event_votes.
- votes only while the host keeps voting open for the team on stage: see `cast_vote`.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import weakref
from datetime import datetime
from typing import Any

from bson import ObjectId

from livevote.errors import Conflict, Forbidden, NotFound, ServiceUnavailable, ValidationFailed
from livevote.events.repository import DuplicateKeyError, EventRepository
from livevote.events.schemas import RecountOut, TallyDifference
from livevote.events.views import results_visible
from livevote.infra import metrics
from livevote.infra.auth import Principal
from livevote.infra.mongo import Doc
from livevote.infra.resources import Clock

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read aloud, typed on phones
CODE_LENGTH = 6

# Vote pre-checks read the event through this short cache (see _event_for_vote).
VOTE_CACHE_SECONDS = 2.0
_vote_cache: dict[str, tuple[float, Doc]] = {}

# Per-process serialisation of stage switches (cuts retries; correctness does not rely on it).
_stage_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def _order() -> int:
    return time.time_ns()


async def load(repo: EventRepository, event_id: str) -> Doc:
    event = await repo.get(event_id)
    if event is None:
        raise NotFound(f"event {event_id!r} not found")
    return event


async def load_by_code(repo: EventRepository, code: str) -> Doc:
    code = code.strip().upper()[:12]
    event = await repo.by_code(code)
    if event is None:
        raise NotFound(f"no event with code {code!r}")
    return event


async def load_as_host(repo: EventRepository, event_id: str, user: Principal) -> Doc:
    event = await load(repo, event_id)
    if event["host_id"] != user.subject:
        raise Forbidden("only the host of this event may do this")
    return event


def _ensure_not_ended(event: Doc | None) -> Doc:
    if event is None:
        raise Conflict("the event has ended", type="event-ended")
    return event


async def create_event(
    repo: EventRepository,
    *,
    host_id: str,
    title: str,
    team_names: list[str],
    max_score: int,
    results: str,
    clock: Clock,
    code: str | None = None,
) -> Doc:
    now = clock()
    event_id = ObjectId()
    teams = {str(ObjectId()): name for name in team_names}
    await repo.insert_teams(str(event_id), teams)
    base = _order()
    doc: Doc = {
        "_id": event_id,
        "title": title,
        "host_id": host_id,
        "status": "draft",
        "max_score": max_score,
        "results": results,
        "revealed": False,
        "stage": "",
        "stage_gen": 0,
        "voting_open": False,
        "voting_team": "",
        "teams": {tid: {"name": n, "order": base + i} for i, (tid, n) in enumerate(teams.items())},
        "tally": {tid: {"votes": 0, "score_sum": 0} for tid in teams},
        "vote_seq": 0,
        "attendees": 0,
        "created_at": now,
        "updated_at": now,
    }
    for _ in range(20):  # 31^6 ≈ 887 million codes: a collision is rare, retry on the index
        doc["code"] = code or new_code()
        try:
            await repo.insert_event(doc)
        except DuplicateKeyError:
            if code:
                await repo.delete_teams(str(event_id))  # created above for this event only
                raise Conflict(f"join code {code} is taken", type="code-taken") from None
            continue
        metrics.business("event_create")
        return doc
    raise ServiceUnavailable("could not allocate a join code; retry")


async def add_team(repo: EventRepository, *, event: Doc, name: str, clock: Clock) -> Doc:
    team_id = str(ObjectId())
    updated = await repo.add_team(str(event["_id"]), team_id, name, _order(), clock())
    _ensure_not_ended(updated)
    return {"id": team_id, "name": name}


async def put_on_stage(
    repo: EventRepository, *, event: Doc, team_id: str | None, clock: Clock
) -> Doc:
    """Switch the stage to `team_id` (None: nobody). A switch closes voting: the host opens
    it again for the new team. Idempotent: re-putting the team on stage changes nothing."""
    event_id = str(event["_id"])
    if team_id is not None and team_id not in (event.get("teams") or {}):
        raise NotFound(f"team {team_id!r} is not part of this event")
    key = f"{id(asyncio.get_running_loop())}:{event_id}"  # a lock belongs to one loop
    lock = _stage_locks.get(key)
    if lock is None:
        lock = _stage_locks[key] = asyncio.Lock()
    async with lock:
        current = await load(repo, event_id)
        if (current.get("stage") or None) == team_id and current["status"] != "ended":
            await _sync_stage(repo, event_id)  # already there: keep voting as it is
            return current
        update: Doc = {
            "$set": {"stage": team_id or "", "voting_open": False, "voting_team": ""},
            "$inc": {"stage_gen": 1},
        }
        if team_id:
            update["$set"]["status"] = "live"
        updated = _ensure_not_ended(await repo.update_open_event(event_id, update, clock()))
        await _sync_stage(repo, event_id)
    metrics.business("stage_switch")
    return updated


async def _sync_stage(repo: EventRepository, event_id: str) -> None:
    """Make the teams' `on_stage` presence field follow the event's `stage` (see module doc)."""
    for attempt in range(200):
        state = await repo.stage_state(event_id)
        if state is None:
            return
        stage, gen = state.get("stage") or "", state.get("stage_gen", 0)
        await repo.clear_stage_except(event_id, stage)
        if stage:
            try:
                await repo.mark_on_stage(event_id, stage)
            except DuplicateKeyError:
                # Another switch (maybe in another process) holds it for a newer/older stage.
                await asyncio.sleep(0.002 * min(attempt + 1, 10))
                continue
        again = await repo.stage_state(event_id)
        if again is None or again.get("stage_gen", 0) == gen:
            return
    raise ServiceUnavailable("stage switch did not settle; retry")


async def set_voting(repo: EventRepository, *, event: Doc, open_: bool, clock: Clock) -> Doc:
    event_id = str(event["_id"])
    if not open_:
        update = {"$set": {"voting_open": False, "voting_team": ""}}
        return _ensure_not_ended(await repo.update_open_event(event_id, update, clock()))
    for _ in range(20):
        stage = event.get("stage") or ""
        if not stage:
            raise Conflict("put a team on stage before opening voting", type="no-team-on-stage")
        if event.get("status") == "ended":
            raise Conflict("the event has ended", type="event-ended")
        # Check-and-set on (stage, stage_gen): never opens voting for a team that just left.
        updated = await repo.open_voting_if_stage(
            event_id, stage, event.get("stage_gen", 0), clock()
        )
        if updated is not None:
            metrics.business("voting_open")
            return updated
        event = await load(repo, event_id)
    raise ServiceUnavailable("the stage keeps changing; retry")


async def set_results_visible(
    repo: EventRepository, *, event: Doc, visible: bool, clock: Clock
) -> Doc:
    fields: Doc = {"revealed": visible}
    if not visible:
        fields["results"] = "hidden"
    updated = await repo.set_fields(str(event["_id"]), fields, clock())
    if updated is None:
        raise NotFound("event not found")
    return updated


async def end_event(repo: EventRepository, *, event: Doc, clock: Clock) -> Doc:
    event_id = str(event["_id"])
    update = {
        "$set": {"status": "ended", "voting_open": False, "voting_team": "", "stage": ""},
        "$inc": {"stage_gen": 1},
    }
    updated = await repo.update_open_event(event_id, update, clock())
    if updated is None:  # already ended: idempotent
        return await load(repo, event_id)
    await _sync_stage(repo, event_id)
    metrics.business("event_end")
    return updated


async def join(
    repo: EventRepository, *, code: str, name: str | None, clock: Clock
) -> tuple[Doc, str]:
    event = await load_by_code(repo, code)
    if event["status"] == "ended":
        raise Conflict("this event has ended", type="event-ended")
    attendee_id = await repo.add_attendee(str(event["_id"]), name, clock())
    metrics.business("event_join")
    return event, attendee_id


def check_attendee(event: Doc, attendee: Principal) -> None:
    if attendee.event_id != str(event["_id"]):
        raise Forbidden("this attendee credential belongs to another event")


async def _event_for_vote(repo: EventRepository, event_id: str, *, fresh: bool) -> Doc:
    """The event as seen by the vote pre-checks, cached for a moment: the pre-checks only
    save work (the check-and-set below is authoritative), and a "not open"/"unknown team"
    answer is always re-read fresh before it is given."""
    now = time.monotonic()
    hit = None if fresh else _vote_cache.get(event_id)
    if hit is not None and hit[0] > now:
        return hit[1]
    event = await load(repo, event_id)
    if len(_vote_cache) > 10_000:
        _vote_cache.clear()
    _vote_cache[event_id] = (now + VOTE_CACHE_SECONDS, event)
    return event


async def cast_vote(
    repo: EventRepository,
    *,
    event_id: str,
    attendee: Principal,
    team_id: str,
    score: int,
    clock: Clock,
) -> None:
    """Record one vote. Order of operations, and why it is exact:

    1. insert the vote (unique index): a second vote by the same attendee for the same team
       fails here → 409 already-voted;
    2. count it with ONE check-and-set on the event document: `$inc` the tally only if
       `{voting_open: true, voting_team: team_id}` still matches → the vote is accepted at that
       instant, atomically with the host's "close" (another single update of the same document);
    3. if the check-and-set does not match, delete the vote → 409 voting-closed.

    The check-and-set also sets the vote's `counted.<vote id>` marker in the same update and
    only matches while it is absent, so counting is idempotent: when a client retries after a
    lost answer (an outage between 1 and 2), the duplicate insert finds the stored vote and
    finishes counting it if voting is still open — exactly once, however many retries race.

    So every 201 was counted while voting was open, and once the host's close has returned no
    tally changes any more (the results read right after closing are final). The alternative
    (check first, then insert, then `$inc` a separate tally) lets votes admitted just before
    the close still land after it. A crash between 1 and 2 leaves an uncounted vote document;
    `recount` reports it (and counts it when fixing).
    """
    event = await _event_for_vote(repo, event_id, fresh=False)
    event_id = str(event["_id"])  # canonical form, as stored in the votes
    check_attendee(event, attendee)
    if team_id not in (event.get("teams") or {}) or not _open_for(event, team_id):
        event = await _event_for_vote(repo, event_id, fresh=True)
    if team_id not in (event.get("teams") or {}):
        raise NotFound(f"team {team_id!r} is not part of this event")
    max_score = int(event["max_score"])
    if not 1 <= score <= max_score:
        raise ValidationFailed(f"score must be between 1 and {max_score}")
    if not _open_for(event, team_id):
        metrics.business("event_vote", "closed")
        raise Conflict("voting for this team is not open", type="voting-closed")
    now = clock()
    try:
        vote_id = await repo.insert_vote(event_id, team_id, attendee.subject, score, now)
    except DuplicateKeyError:
        await _finish_stored_vote(repo, event_id, team_id, attendee.subject, now)
        metrics.business("event_vote", "duplicate")
        raise Conflict("you already voted for this team", type="already-voted") from None
    # If this raises, the outcome is unknown: the vote document stays, and a retry (or
    # `recount`) finishes counting it exactly once.
    counted = await repo.count_vote_if_open(event_id, team_id, score, now, vote_id)
    # A concurrent retry of this same vote may have counted it first (its marker is set).
    if not counted and not await repo.is_counted(event_id, vote_id):
        await repo.delete_vote(vote_id)
        metrics.business("event_vote", "closed")
        raise Conflict("voting for this team is not open", type="voting-closed")
    metrics.business("event_vote")


async def _finish_stored_vote(
    repo: EventRepository, event_id: str, team_id: str, attendee_id: str, now: datetime
) -> None:
    """A retry of a vote whose first attempt was stored but maybe not counted: count it now
    if it is not counted yet and voting is still open (idempotent through its marker)."""
    existing = await repo.find_vote(event_id, team_id, attendee_id)
    if existing is None or await repo.is_counted(event_id, existing["_id"]):
        return
    if await repo.count_vote_if_open(
        event_id, team_id, int(existing["score"]), now, existing["_id"]
    ):
        metrics.business("event_vote", "finished_on_retry")


def _open_for(event: Doc, team_id: str) -> bool:
    return bool(event.get("voting_open")) and event.get("voting_team") == team_id


def check_results_access(event: Doc, user: Principal | None) -> None:
    if user is not None and user.subject == event["host_id"]:
        return
    if not results_visible(event):
        raise Forbidden("results are hidden until the host reveals them", type="results-hidden")


async def my_votes(
    repo: EventRepository, *, event: Doc, attendee: Principal
) -> tuple[Doc | None, list[Doc]]:
    check_attendee(event, attendee)
    doc = await repo.attendee(attendee.subject)
    return doc, await repo.votes_of(str(event["_id"]), attendee.subject)


async def recount(repo: EventRepository, *, event_id: str, fix: bool, clock: Clock) -> RecountOut:
    """Recompute tallies from event_votes; report differences and (if `fix`) write them."""
    for _ in range(20):
        event = await load(repo, event_id)
        stored: dict[str, Any] = event.get("tally") or {}
        counted = await repo.count_votes(event_id)
        diffs = []
        for tid in sorted(set(stored) | set(counted) | set(event.get("teams") or {})):
            s = stored.get(tid) or {}
            c = counted.get(tid) or {"votes": 0, "score_sum": 0}
            sv, ss = int(s.get("votes", 0)), int(s.get("score_sum", 0))
            if (sv, ss) != (c["votes"], c["score_sum"]):
                diffs.append(TallyDifference(tid, sv, ss, c["votes"], c["score_sum"]))
        if not diffs or not fix:
            return RecountOut(event_id, not diffs, False, diffs)
        fixed = {
            d.team_id: {"votes": d.counted_votes, "score_sum": d.counted_score_sum} for d in diffs
        }
        vote_ids = await repo.vote_ids(event_id)
        if await repo.replace_tallies_if_unchanged(
            event_id, int(event.get("vote_seq", 0)), fixed, vote_ids, clock()
        ):
            metrics.business("event_recount", "fixed")
            return RecountOut(event_id, False, True, diffs)
    raise ServiceUnavailable("votes keep arriving; recount again when voting is closed")
