"""Refusals remembered in-process, so a refused client's next requests are refused at the edge.

A sliding-window refusal is exact about when it ends: the window cannot free before its oldest
entry expires, and other workers can only fill it more. So once Redis has refused a rule's key,
this process may refuse that key again until then without asking Redis (infra/edge.EdgeGuard).
Keyed by what the rule counted — its Redis key *and* its limit, so an address refused at
factor 1 never shortcuts an attendee request counted at the venue factor. Bounded: expired
entries are dropped when full, then the oldest.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

REFUSALS_MAX = 10_000


@dataclass(frozen=True)
class Refusal:
    until: float  # time.monotonic() at which the key may pass again
    limit: int
    rule: str  # the rule's name: address, user, attendee, page, code-lookups


class RefusalMemo:
    def __init__(self, capacity: int = REFUSALS_MAX) -> None:
        self.capacity = capacity
        self._entries: dict[str, Refusal] = {}
        self._last_until = 0.0  # when the latest-ending refusal ends

    def __len__(self) -> int:
        return len(self._entries)

    def __bool__(self) -> bool:
        """Whether any refusal may still hold. Once the latest-ending one has expired, every
        entry has: they are all forgotten, so the edge is back on its fast path (an entry
        nobody asked about again would otherwise keep the memo non-empty for ever)."""
        if self._entries and time.monotonic() >= self._last_until:
            self._entries.clear()
        return bool(self._entries)

    def remember(self, key: str, limit: int, rule: str, seconds: float) -> None:
        """Refuse `key` (counted at `limit`) for the next `seconds`."""
        entries = self._entries
        entries.pop(key, None)
        if len(entries) >= self.capacity:
            now = time.monotonic()
            for stale in [k for k, r in entries.items() if r.until <= now]:
                del entries[stale]
            while len(entries) >= self.capacity:
                del entries[next(iter(entries))]  # oldest first
        until = time.monotonic() + seconds
        entries[key] = Refusal(until, limit, rule)
        self._last_until = max(self._last_until, until)

    def check(self, key: str) -> tuple[Refusal, float] | None:
        """(the refusal, seconds left) while `key` is refused, else None (expired: forgotten)."""
        refusal = self._entries.get(key)
        if refusal is None:
            return None
        left = refusal.until - time.monotonic()
        if left <= 0:
            del self._entries[key]
            return None
        return refusal, left
