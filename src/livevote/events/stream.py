"""Live event state over SSE: what the broadcaster watches and how a channel's state is built.

Channels: `event:<id>` (public: results only when visible) and `event:<id>:host` (results
always). All public state lives in the one event document, so watching `events` is enough
and a snapshot is one read. Payload (`event: state`): the public event view fields plus
`results` (list of {team_id, name, votes, score_sum, average, rank, audience, jury, final})
or null, and `reveal` (reveal.py) or null. The same stream also carries the companion
channels registered beside `event:` (activities/stream.py: `event: activities` frames).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from livevote.events import views
from livevote.events.reveal import reveal_state
from livevote.events.service import EventService
from livevote.infra.broadcaster import Broadcaster, Doc, document_id

PREFIX = "event:"
HOST_SUFFIX = ":host"


def channel_key(event_id: str, *, host: bool = False) -> str:
    return f"{PREFIX}{event_id}{HOST_SUFFIX if host else ''}"


def state_payload(event: Doc, *, host: bool) -> dict[str, Any]:
    state: dict[str, Any] = msgspec.to_builtins(views.public_view(event))
    show = host or views.results_visible(event)
    state["results"] = msgspec.to_builtins(views.results(event)) if show else None
    state["reveal"] = reveal_state(event)  # the ceremony: what the screen shows, for all
    return state


def install(b: Broadcaster) -> None:
    events = EventService.of(b.db)

    async def keys_for(change: Doc) -> Iterable[str] | None:
        event_id = document_id(change)
        if event_id is None:
            return None
        return (channel_key(event_id), channel_key(event_id, host=True))

    async def build(key: str) -> dict[str, Any] | None:
        host = key.endswith(HOST_SUFFIX)
        event_id = key[len(PREFIX) : len(key) - (len(HOST_SUFFIX) if host else 0)]
        event = await events.find(event_id)
        return state_payload(event, host=host) if event is not None else None

    b.watch("events", keys_for)
    b.channel(PREFIX, build)
