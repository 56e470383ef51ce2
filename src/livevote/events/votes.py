"""Casting a vote: one vote per attendee per team, counted exactly once, only while open.

The rule and where it lives: the unique index (event_id, team_id, attendee_id) on
event_votes (indexes/event_votes.json) admits one vote; the counting check-and-set on the
event document (repository.count_vote_if_open) accepts it only while `voting_open &&
voting_team == team`, the same document the stage switch and the host's close write.
"""

from __future__ import annotations

import time
from datetime import datetime

from bson import ObjectId

from livevote.errors import Conflict, Forbidden, NotFound, ValidationFailed
from livevote.events.repository import AlreadyVoted, EventRepository
from livevote.infra import metrics
from livevote.infra.auth import Principal
from livevote.infra.mongo import Doc

# Vote pre-checks read the event through this short cache (see _event_for_vote).
VOTE_CACHE_SECONDS = 2.0
_vote_cache: dict[str, tuple[float, Doc]] = {}


def check_attendee(event: Doc, attendee: Principal) -> None:
    if attendee.event_id != str(event["_id"]):
        raise Forbidden("this attendee credential belongs to another event")


def _open_for(event: Doc, team_id: str) -> bool:
    return bool(event.get("voting_open")) and event.get("voting_team") == team_id


async def _event_for_vote(repo: EventRepository, event_id: str, *, fresh: bool) -> Doc:
    """The event as seen by the vote pre-checks, cached for a moment: the pre-checks only
    save work (the check-and-set below is authoritative), and a "not open"/"unknown team"
    answer is always re-read fresh before it is given."""
    now = time.monotonic()
    hit = None if fresh else _vote_cache.get(event_id)
    if hit is not None and hit[0] > now:
        return hit[1]
    event = await repo.get(event_id)
    if event is None:
        raise NotFound(f"event {event_id!r} not found")
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
    now: datetime,
    receipt_hash: str = "",
) -> None:
    """Record one vote (`receipt_hash`: stored with it for the ledger, ledger.py). Order of
    operations, and why it is exact:

    1. insert the vote (unique index): a second vote by the same attendee for the same team
       answers `AlreadyVoted` → 409 already-voted;
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
    if (event.get("voided") or {}).get(attendee.subject):  # the host voided them: integrity.py
        raise Forbidden("the host has voided this attendee's votes", type="attendee-voided")
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
    stored = await repo.insert_vote(event_id, team_id, attendee.subject, score, now, receipt_hash)
    if isinstance(stored, AlreadyVoted):
        if stored.stored is not None:
            await _finish_stored_vote(repo, event_id, stored.stored, now)
        metrics.business("event_vote", "duplicate")
        raise Conflict("you already voted for this team", type="already-voted")
    # If this raises, the outcome is unknown: the vote document stays, and a retry (or
    # `recount`) finishes counting it exactly once.
    counted = await repo.count_vote_if_open(event_id, team_id, score, now, stored)
    # A concurrent retry of this same vote may have counted it first (its marker is set).
    if not counted and not await repo.is_counted(event_id, stored):
        await repo.delete_vote(stored)
        metrics.business("event_vote", "closed")
        raise Conflict("voting for this team is not open", type="voting-closed")
    metrics.business("event_vote")


async def _finish_stored_vote(
    repo: EventRepository, event_id: str, vote: Doc, now: datetime
) -> None:
    """A retry of a vote whose first attempt was stored but maybe not counted: count it now
    if it is not counted yet and voting is still open (idempotent through its marker)."""
    vote_id: ObjectId = vote["_id"]
    if await repo.is_counted(event_id, vote_id):
        return
    if await repo.count_vote_if_open(event_id, vote["team_id"], int(vote["score"]), now, vote_id):
        metrics.business("event_vote", "finished_on_retry")
