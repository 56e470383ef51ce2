"""Schemathesis against the served OpenAPI schema: 0 server errors, 0 responses off-schema.

    python loadtest/fuzz.py --max-examples 400          # long form: >= 10,000 cases
    python loadtest/fuzz.py --max-examples 8 --max-time 45   # short form (the test suite)

Starts its own EmbeddedStack and `livevote serve` (limits very high: a fuzzer is not a
flood), registers a user, and runs `st run <url>/schema/openapi.json` with the user's Bearer
token, checks `not_a_server_error,response_schema_conformance,content_type_conformance`,
in positive and negative mode, all phases but stateful. Prints one JSON document (also written
to --out): cases generated, failures by check, the exact `st` command line; exit code 0 only
if there was no failure. The run itself is loadtest/lib/fuzz.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file

import argparse
import asyncio
import json

from loadtest.lib.fuzz import run


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--max-examples", type=int, default=400, help="per API operation")
    p.add_argument("--max-time", type=int, default=0, help="seconds budget for st (0: none)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--timeout", type=int, default=3600)
    p.add_argument("--data-dir", default="")
    p.add_argument("--out", default="")
    args = p.parse_args(argv)
    result = asyncio.run(run(args))
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
