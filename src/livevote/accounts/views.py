"""Account documents -> API views (pure)."""

from __future__ import annotations

from livevote.accounts.schemas import UserOut
from livevote.infra.mongo import Doc


def user_out(doc: Doc) -> UserOut:
    """The public profile: never the password hash."""
    return UserOut(
        id=str(doc["_id"]),
        username=doc["username"],
        email=doc["email"],
        created_at=doc["created_at"].isoformat(),
    )
