"""The per-connection side of the broadcaster: an encoded SSE frame (`Message`, built once
per update and shared by every subscriber) and a subscriber's slot (`Subscription`), which
holds only the newest frame — so a slow reader skips states, never blocks the others, and a
stream costs one slot plus its connection, nothing per update."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

Doc = dict[str, Any]


@dataclass(frozen=True)
class Message:
    """One encoded SSE frame (`frame`), shared by every subscriber of a channel."""

    key: str
    id: int
    frame: bytes


# Offered to every subscriber when the process starts shutting down (SIGTERM/SIGINT): the SSE
# response ends at once with a reconnect hint instead of holding the graceful shutdown open.
CLOSING = Message("", 0, b"")


def encode_frame(event: str, event_id: int, data: bytes) -> bytes:
    """An SSE frame; `data` is single-line JSON (msgspec never emits raw newlines)."""
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event_id, event.encode(), data)


def document_id(change: Doc) -> str | None:
    """The changed document's `_id` as a string (ObjectId, NX-27017 dict form, or plain)."""
    key = change.get("documentKey") or {}
    value = key.get("_id")
    if value is None:
        full = change.get("fullDocument") or {}
        value = full.get("_id")
    if isinstance(value, dict) and "id" in value:  # NX-27017: {"__neosqlite_objectid__": ..}
        value = value["id"]
    if value is None:
        return None
    return str(value)


class Subscription:
    """A per-connection slot holding only the newest message."""

    __slots__ = ("_latest", "_ready", "key")

    def __init__(self, key: str) -> None:
        self.key = key
        self._latest: Message | None = None
        self._ready = asyncio.Event()

    def offer(self, message: Message) -> None:
        self._latest = message
        self._ready.set()

    async def next(self, timeout: float | None = None) -> Message | None:  # noqa: ASYNC109
        """The newest message not yet taken, or None after `timeout` seconds."""
        if not self._ready.is_set():
            try:
                # asyncio.timeout, not wait_for: no extra task per wait (10k streams × 10/s)
                async with asyncio.timeout(timeout):
                    await self._ready.wait()
            except TimeoutError:
                return None
        self._ready.clear()
        message, self._latest = self._latest, None
        return message
