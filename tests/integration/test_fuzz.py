"""Schemathesis against the served OpenAPI schema, short form (a few hundred generated cases;
the long form is `python loadtest/fuzz.py --max-examples 400`, >= 10,000 cases): no server
error, every response in its documented content type and schema (errors are problem+json,
documented app-wide by livevote.infra.openapi)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from loadtest.fuzz import main as fuzz_main

from livevote.app import create_app
from livevote.config import Settings
from tests.support.artifacts import ARTIFACTS


def test_errors_are_documented_as_problem_json() -> None:
    schema = create_app(Settings(demo=False)).openapi_schema.to_schema()
    assert "ProblemDetails" in schema["components"]["schemas"]
    for path, item in schema["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, op in item.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            for status in ("400", "401", "404", "409", "422", "429", "503", "default"):
                content = op["responses"][status]["content"]
                assert list(content) == ["application/problem+json"], (method, path, status)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_schemathesis_short_run(tmp_path: Path) -> None:
    out = ARTIFACTS / "reliability" / "fuzz.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    code = fuzz_main(
        ["--max-examples", "4", "--max-time", "35", "--seed", "3", "--data-dir", str(tmp_path),
         "--out", str(out)]
    )  # fmt: skip
    result = json.loads(out.read_text())
    assert result["cases"] >= 300, result["st_summary"]
    assert result["failures"] == {}, result["failure_examples"]
    assert result["server_unhandled_errors"] == 0
    assert code == 0
