"""Domain commands of the `livevote` CLI: each domain adds its subcommands here."""

from __future__ import annotations

from typing import Any

from livevote.activities.recount import add_recount as add_activities_recount
from livevote.events.ledger import add_verify_command
from livevote.events.recount import add_recount as add_events_recount
from livevote.polls.recount import add_recount as add_polls_recount
from livevote.tallies.recount import add_recount as add_elections_recount
from livevote.tallies.reporter import add_report_command


def register(sub: Any) -> None:
    """Add domain subcommands to the `livevote` parser (`sub` is its subparsers object)."""
    recount = sub.add_parser("recount", help="rebuild tallies from the stored votes/reports")
    domains = recount.add_subparsers(dest="domain", required=True)
    add_events_recount(domains)
    add_elections_recount(domains)
    add_polls_recount(domains)
    add_activities_recount(domains)
    add_report_command(sub)
    add_verify_command(sub)  # livevote verify ledger FILE
