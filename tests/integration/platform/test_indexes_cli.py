"""`livevote indexes check|apply` against a real server: diff and non-zero exit, then idempotent."""

from __future__ import annotations

from tests.support.servers import Backing, run_livevote, settings_for


def test_check_apply_check(stack: Backing) -> None:
    settings = settings_for(stack)  # a database of its own
    before = run_livevote(settings, "indexes", "check")
    assert before.returncode == 1, before.stdout + before.stderr
    assert "missing: users (email:1) unique" in before.stdout
    applied = run_livevote(settings, "indexes", "apply")
    assert applied.returncode == 0 and "created: users (email:1) unique" in applied.stdout
    again = run_livevote(settings, "indexes", "apply")
    assert again.returncode == 0 and "(0 created)" in again.stdout
    after = run_livevote(settings, "indexes", "check")
    assert after.returncode == 0 and "indexes match" in after.stdout
