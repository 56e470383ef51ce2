"""One recount contract for every domain: a `RecountReport` per tallied thing (an event, a
poll, an election) and one CLI convention, `livevote recount <domain> [--id ID] [--fix]`:
report by default (exit 1 on any difference), repair only with `--fix` (exit 0 once fixed),
exit 2 for a bad argument or a recount that could not finish.

A domain's `recount.py` provides `async def recount(db, *, scope_id, fix) -> list[RecountReport]`
and calls `add_recount_command` once; the CLI stays free of domain code.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from livevote.config import Settings
from livevote.errors import AppError
from livevote.infra.backing import with_database


class Difference(msgspec.Struct, frozen=True):
    """One counter that the stored facts do not support: `what` names it (a team, an
    option, a city/party), `stored` is the live value, `counted` the value rebuilt."""

    what: str
    stored: dict[str, int]
    counted: dict[str, int]


class RecountReport(msgspec.Struct):
    domain: str
    id: str
    consistent: bool
    fixed: bool = False
    differences: list[Difference] = msgspec.field(default_factory=list)
    notes: list[str] = msgspec.field(default_factory=list)

    def lines(self) -> list[str]:
        state = "consistent" if self.consistent else ("FIXED" if self.fixed else "DIFFERS")
        out = [f"{self.domain} {self.id}: {state}"]
        out += [f"  {d.what}: stored {d.stored}, counted {d.counted}" for d in self.differences]
        out += [f"  {note}" for note in self.notes]
        return out


Recount = Callable[..., Awaitable[list[RecountReport]]]


def add_recount_command(domains: Any, name: str, help: str, recount: Recount) -> None:
    """Add `livevote recount <name> [--id ID] [--fix] [--json]`; `recount(db, scope_id=,
    fix=)` returns one report per checked item."""
    p = domains.add_parser(name, help=help)
    p.add_argument("--id", dest="scope_id", help="only this id (default: every one)")
    p.add_argument("--fix", action="store_true", help="write the recounted tallies")
    p.add_argument("--json", action="store_true", help="one JSON report per line")
    p.set_defaults(func=lambda args: _run(args, name, recount))


def _run(args: argparse.Namespace, name: str, recount: Recount) -> int:
    async def run(db: Any) -> int:
        try:
            reports = await recount(db, scope_id=args.scope_id, fix=args.fix)
        except AppError as exc:
            print(f"{name}: {exc.detail}")
            return 2
        for report in reports:
            if args.json:
                print(json.dumps(msgspec.to_builtins(report), sort_keys=True))
            else:
                print("\n".join(report.lines()))
        differing = [r for r in reports if not r.consistent]
        unfixed = [r for r in differing if not r.fixed]
        if not args.json:
            print(f"{len(reports)} {name} checked, {len(differing)} with differences")
        return 1 if unfixed else 0

    return with_database(Settings.from_env(), run)
