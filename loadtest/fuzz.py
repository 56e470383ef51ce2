"""Schemathesis against the served OpenAPI schema: 0 server errors, 0 responses off-schema.

    python loadtest/fuzz.py --max-examples 400          # long form: >= 10,000 cases
    python loadtest/fuzz.py --max-examples 8 --max-time 45   # short form (the test suite)

Starts its own EmbeddedStack and `livevote serve` (limits very high: a fuzzer is not a
flood), registers a user, and runs `st run <url>/schema/openapi.json` with the user's Bearer
token, checks `not_a_server_error,response_schema_conformance,content_type_conformance`,
in positive and negative mode, all phases but stateful. Prints one JSON document (also written
to --out): cases generated, failures by check, the exact `st` command line; exit code 0 only
if there was no failure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loadtest.chaos import register, server_env, start_server, stop_process, wait_ready

from livevote.infra.embedded import EmbeddedStack, free_port

CHECKS = "not_a_server_error,response_schema_conformance,content_type_conformance"


def st_binary() -> str:
    found = shutil.which("st") or str(Path(sys.executable).parent / "st")
    return found


RUNNER_ERRORS: list[str] = []  # schemathesis/hypothesis errors that are not check failures


def count_cases(ndjson: Path) -> tuple[int, dict[str, int], list[str]]:
    """Cases run, failures per check, and a few failure descriptions, from the NDJSON events.
    Runner errors (e.g. hypothesis' FlakyFailure: a replayed case behaved differently because
    the first run changed server state) go to RUNNER_ERRORS, reported apart from failures."""
    cases = 0
    failures: dict[str, int] = {}
    examples: list[str] = []
    for line in ndjson.read_text().splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        for kind, body in event.items():
            if kind == "NonFatalError" and isinstance(body, dict):
                value = body.get("value") or {}
                RUNNER_ERRORS.append(f"{body.get('label')}: {value.get('type')}")
            if kind != "ScenarioFinished" or not isinstance(body, dict):
                continue
            recorder = body.get("recorder") or {}
            cases += len(recorder.get("cases") or {})
            for checks in (recorder.get("checks") or {}).values():
                for check in checks:
                    if str(check.get("status", "")).lower() == "failure":
                        name = check.get("name", "?")
                        failures[name] = failures.get(name, 0) + 1
                        if len(examples) < 10:
                            failure = check.get("failure_info") or {}
                            examples.append(f"{name}: {json.dumps(failure)[:400]}")
    return cases, failures, examples


async def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(args.data_dir or tempfile.mkdtemp(prefix="livevote-fuzz-"))
    stack = EmbeddedStack(work / "embedded").start()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_server(server_env(stack, port, work / "app"), work / "server.log")
    result: dict[str, Any] = {}
    try:
        await wait_ready(url)
        async with httpx.AsyncClient(base_url=url, timeout=30) as c:
            user = await register(c, f"fz{uuid.uuid4().hex[:8]}")
        token = user["headers"]["Authorization"]
        ndjson = work / "events.ndjson"
        cmd = [
            st_binary(), "run", f"{url}/schema/openapi.json",
            "--checks", CHECKS,
            "-H", f"Authorization: {token}",
            "--max-examples", str(args.max_examples),
            "--phases", "examples,coverage,fuzzing",
            "--mode", "all",
            "--workers", str(args.workers),
            "--seed", str(args.seed),
            "--no-shrink",
            "--request-timeout", "20",
            "--suppress-health-check", "all",
            "--report", "ndjson", "--report-ndjson-path", str(ndjson),
            "--continue-on-failure",
            "--no-color",
        ]  # fmt: skip
        if args.max_time:
            cmd += ["--max-time", str(args.max_time)]
        t0 = time.monotonic()
        done = await asyncio.to_thread(
            subprocess.run, cmd, capture_output=True, text=True, timeout=args.timeout
        )
        cases, failures, examples = count_cases(ndjson) if ndjson.exists() else (0, {}, [])
        log_text = (work / "server.log").read_text(errors="replace")
        result = {
            "command": " ".join(cmd).replace(token, "Bearer <token>"),
            "seconds": round(time.monotonic() - t0, 1),
            "st_exit_code": done.returncode,
            "cases": cases,
            "failures": failures,
            "failure_examples": examples,
            "runner_errors": list(RUNNER_ERRORS),
            "server_unhandled_errors": log_text.count("unhandled error"),
            "st_summary": "\n".join(done.stdout.splitlines()[-25:]),
        }
        result["ok"] = cases > 0 and not failures and result["server_unhandled_errors"] == 0
    finally:
        stop_process(proc)
        stack.stop()
    return result


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
