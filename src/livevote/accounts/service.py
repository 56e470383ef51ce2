from __future__ import annotations

import asyncio

from livevote.accounts.repository import DuplicateKeyError, UserRepository
from livevote.errors import Conflict, Unauthorized
from livevote.infra import metrics
from livevote.infra.auth import TokenService, hash_password, verify_password
from livevote.infra.mongo import Doc
from livevote.infra.ratelimit import RateLimiter
from livevote.infra.resources import Clock


async def register(
    repo: UserRepository, *, username: str, email: str, password: str, clock: Clock
) -> Doc:
    try:
        user = await repo.insert(
            username=username,
            email=email.lower(),
            password_hash=await asyncio.to_thread(hash_password, password),
            now=clock(),
        )
    except DuplicateKeyError as exc:
        metrics.business("register", "conflict")
        pattern = (exc.details or {}).get("keyPattern") or {}
        field = "email" if "email" in pattern or "email" in str(exc) else "username"
        raise Conflict(f"this {field} is already registered", type=f"{field}-taken") from exc
    metrics.business("register")
    return user


async def login(
    repo: UserRepository,
    limiter: RateLimiter,
    tokens: TokenService,
    *,
    email: str,
    password: str,
    address: str,
) -> str:
    email = email.lower()
    await limiter.check_login(email, address)
    user = await repo.by_email(email)
    stored = user["password_hash"] if user else None
    # argon2 is CPU-bound: keep it off the event loop.
    if not await asyncio.to_thread(verify_password, stored, password) or user is None:
        await limiter.record_login_failure(email, address)
        metrics.business("login", "failed")
        raise Unauthorized("wrong email or password", type="invalid-credentials")
    metrics.business("login")
    return tokens.issue_user(str(user["_id"]))


async def profile(repo: UserRepository, user_id: str) -> Doc:
    user = await repo.by_id(user_id)
    if user is None:
        raise Unauthorized("the account of this token no longer exists", type="invalid-token")
    return user
