"""`livevote recount elections [--election ID]`: rebuild every election total from the stored
reports and compare with the live counters and the audit log (exit 1 on any difference)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from livevote.config import Settings
from livevote.infra.backing import with_database


def add_recount(domains: Any) -> None:
    """Add `elections` under the `livevote recount` subparsers."""
    p = domains.add_parser("elections", help="recount election totals from stored reports")
    p.add_argument("--election", help="only this election id (default: every election)")
    p.add_argument("--json", action="store_true", help="print the full result as JSON")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    async def run(db: Any) -> int:
        from bson import ObjectId

        from livevote.tallies.recount import recount_elections

        if args.election and not ObjectId.is_valid(args.election):
            print(f"election {args.election}: not a valid id")
            return 2
        results = await recount_elections(db, args.election)
        for r in results:
            if args.json:
                print(json.dumps(r, sort_keys=True))
                continue
            state = "consistent" if r["ok"] else "DIFFERENT"
            extra = ""
            if r.get("in_flight"):
                extra = f", {len(r['in_flight'])} report(s) mid-apply (the worker finishes them)"
            print(
                f"election {r['election_id']}: {state} — {r.get('applied', 0)} applied, "
                f"{r.get('pending', 0)} pending report(s){extra}"
            )
            for line in r["differences"]:
                print(f"  {line}")
        if not results:
            print("no elections")
        return 0 if all(r["ok"] for r in results) else 1

    return with_database(Settings.from_env(), run)
