"""Domain commands of the `livevote` CLI (recounts, demo data). Each domain adds a subparser."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    """Add domain subcommands to the `livevote` parser (`sub` is its subparsers object)."""
    _ = sub, argparse
