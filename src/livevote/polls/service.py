"""Poll rules: creation, votes and skips (one response per user per poll), the daily vote
limit and statistics. Raises AppErrors; the feed walk lives in feed.py, the Mongo code in
repository.py, the Redis caches in cache.py.

`PollService` binds the rules to one request's repository, cache and clock; controllers get it
from `poll_service` (a Litestar dependency) and never see the repository.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, time, timedelta

from litestar.datastructures import State
from redis.asyncio import Redis

from livevote.config import Settings
from livevote.errors import Conflict, Forbidden, NotFound, RateLimited, ValidationFailed
from livevote.infra import metrics
from livevote.infra.auth import Principal
from livevote.infra.groupcommit import GroupCommit, GroupCommits, provide_group_commits
from livevote.infra.hooks import Hooks, provide_hooks
from livevote.infra.mongo import Doc
from livevote.infra.prefetch import Prefetch
from livevote.infra.resources import (
    Clock,
    provide_clock,
    provide_db,
    provide_redis,
    provide_settings,
)
from livevote.infra.validation import object_id
from livevote.polls import feed
from livevote.polls.cache import PollCache, RenderedPage
from livevote.polls.counting import VoteCounting, VoteWriter
from livevote.polls.repository import Database, NewVote, PollRepository


def poll_key(raw: str) -> str:
    """A path id → the poll's key; an id that cannot exist is a 404."""
    return str(object_id(raw, "poll"))


def check_user_id(claimed: str | None, user: Principal) -> None:
    """seed 002 lets clients send `userId`; it may only name the caller."""
    if claimed is not None and claimed != user.subject:
        raise Forbidden("userId does not match the authenticated user", type="user-mismatch")


def _duplicates(values: list[str]) -> list[str]:
    seen: set[str] = set()
    dupes = []
    for value in values:
        folded = value.casefold()
        if folded in seen:
            dupes.append(value)
        seen.add(folded)
    return dupes


def _already_answered(kind: str, op: str) -> Conflict:
    """The 409 for a second response; `kind` is the response the user gave before."""
    metrics.business(op, "conflict")
    done = "voted" if kind == "vote" else "skipped"
    verb = "voted on" if kind == "vote" else "skipped"
    return Conflict(f"you already {verb} this poll", type=f"already-{done}")


def _next_midnight(now: datetime) -> datetime:
    return datetime.combine(now.date() + timedelta(days=1), time(), tzinfo=now.tzinfo)


def _daily_limit_reached(daily_limit: int, now: datetime, midnight: datetime) -> RateLimited:
    wait = max(1, math.ceil((midnight - now).total_seconds()))
    return RateLimited(
        f"daily vote limit of {daily_limit} reached; it resets at "
        f"{midnight.strftime('%Y-%m-%dT%H:%M:%SZ')} (in {wait // 3600}h {wait % 3600 // 60}m)",
        retry_after=wait,
        type="daily-vote-limit",
        title="Daily vote limit reached",
        extra={"limit": daily_limit, "resets_at": midnight.isoformat()},
    )


_SERVICE = "livevote_poll_service"


def poll_service(state: State) -> PollService:
    """The Litestar dependency: the poll rules over the app's database, Redis, settings, clock
    and hooks; the concurrent votes of one poll are written together (one group commit per app).
    Built once per app and kept in its state: it holds nothing of a request, and building it
    (and resolving six dependencies for it) on every request cost ~10 % of a feed page's CPU."""
    found: PollService | None = state.get(_SERVICE)
    if found is None:
        found = state[_SERVICE] = _build(
            provide_db(state),
            provide_redis(state),
            provide_settings(state),
            provide_clock(state),
            provide_hooks(state),
            provide_group_commits(state),
        )
    return found


def _build(
    db: Database,
    redis: Redis,
    settings: Settings,
    clock: Clock,
    hooks: Hooks,
    group_commits: GroupCommits,
) -> PollService:
    repo = PollRepository(db, hooks)
    counting = VoteCounting(repo, hooks)
    votes = group_commits.get(
        "poll_votes", lambda: GroupCommit("poll_votes", counting.store_and_count)
    )
    return PollService(
        repo,
        PollCache(redis, settings.redis.prefix),
        counting,
        votes,
        clock=clock,
        daily_limit=settings.limits.daily_votes,
    )


