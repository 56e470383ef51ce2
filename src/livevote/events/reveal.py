"""The reveal ceremony: with results hidden, the host reveals one place at a time on the
screen, from last to first (`POST /api/events/{id}/reveal/next`); phones show what the
screen shows. The step lives on the event document (`reveal_step`), moved by check-and-set,
so two clicks at once reveal two places, never the same one twice; the last step also
makes the results visible to everyone (`revealed`).

State for the screen and the phones (`reveal` in the SSE state and the pages' first paint):
    {step, total, complete, places: [{place, team_id, name, final, rank, audience, jury}]}
with `places` the revealed ones only, best last (the one revealed most recently).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from livevote.errors import Conflict, ServiceUnavailable
from livevote.events.jury_repository import JuryRepository
from livevote.events.standings import podium_order, standings
from livevote.events.views import results_visibility
from livevote.infra import metrics
from livevote.infra.mongo import Doc
from livevote.infra.resources import Clock

RETRIES = 20


def reveal_state(event: Doc) -> dict[str, Any] | None:
    """The ceremony as the screen shows it; None before the first reveal."""
    step = int(event.get("reveal_step") or 0)
    if step <= 0:
        return None
    ordered = podium_order(standings(event))
    total = len(ordered)
    shown = ordered[max(0, total - step) :]
    places = [
        {"place": total - i, **msgspec.to_builtins(row)} for i, row in enumerate(reversed(shown))
    ]
    # reversed(shown) runs last place first: places[i] is place total - i.
    return {"step": min(step, total), "total": total, "complete": step >= total, "places": places}


async def reveal_next(
    repo: JuryRepository, event: Doc, clock: Clock, load: Callable[[str], Awaitable[Doc]]
) -> Doc:
    """Reveal one more place; 409 when results are already visible or all are revealed."""
    event_id = str(event["_id"])
    for _ in range(RETRIES):
        total = len(event.get("teams") or {})
        step = event.get("reveal_step")
        if total == 0 or int(step or 0) >= total:
            raise Conflict("every place is revealed", type="reveal-complete")
        if results_visibility(event) != "hidden":
            raise Conflict(
                "the reveal is for hidden results: these are already visible",
                type="results-visible",
            )
        updated = await repo.advance_reveal(event_id, step, total, clock())
        if updated is not None:
            metrics.business("reveal_next")
            return updated
        event = await load(event_id)  # another reveal won, or the host showed the results
    raise ServiceUnavailable("the reveal keeps changing; retry")
