"""Fault-injection seam: code on a write path calls `hooks.reached("<point>")` at each named
point where a crash would leave interesting state behind. Production passes nothing to
`create_app` and every call is a no-op; tests and chaos runs pass an object that raises there
(tests/support/faults.py) to prove exactly-once under failure.

The hooks object is `app.state.hooks`, and the `hooks` dependency for handlers and workers.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from litestar.datastructures import State


@runtime_checkable
class Hooks(Protocol):
    def reached(self, point: str) -> None:
        """Called at a named point; may raise to simulate a crash there."""


class NoHooks:
    """The production hooks: nothing happens anywhere."""

    def reached(self, point: str) -> None:
        return None


NO_HOOKS: Hooks = NoHooks()


def provide_hooks(state: State) -> Hooks:
    hooks: Hooks = getattr(state, "hooks", NO_HOOKS)
    return hooks
