"""Users persistence: the only code naming the `users` collection.

Collection `users` (indexes in indexes/users.json):
    {_id, username, username_lower, email (lower-case), password_hash, created_at}
Unique indexes on `email` and `username_lower`: an e-mail address or a username (compared
case-insensitively) belongs to at most one account, however many registrations race.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError as _MongoDuplicateKey

from livevote.infra.mongo import Doc, eq

Database = AsyncDatabase[Doc]  # the handle a UserRepository is opened on


@dataclass(frozen=True)
class Taken:
    """Domain result: the e-mail or the username already belongs to an account."""

    field: str  # "email" | "username"


class DuplicateAccount(Exception):
    """Raised by the compatibility method `insert` (demo.py)."""


# Compatibility: demo.py imports this name; remove once it calls `add_user`.
DuplicateKeyError = DuplicateAccount


class UserRepository:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.users = db["users"]

    async def add_user(
        self, *, username: str, email: str, password_hash: str, now: datetime
    ) -> Doc | Taken:
        """Insert an account, or say which unique field is already taken."""
        doc: dict[str, Any] = {
            "username": username,
            "username_lower": username.lower(),
            "email": email,
            "password_hash": password_hash,
            "created_at": now,
        }
        try:
            await self.users.insert_one(doc)
        except _MongoDuplicateKey as exc:
            pattern = (exc.details or {}).get("keyPattern") or {}
            return Taken("email" if "email" in pattern or "email" in str(exc) else "username")
        return doc

    async def insert(self, *, username: str, email: str, password_hash: str, now: datetime) -> Doc:
        """Compatibility for demo.py: `add_user`, raising DuplicateAccount when taken."""
        result = await self.add_user(
            username=username, email=email, password_hash=password_hash, now=now
        )
        if isinstance(result, Taken):
            raise DuplicateAccount(result.field)
        return result

    async def taken(self, *, username: str, email: str) -> Taken | None:
        """A cheap pre-check (the unique indexes stay the guarantee). Two indexed reads, not
        one `$or`: NX-27017 answers an `$or` of equalities with a scan of `users`
        (docs/GROUP_COMMIT.md, "NX-27017 and equality filters")."""
        if await self.users.find_one(eq({"email": email}), projection={"_id": 1}):
            return Taken("email")
        if await self.users.find_one(eq({"username_lower": username.lower()}), {"_id": 1}):
            return Taken("username")
        return None

    async def by_email(self, email: str) -> Doc | None:
        return await self.users.find_one(eq({"email": email}))

    async def by_id(self, user_id: str) -> Doc | None:
        if not ObjectId.is_valid(user_id):
            return None
        return await self.users.find_one({"_id": ObjectId(user_id)})
