"""Accounts HTTP API: parse -> service -> answer."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.di import Provide

from livevote.accounts import service
from livevote.accounts.lockout import LoginGuard
from livevote.accounts.schemas import LoginIn, RegisterIn, TokenOut, UserOut
from livevote.accounts.views import user_out
from livevote.config import Settings
from livevote.infra.auth import PasswordPool, Principal, TokenService, current_user
from livevote.infra.hooks import provide_hooks  # not a `hooks: Hooks` parameter: Litestar

# cannot validate a non-runtime-checkable Protocol, so handlers read app.state.hooks
from livevote.infra.ratelimit import RateLimiter
from livevote.infra.resources import Clock


def provide_passwords(state: State) -> PasswordPool:
    pool: PasswordPool = state.passwords
    return pool


def provide_guard(state: State, settings: Settings) -> LoginGuard:
    return LoginGuard(state.redis, settings.limits, settings.redis.prefix)


# The routes that hash or verify a password: refused at the edge while hashing is at capacity.
HASHING_ROUTES = frozenset({("POST", "/api/auth/register"), ("POST", "/api/auth/login")})


class AuthController(Controller):
    path = "/api/auth"
    tags = ["accounts"]
    dependencies = {
        "users": Provide(service.provide_users, sync_to_thread=False),
        "passwords": Provide(provide_passwords, sync_to_thread=False),
        "guard": Provide(provide_guard, sync_to_thread=False),
    }

    @post("/register", status_code=201)
    async def register(
        self,
        data: RegisterIn,
        request: Request[Any, Any, Any],
        users: service.Users,
        limiter: RateLimiter,
        passwords: PasswordPool,
        settings: Settings,
        clock: Clock,
    ) -> UserOut:
        doc = await service.register(
            users,
            username=data.username,
            email=data.email,
            password=data.password,
            address=limiter.client_address(request),
            limiter=limiter,
            limits=settings.limits,
            passwords=passwords,
            hooks=provide_hooks(request.app.state),
            clock=clock,
        )
        return user_out(doc)

    @post("/login", status_code=200)
    async def login(
        self,
        data: LoginIn,
        request: Request[Any, Any, Any],
        users: service.Users,
        limiter: RateLimiter,
        guard: LoginGuard,
        passwords: PasswordPool,
        tokens: TokenService,
        settings: Settings,
    ) -> TokenOut:
        token = await service.login(
            users,
            email=data.email,
            password=data.password,
            address=limiter.client_address(request),
            limiter=limiter,
            limits=settings.limits,
            guard=guard,
            passwords=passwords,
            tokens=tokens,
            hooks=provide_hooks(request.app.state),
        )
        return TokenOut(token, "Bearer", settings.jwt.ttl_seconds)


class UsersController(Controller):
    path = "/api/users"
    tags = ["accounts"]
    dependencies = {
        "users": Provide(service.provide_users, sync_to_thread=False),
        "user": Provide(current_user),
    }

    @get("/me")
    async def me(self, users: service.Users, user: Principal) -> UserOut:
        return user_out(await service.profile(users, user.subject))


route_handlers = [AuthController, UsersController]
