"""axe-core in the browser: inject the npm package's axe.min.js into a page (the context is
created with bypass_csp=True, the pages' CSP allows only their own scripts), run it at WCAG 2.2
AA and save the results as JSON under test-artifacts/axe/."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.support.artifacts import ARTIFACTS

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
OUT = ARTIFACTS / "axe"


def axe_path() -> Path:
    if not AXE.is_file():
        raise RuntimeError(f"{AXE} is missing: `scripts/bootstrap test` installs axe-core (npm)")
    return AXE


async def run_axe(page: Any, name: str) -> dict[str, Any]:
    """Run axe on the page as it is now; save the full results as test-artifacts/axe/<name>.json
    and return them. Violations are listed with each failing node's target and summary."""
    if not await page.evaluate("typeof window.axe === 'object'"):
        await page.add_script_tag(path=str(axe_path()))
    results: dict[str, Any] = await page.evaluate(
        """tags => axe.run(document, {runOnly: {type: "tag", values: tags},
                                      resultTypes: ["violations"]})""",
        TAGS,
    )
    OUT.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^a-z0-9._-]+", "-", name.lower())
    (OUT / f"{safe}.json").write_text(json.dumps(results, indent=1, ensure_ascii=False))
    return results


def violations(results: dict[str, Any]) -> list[str]:
    """One line per failing node: rule id, impact, selector, axe's summary."""
    lines = []
    for v in results.get("violations", []):
        for node in v["nodes"]:
            summary = (node.get("failureSummary") or "").replace("\n", " ")
            lines.append(f"{v['id']} ({v['impact']}) {node['target']}: {summary}")
    return lines
