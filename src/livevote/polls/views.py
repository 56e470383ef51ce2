"""Poll documents and service results → API views (pure functions, no I/O).

A feed item is kept as a plain dict (`poll_item`) because the feed caches pages and batches
as JSON in Redis; `feed_view` turns a page of them into the API struct on the way out.
"""

from __future__ import annotations

from typing import Any

from livevote.infra.mongo import Doc
from livevote.polls.schemas import FeedOut, OptionStats, PollOut, ResponseOut, StatsOut


def poll_item(doc: Doc) -> dict[str, Any]:
    """A poll document → its feed item, JSON-ready (the form the feed caches)."""
    return {
        "id": doc["key"],
        "title": doc["title"],
        "options": list(doc["options"]),
        "tags": list(doc.get("tags", [])),
        "created_at": doc["created_at"].isoformat(),
        "created_by": doc.get("created_by", ""),
    }


def poll_view(doc: Doc) -> PollOut:
    return PollOut(**poll_item(doc))


def feed_view(page: dict[str, Any]) -> FeedOut:
    """A feed page {items, page, limit, has_more, next_cursor} (fresh or cached)."""
    return FeedOut(
        items=[PollOut(**item) for item in page["items"]],
        page=int(page["page"]),
        limit=int(page["limit"]),
        has_more=bool(page["has_more"]),
        next_cursor=page["next_cursor"],
    )


def vote_view(poll_key: str, option_index: int, daily_votes_remaining: int) -> ResponseOut:
    return ResponseOut(
        poll_id=poll_key,
        kind="vote",
        option_index=option_index,
        daily_votes_remaining=daily_votes_remaining,
    )


def skip_view(poll_key: str) -> ResponseOut:
    return ResponseOut(poll_id=poll_key, kind="skip")


def stats_view(poll_key: str, options: list[str], votes: list[int]) -> StatsOut:
    """Votes per option with their share of the total (percent to one decimal, 0 when none)."""
    total = sum(votes)
    return StatsOut(
        poll_id=poll_key,
        total=total,
        options=[
            OptionStats(
                index=i,
                text=text,
                votes=votes[i],
                percent=round(100 * votes[i] / total, 1) if total else 0.0,
            )
            for i, text in enumerate(options)
        ],
    )
