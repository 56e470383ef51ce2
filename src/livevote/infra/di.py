"""Request dependencies resolved one after another (issue 13).

Litestar resolves the dependencies of a handler that do not depend on each other concurrently:
for two or more of them, every request opens an anyio task group and spawns one task per
dependency (a cancel scope, a task, a handle each). Ours are state lookups and a token check
from memory (`Provide(..., sync_to_thread=False)` over `app.state`, `current_user`); the one
that reads MongoDB (events/http.py `host_event`) needs the others, so it is alone in its batch:
concurrency gains nothing, and the task group cost 5.5 % of a feed worker's CPU
(py-spy, 300 req/s) — two dependencies there, four on an event vote. `install()` makes
Litestar await them in order instead: the same batches (a dependency still runs after the
ones it needs), the same first error raised, nothing run after it.

Patches `litestar._kwargs.kwargs_model.KwargsModel.resolve_dependencies` (litestar pinned in
requirements.lock; tests/unit/test_di.py fails if its shape changes).
"""

from __future__ import annotations

from typing import Any

from litestar._kwargs.cleanup import DependencyCleanupGroup
from litestar._kwargs.dependencies import resolve_dependency
from litestar._kwargs.kwargs_model import KwargsModel
from litestar.connection import ASGIConnection


async def resolve_in_order(
    self: KwargsModel, connection: ASGIConnection[Any, Any, Any, Any], kwargs: dict[str, Any]
) -> DependencyCleanupGroup:
    """KwargsModel.resolve_dependencies without the task group: batch by batch (a batch's
    dependencies only need those of earlier batches), one dependency after another."""
    cleanup_group = DependencyCleanupGroup()
    for batch in self.dependency_batches:
        for dependency in batch:
            await resolve_dependency(dependency, connection, kwargs, cleanup_group)
    return cleanup_group


def install() -> None:
    KwargsModel.resolve_dependencies = resolve_in_order  # type: ignore[method-assign]
