"""Accounts rules: registration, login, profile. No Mongo or Redis code here."""

from __future__ import annotations

from livevote.accounts.lockout import LoginGuard
from livevote.accounts.repository import Database, Taken, UserRepository
from livevote.config import LimitSettings
from livevote.errors import Conflict, Unauthorized
from livevote.infra import metrics
from livevote.infra.auth import PasswordPool, TokenService
from livevote.infra.hooks import Hooks
from livevote.infra.mongo import Doc
from livevote.infra.ratelimit import RateLimiter
from livevote.infra.resources import Clock

Users = UserRepository  # what controllers hand to the rules below (built by provide_users)


def provide_users(db: Database) -> Users:
    return UserRepository(db)


def _taken(taken: Taken) -> Conflict:
    metrics.business("register", "conflict")
    return Conflict(f"this {taken.field} is already registered", type=f"{taken.field}-taken")


async def register(
    repo: UserRepository,
    *,
    username: str,
    email: str,
    password: str,
    address: str,
    limiter: RateLimiter,
    limits: LimitSettings,
    passwords: PasswordPool,
    hooks: Hooks,
    clock: Clock,
) -> Doc:
    """A new account. Cheap refusals come before the expensive hash: the per-address limit,
    then an e-mail/username already taken; the unique indexes settle races."""
    await limiter.limit("register", address, limits.register_per_address_per_minute)
    email = email.lower()
    taken = await repo.taken(username=username, email=email)
    if taken is not None:
        raise _taken(taken)
    hooks.reached("accounts.hash-password")
    password_hash = await passwords.hash(password)
    user = await repo.add_user(
        username=username, email=email, password_hash=password_hash, now=clock()
    )
    if isinstance(user, Taken):
        raise _taken(user)
    metrics.business("register")
    return user


async def login(
    repo: UserRepository,
    *,
    email: str,
    password: str,
    address: str,
    limiter: RateLimiter,
    limits: LimitSettings,
    guard: LoginGuard,
    passwords: PasswordPool,
    tokens: TokenService,
    hooks: Hooks,
) -> str:
    """A user token for the right password. Every attempt counts against the per-address
    login limit; a failure slot is reserved atomically before the password is verified."""
    await limiter.limit("login", address, limits.login_per_address_per_minute, fail_open=False)
    email = email.lower()
    reservation = await guard.reserve(email, address)
    try:
        user = await repo.by_email(email)
        hooks.reached("accounts.verify-password")
        ok = await passwords.verify(user["password_hash"] if user else None, password)
    except BaseException:
        await guard.release(reservation)
        raise
    if not ok or user is None:
        await guard.failed(reservation)
        metrics.business("login", "failed")
        raise Unauthorized("wrong email or password", type="invalid-credentials")
    await guard.succeeded(reservation)
    metrics.business("login")
    return tokens.issue_user(str(user["_id"]))


async def profile(repo: UserRepository, user_id: str) -> Doc:
    user = await repo.by_id(user_id)
    if user is None:
        raise Unauthorized("the account of this token no longer exists", type="invalid-token")
    return user
