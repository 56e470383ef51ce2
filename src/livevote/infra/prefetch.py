"""Reads that ride on the rate limit's Redis round trip (issue 13).

Every /api request already makes one Redis round trip: the rate limit's script
(infra/ratelimit). A route that will read Redis too names the reads it is about to make in its
`opt` (`PREFETCH`: a function (scope, rules) -> Prefetch | None, called by RateLimitMiddleware
once the request's rules are known); they are sent in the same pipeline, and the handler finds
the replies in the scope (`PREFETCHED`). The poll feed uses it: a cached page then costs one
Redis round trip, not two.
"""

from __future__ import annotations

from typing import Any

PREFETCH = "redis_prefetch"  # route opt: reads sent with the rate limit
PREFETCHED = "livevote_prefetched"  # scope state: the route's Prefetch, replies in


class Prefetch:
    """Reads a route asks to ride on the rate limit's round trip (route opt `PREFETCH`: a
    function (scope, rules) -> Prefetch | None). The handler finds the replies by command
    (`replies`); a command that was not sent, or whose reply was an error, has none and the
    handler reads it itself: the prefetch is only ever a shortcut, never a source of truth."""

    def __init__(self, commands: list[tuple[Any, ...]]) -> None:
        self.commands = commands
        self._replies: dict[tuple[Any, ...], Any] = {}

    def __bool__(self) -> bool:
        return bool(self.commands)

    def store(self, replies: list[Any]) -> None:
        for command, reply in zip(self.commands, replies, strict=True):
            if not isinstance(reply, Exception):
                self._replies[command] = reply

    def replies(self, commands: list[tuple[Any, ...]]) -> list[Any] | None:
        """The replies to all of `commands`, or None unless every one was prefetched."""
        if not all(c in self._replies for c in commands):
            return None
        return [self._replies[c] for c in commands]
