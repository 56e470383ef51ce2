from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from livevote.infra.mongo import Doc


class UserRepository:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.users = db["users"]

    async def insert(self, *, username: str, email: str, password_hash: str, now: datetime) -> Doc:
        """Insert a user; raises DuplicateKeyError when the email or username is taken."""
        doc: dict[str, Any] = {
            "username": username,
            "username_lower": username.lower(),
            "email": email,
            "password_hash": password_hash,
            "created_at": now,
        }
        await self.users.insert_one(doc)
        return doc

    async def by_email(self, email: str) -> Doc | None:
        return await self.users.find_one({"email": email})

    async def by_id(self, user_id: str) -> Doc | None:
        if not ObjectId.is_valid(user_id):
            return None
        return await self.users.find_one({"_id": ObjectId(user_id)})


__all__ = ["DuplicateKeyError", "UserRepository"]
