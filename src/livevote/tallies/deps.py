"""The tallies domain's dependency for controllers and pages: an ElectionService over a
repository (controllers never build or see a repository themselves)."""

from __future__ import annotations

from litestar.datastructures import State

from livevote.config import Settings
from livevote.infra.hooks import provide_hooks
from livevote.infra.resources import Clock
from livevote.tallies.repository import Database, ElectionRepository
from livevote.tallies.service import ElectionService


def provide_elections(
    db: Database, clock: Clock, settings: Settings, state: State
) -> ElectionService:
    """The `elections` dependency of controllers and pages."""
    return ElectionService(
        ElectionRepository(db),
        clock=clock,
        hooks=provide_hooks(state),
        hold_seconds=settings.pending_report_delay_seconds,
    )
