"""`livevote indexes check|apply` against a real server: diff and non-zero exit, then idempotent."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

from tests.support.servers import Backing


def _run(stack: Backing, db: str, action: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {
        "MONGODB_URI": stack.mongo_uri,
        "REDIS_URL": stack.redis_url,
        "LIVEVOTE_MONGO_DATABASE": db,
    }
    return subprocess.run(
        [sys.executable, "-m", "livevote", "indexes", action],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_check_apply_check(stack: Backing) -> None:
    db = f"idx_{uuid.uuid4().hex[:8]}"
    before = _run(stack, db, "check")
    assert before.returncode == 1, before.stdout + before.stderr
    assert "missing: users (email:1) unique" in before.stdout
    applied = _run(stack, db, "apply")
    assert applied.returncode == 0 and "created: users (email:1) unique" in applied.stdout
    again = _run(stack, db, "apply")
    assert again.returncode == 0 and "(0 created)" in again.stdout
    after = _run(stack, db, "check")
    assert after.returncode == 0 and "indexes match" in after.stdout
