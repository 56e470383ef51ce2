"""Poll rules: creation, votes and skips (one response per user per poll), the daily vote
limit and statistics. Raises AppErrors; the feed walk lives in feed.py."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, time, timedelta
from typing import Any

from livevote.errors import Conflict, Forbidden, NotFound, RateLimited, ValidationFailed
from livevote.infra import metrics
from livevote.infra.auth import Principal
from livevote.infra.mongo import Doc
from livevote.infra.resources import Clock
from livevote.infra.validation import object_id
from livevote.polls.cache import PollCache
from livevote.polls.repository import DuplicateKeyError, PollRepository


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


async def create_poll(
    repo: PollRepository,
    *,
    title: str,
    options: list[str],
    tags: list[str],
    user_id: str,
    clock: Clock,
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
    doc = await repo.insert_poll(
        title=title, options=options, tags=tags, user_id=user_id, now=clock()
    )
    metrics.business("poll_create")
    return doc


async def _poll_options(repo: PollRepository, key: str) -> list[str]:
    options = await repo.options(key)
    if options is None:
        raise NotFound(f"poll {key} not found")
    return options


async def _refuse_second_response(repo: PollRepository, key: str, user_id: str, op: str) -> None:
    kind = await repo.response_kind(poll_key=key, user_id=user_id)
    if kind is not None:
        metrics.business(op, "conflict")
        done = "voted" if kind == "vote" else "skipped"
        verb = "voted on" if kind == "vote" else "skipped"
        raise Conflict(f"you already {verb} this poll", type=f"already-{done}")


def _next_midnight(now: datetime) -> datetime:
    return datetime.combine(now.date() + timedelta(days=1), time(), tzinfo=now.tzinfo)


async def cast_vote(
    repo: PollRepository,
    cache: PollCache,
    *,
    key: str,
    user_id: str,
    option_index: int,
    daily_limit: int,
    clock: Clock,
) -> dict[str, Any]:
    options = await _poll_options(repo, key)
    if option_index >= len(options):
        raise ValidationFailed(
            f"optionIndex must be between 0 and {len(options) - 1} for this poll"
        )
    # Cheap early answer for the common repeat; the unique index below is what guarantees it.
    await _refuse_second_response(repo, key, user_id, "vote")
    now = clock().astimezone(UTC)  # the limit counts per UTC day
    day, midnight = now.date().isoformat(), _next_midnight(now)
    count = await repo.take_daily_slot(
        user_id=user_id, day=day, limit=daily_limit, expires_at=midnight + timedelta(days=1)
    )
    if count is None:
        metrics.business("vote", "daily_limit")
        wait = max(1, math.ceil((midnight - now).total_seconds()))
        raise RateLimited(
            f"daily vote limit of {daily_limit} reached; it resets at "
            f"{midnight.strftime('%Y-%m-%dT%H:%M:%SZ')} (in {wait // 3600}h {wait % 3600 // 60}m)",
            retry_after=wait,
            type="daily-vote-limit",
            title="Daily vote limit reached",
            extra={"limit": daily_limit, "resets_at": midnight.isoformat()},
        )
    try:
        await repo.insert_response(
            poll_key=key, user_id=user_id, kind="vote", option_index=option_index, now=now
        )
    except DuplicateKeyError:
        await repo.release_daily_slot(user_id=user_id, day=day)  # keep the limit exact
        await _refuse_second_response(repo, key, user_id, "vote")
        raise
    counters = await repo.count_vote(key, option_index)
    if counters is not None:
        await cache.put_stats(key, counters)
    await cache.invalidate_feed(user_id)
    metrics.business("vote")
    return {
        "poll_id": key,
        "kind": "vote",
        "option_index": option_index,
        "daily_votes_remaining": max(0, daily_limit - count),
    }


async def skip_poll(
    repo: PollRepository, cache: PollCache, *, key: str, user_id: str, clock: Clock
) -> dict[str, Any]:
    await _poll_options(repo, key)
    await _refuse_second_response(repo, key, user_id, "skip")
    try:
        await repo.insert_response(
            poll_key=key, user_id=user_id, kind="skip", option_index=None, now=clock()
        )
    except DuplicateKeyError:
        await _refuse_second_response(repo, key, user_id, "skip")
        raise
    await cache.invalidate_feed(user_id)
    metrics.business("skip")
    return {"poll_id": key, "kind": "skip"}


def _stats(key: str, options: list[str], votes: list[int]) -> dict[str, Any]:
    total = sum(votes)
    return {
        "poll_id": key,
        "total": total,
        "options": [
            {
                "index": i,
                "text": text,
                "votes": votes[i],
                "percent": round(100 * votes[i] / total, 1) if total else 0.0,
            }
            for i, text in enumerate(options)
        ],
    }


async def poll_stats(repo: PollRepository, cache: PollCache, *, key: str) -> dict[str, Any]:
    cached = await cache.get_stats(key)
    cache.count("stats", hit=cached is not None)
    if cached is not None:
        options = list(json.loads(cached["options"]))
        return _stats(key, options, [int(cached.get(f"v{i}", 0)) for i in range(len(options))])
    counters = await repo.counters(key)
    if counters is None:
        raise NotFound(f"poll {key} not found")
    await cache.put_stats(key, counters)
    options = list(counters["options"])
    votes = counters["votes"]
    return _stats(key, options, [int(votes.get(str(i), 0)) for i in range(len(options))])
