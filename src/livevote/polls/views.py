"""Poll documents and service results → API views (pure functions, no I/O).

A feed item is kept as a plain dict (`poll_item`) because the feed caches batches as JSON in
Redis; a feed page is rendered once into the bytes of its body (feed.py `render`, the FeedOut
struct's fields) and `feed_response` serves those bytes as they are.
"""

from __future__ import annotations

from typing import Any

from litestar import Response

from livevote.infra.mongo import Doc
from livevote.polls.cache import RenderedPage
from livevote.polls.schemas import OptionStats, PollOut, ResponseOut, StatsOut

_JSON = "application/json"


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


def feed_response(page: RenderedPage, if_none_match: str | None) -> Response[bytes]:
    """A feed page (fresh or cached) as its rendered body, with its ETag; 304 when the client
    already holds this page (`If-None-Match`)."""
    headers = {"etag": page.etag}
    if if_none_match is not None and page.etag.removeprefix("W/") in _etags(if_none_match):
        return Response(b"", status_code=304, headers=headers)
    return Response(page.body, media_type=_JSON, headers=headers)


def _etags(if_none_match: str) -> list[str]:
    """The entity tags of an If-None-Match header, as opaque tags (If-None-Match uses the
    weak comparison: W/"x" and "x" match, RFC 9110 13.1.2)."""
    return [t.strip().removeprefix("W/") for t in if_none_match.split(",")]


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
