"""Schemathesis (`st run`) against the served OpenAPI schema of a fresh `livevote serve`, with
a registered user's Bearer token; the cases and failures read from its NDJSON report."""

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from livevote.infra.embedded import EmbeddedStack, free_port
from loadtest.lib.api import register
from loadtest.lib.procs import server_env, start_server, stop_process, wait_ready

CHECKS = "not_a_server_error,response_schema_conformance,content_type_conformance"


def st_binary() -> str:
    return shutil.which("st") or str(Path(sys.executable).parent / "st")


@dataclass
class Cases:
    """What the NDJSON report says: cases run, failures per check, a few failure
    descriptions, and runner errors, which are not check failures (e.g. hypothesis'
    FlakyFailure: a replayed case behaved differently because the first run changed
    server state)."""

    count: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)
    runner_errors: list[str] = field(default_factory=list)


def count_cases(ndjson: Path) -> Cases:
    cases = Cases()
    for line in ndjson.read_text().splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        for kind, body in event.items():
            if kind == "NonFatalError" and isinstance(body, dict):
                value = body.get("value") or {}
                cases.runner_errors.append(f"{body.get('label')}: {value.get('type')}")
            if kind != "ScenarioFinished" or not isinstance(body, dict):
                continue
            recorder = body.get("recorder") or {}
            cases.count += len(recorder.get("cases") or {})
            for checks in (recorder.get("checks") or {}).values():
                for check in checks:
                    if str(check.get("status", "")).lower() == "failure":
                        name = check.get("name", "?")
                        cases.failures[name] = cases.failures.get(name, 0) + 1
                        if len(cases.examples) < 10:
                            failure = check.get("failure_info") or {}
                            cases.examples.append(f"{name}: {json.dumps(failure)[:400]}")
    return cases


def st_command(url: str, token: str, ndjson: Path, args: argparse.Namespace) -> list[str]:
    """Positive and negative mode, every phase but stateful, no shrinking, all failures."""
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
    return cmd


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
        token = user.headers["Authorization"]
        ndjson = work / "events.ndjson"
        cmd = st_command(url, token, ndjson, args)
        t0 = time.monotonic()
        done = await asyncio.to_thread(
            subprocess.run, cmd, capture_output=True, text=True, timeout=args.timeout
        )
        cases = count_cases(ndjson) if ndjson.exists() else Cases()
        log_text = (work / "server.log").read_text(errors="replace")
        result = {
            "command": " ".join(cmd).replace(token, "Bearer <token>"),
            "seconds": round(time.monotonic() - t0, 1),
            "st_exit_code": done.returncode,
            "cases": cases.count,
            "failures": cases.failures,
            "failure_examples": cases.examples,
            "runner_errors": cases.runner_errors,
            "server_unhandled_errors": log_text.count("unhandled error"),
            "st_summary": "\n".join(done.stdout.splitlines()[-25:]),
        }
        result["ok"] = (
            cases.count > 0 and not cases.failures and result["server_unhandled_errors"] == 0
        )
    finally:
        stop_process(proc)
        stack.stop()
    return result
