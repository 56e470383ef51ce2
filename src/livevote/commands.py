"""Domain commands of the `livevote` CLI (recounts, demo data). Each domain adds a subparser."""

from __future__ import annotations

from typing import Any


def register(sub: Any) -> None:
    """Add domain subcommands to the `livevote` parser (`sub` is its subparsers object)."""
    recount = sub.add_parser("recount", help="rebuild tallies from the stored votes/reports")
    domains = recount.add_subparsers(dest="domain", required=True)
    from livevote.events.commands import add_recount as add_events_recount

    add_events_recount(domains)
    from livevote.tallies.commands import add_recount as add_elections_recount

    add_elections_recount(domains)
    from livevote.polls.commands import add_recount as add_polls_recount

    add_polls_recount(domains)
