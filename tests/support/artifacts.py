"""test-artifacts/: screenshots, figures and logs a run leaves behind (never committed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def save_json(subdir: str, name: str, data: Any) -> Path:
    """Write `data` to test-artifacts/<subdir>/<name>.json and return the path."""
    folder = ARTIFACTS / subdir
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path
