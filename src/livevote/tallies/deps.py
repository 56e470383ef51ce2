"""Dependencies of the election routes (controllers.py, results.py, pages.py): the service
with this app's clock, hooks, settings and read cache; the reads; path ids."""

from __future__ import annotations

from bson import ObjectId
from litestar.datastructures import State
from pymongo.asynchronous.database import AsyncDatabase

from livevote.config import Settings
from livevote.infra.groupcommit import GroupCommit, GroupCommits
from livevote.infra.hooks import provide_hooks
from livevote.infra.mongo import Doc
from livevote.infra.resources import Clock
from livevote.infra.validation import object_id
from livevote.tallies.batching import ReportBatches
from livevote.tallies.cache import ReadCache
from livevote.tallies.reads import ElectionReads
from livevote.tallies.repository import ElectionRepository
from livevote.tallies.service import ElectionService


def read_cache(state: State, settings: Settings) -> ReadCache:
    return ReadCache(getattr(state, "redis", None), settings.redis.prefix)


def provide_elections(state: State) -> ElectionService:
    """The election rules; the concurrent plain reports of an election are written together
    (one `ballot_reports` group commit per app, keyed by the election: batching.py).
    Everything comes from `state`, not from the db/clock/settings dependencies: five
    dependencies resolved per request for values that never change (with Litestar's task
    group per level, before infra/di, ~25 % of a ballot report's app CPU in the profile, #13)."""
    # The hooks come from app.state too: Litestar isinstance-checks an injected value
    # against its annotation, which a plain Protocol refuses.
    settings: Settings = state.settings
    db: AsyncDatabase[Doc] = state.db
    clock: Clock = state.clock
    group_commits: GroupCommits = state.group_commits
    service = ElectionService(
        ElectionRepository(db),
        clock=clock,
        hooks=provide_hooks(state),
        hold_seconds=settings.pending_report_delay_seconds,
        cache=read_cache(state, settings),
        max_cities=settings.elections.max_cities,
        max_boxes=settings.elections.max_boxes,
    )
    service.writer = group_commits.get(
        "ballot_reports",
        lambda: GroupCommit("ballot_reports", ReportBatches(service).flush),
    )
    return service


def election_oid(election_id: str) -> ObjectId:
    return object_id(election_id, "election")


def provide_reads(state: State) -> ElectionReads:
    """The reads (from `state` alone, like `provide_elections`)."""
    settings: Settings = state.settings
    db: AsyncDatabase[Doc] = state.db
    return ElectionReads(db, ElectionRepository(db), read_cache(state, settings))
