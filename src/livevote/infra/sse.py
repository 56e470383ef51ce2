"""SSE responses fed by the broadcaster (Litestar's own `ServerSentEvent`).

    return sse_stream(broadcaster, "event:<id>", settings.sse, stream="events")

The stream sends, in order:
1. `retry: <settings.sse.retry_ms>` (reconnect delay hint);
2. the channel's full `state` snapshot (`event: state`, `id: <n>`, `data: <json>`), so a
   (re)connecting client never misses anything;
3. every newer snapshot (coalesced by the broadcaster; `id:` monotonic per channel);
4. `: keep-alive` comments after `heartbeat_seconds` without a message;
5. after `max_stream_seconds`, a final `retry:` hint and the end of the response (clients
   reconnect and load-balancers rebalance);
6. on shutdown (SIGTERM/SIGINT, see broadcaster.close_streams) the same: a final `retry:`
   hint at once, so the graceful shutdown is not held open by streams.
A client disconnect cancels the generator (Litestar listens for `http.disconnect`); the
subscription is released and the `livevote_sse_streams_open{stream}` gauge is decremented in
`finally` either way. Frames are the broadcaster's pre-encoded bytes: nothing is re-encoded per
connection.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from litestar.response import ServerSentEvent
from litestar.response.sse import ServerSentEventMessage

from livevote.config import SseSettings
from livevote.infra import metrics
from livevote.infra.broadcaster import CLOSING, Broadcaster


class _Encoded(ServerSentEventMessage):
    """A frame encoded once by the broadcaster; Litestar writes it as is."""

    def __init__(self, frame: bytes) -> None:
        super().__init__()
        self.frame = frame

    def encode(self) -> bytes:
        return self.frame


_HEARTBEAT = _Encoded(b": keep-alive\n\n")


async def stream_messages(
    broadcaster: Broadcaster, key: str, settings: SseSettings, *, stream: str
) -> AsyncIterator[ServerSentEventMessage]:
    gauge = metrics.SSE_OPEN.labels(stream)
    gauge.inc()
    try:
        async with broadcaster.subscribe(key) as sub:
            yield _Encoded(b"retry: %d\n\n" % settings.retry_ms)
            if broadcaster.closing:
                sub.offer(CLOSING)
            deadline = time.monotonic() + settings.max_stream_seconds
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    yield _Encoded(
                        b": stream lifetime reached, reconnect\nretry: %d\n\n" % settings.retry_ms
                    )
                    return
                message = await sub.next(timeout=min(settings.heartbeat_seconds, remaining))
                if message is CLOSING:
                    yield _Encoded(
                        b": server shutting down, reconnect\nretry: %d\n\n" % settings.retry_ms
                    )
                    return
                yield _HEARTBEAT if message is None else _Encoded(message.frame)
    finally:
        gauge.dec()


def sse_stream(
    broadcaster: Broadcaster, key: str, settings: SseSettings, *, stream: str
) -> ServerSentEvent:
    """The Litestar response for one subscriber of channel `key`."""
    return ServerSentEvent(
        stream_messages(broadcaster, key, settings, stream=stream),
        headers={"Cache-Control": "no-cache, no-transform"},
    )