class PollService:
    """`votes` writes each vote (with the concurrent votes of its poll, under group commit);
    `counting` finishes a stored vote that a crash left uncounted."""

    def __init__(
        self,
        repo: PollRepository,
        cache: PollCache,
        counting: VoteCounting,
        votes: VoteWriter | None = None,
        *,
        clock: Clock,
        daily_limit: int,
    ) -> None:
        self.repo = repo
        self.cache = cache
        self.counting = counting
        self.votes: VoteWriter = votes or counting
        self.clock = clock
        self.daily_limit = daily_limit

    async def create_poll(
        self, *, title: str, options: list[str], tags: list[str], user_id: str
    ) -> Doc:
        title = title.strip()
        options = [o.strip() for o in options]
        tags = [t.lower() for t in tags]
        if not title:
            raise ValidationFailed("title must not be blank")
        if not all(options):
            raise ValidationFailed("options must not be blank")
        if dupes := _duplicates(options):
            raise ValidationFailed(f"options must be distinct: {dupes[0]!r} appears more than once")
        if dupes := _duplicates(tags):
            raise ValidationFailed(f"tags must be distinct: {dupes[0]!r} appears more than once")
        doc = await self.repo.insert_poll(
            title=title, options=options, tags=tags, user_id=user_id, now=self.clock()
        )
        metrics.business("poll_create")
        return doc

    async def feed_page(
        self,
        *,
        user_id: str,
        tag: str | None,
        q: str | None,
        page: int,
        limit: int,
        cursor: str | None,
        prefetch: Prefetch | None = None,
    ) -> RenderedPage:
        """Newest first, only polls the user has neither voted on nor skipped (feed.py): the
        page rendered (its response body and ETag)."""
        return await feed.feed_page(
            self.repo,
            self.cache,
            user_id=user_id,
            tag=tag.lower() if tag else None,
            q=q.strip() or None if q else None,
            page=page,
            limit=limit,
            cursor=cursor,
            prefetch=prefetch,
        )

    async def _poll_options(self, key: str) -> list[str]:
        options = await self.repo.options(key)
        if options is None:
            raise NotFound(f"poll {key} not found")
        return options

    async def _refuse_second_response(self, key: str, user_id: str, op: str) -> None:
        """A user's second response is refused; a stored vote whose count a crash cut short
        is counted first (the user's retry finishes it, exactly once: counting.py)."""
        earlier = await self.repo.response(poll_key=key, user_id=user_id)
        if earlier is not None:
            await self.counting.finish(key, earlier)
            raise _already_answered(earlier.kind, op)

    async def cast_vote(self, *, key: str, user_id: str, option_index: int) -> int:
        """Store and count the user's vote; returns the votes left today."""
        options = await self._poll_options(key)
        if option_index >= len(options):
            raise ValidationFailed(
                f"optionIndex must be between 0 and {len(options) - 1} for this poll"
            )
        # Cheap early answer for the common repeat; the unique index below is what guarantees it.
        await self._refuse_second_response(key, user_id, "vote")
        now = self.clock().astimezone(UTC)  # the limit counts per UTC day
        day, midnight = now.date().isoformat(), _next_midnight(now)
        count = await self.repo.take_daily_slot(
            user_id=user_id,
            day=day,
            limit=self.daily_limit,
            expires_at=midnight + timedelta(days=1),
        )
        if count is None:
            metrics.business("vote", "daily_limit")
            raise _daily_limit_reached(self.daily_limit, now, midnight)
        try:
            outcome = await self.votes.submit(key, NewVote(user_id, option_index, now))
        except Exception:
            await self._release_unless_stored(key, user_id, day)
            raise
        if outcome.earlier is not None:
            await self.repo.release_daily_slot(user_id=user_id, day=day)  # keep the limit exact
            await self.counting.finish(key, outcome.earlier)
            raise _already_answered(outcome.earlier.kind, "vote")
        if outcome.counters is not None:
            await self.cache.put_stats(key, outcome.counters)
        await self.cache.invalidate_feed(user_id)
        metrics.business("vote")
        return max(0, self.daily_limit - count)

    async def _release_unless_stored(self, key: str, user_id: str, day: str) -> None:
        """The write failed (refused by a full group commit, an outage, a crash): its batch is
        over, so a vote not stored now never will be, and gives its slot back. If even this
        read fails, the slot stays taken: the user can never exceed the limit."""
        try:
            stored = await self.repo.response(poll_key=key, user_id=user_id)
        except Exception:  # the caller re-raises the write's own error
            return
        if stored is None:
            await self.repo.release_daily_slot(user_id=user_id, day=day)

    async def skip_poll(self, *, key: str, user_id: str) -> None:
        await self._poll_options(key)
        await self._refuse_second_response(key, user_id, "skip")
        earlier = await self.repo.record_skip(poll_key=key, user_id=user_id, now=self.clock())
        if earlier is not None:
            raise _already_answered(earlier, "skip")
        await self.cache.invalidate_feed(user_id)
        metrics.business("skip")

    async def poll_stats(self, *, key: str) -> tuple[list[str], list[int]]:
        """The poll's options and votes per option: from the cached snapshot, else MongoDB."""
        cached = await self.cache.get_stats(key)
        self.cache.count("stats", hit=cached is not None)
        if cached is not None:
            options = list(json.loads(cached["options"]))
            return options, [int(cached.get(f"v{i}", 0)) for i in range(len(options))]
        counters = await self.repo.counters(key)
        if counters is None:
            raise NotFound(f"poll {key} not found")
        await self.cache.put_stats(key, counters)
        options = list(counters["options"])
        votes = counters["votes"]
        return options, [int(votes.get(str(i), 0)) for i in range(len(options))]
