from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import Provide
from pymongo.asynchronous.database import AsyncDatabase

from livevote.accounts import service
from livevote.accounts.repository import UserRepository
from livevote.accounts.schemas import LoginIn, RegisterIn, TokenOut, UserOut
from livevote.config import Settings
from livevote.infra.auth import Principal, TokenService, current_user
from livevote.infra.mongo import Doc
from livevote.infra.ratelimit import RateLimiter
from livevote.infra.resources import Clock


def provide_users(db: AsyncDatabase[Doc]) -> UserRepository:
    return UserRepository(db)


def user_out(doc: Doc) -> UserOut:
    return UserOut(
        id=str(doc["_id"]),
        username=doc["username"],
        email=doc["email"],
        created_at=doc["created_at"].isoformat(),
    )


class AuthController(Controller):
    path = "/api/auth"
    tags = ["accounts"]
    dependencies = {"users": Provide(provide_users, sync_to_thread=False)}

    @post("/register", status_code=201)
    async def register(self, data: RegisterIn, users: UserRepository, clock: Clock) -> UserOut:
        doc = await service.register(
            users, username=data.username, email=data.email, password=data.password, clock=clock
        )
        return user_out(doc)

    @post("/login", status_code=200)
    async def login(
        self,
        data: LoginIn,
        request: Request[Any, Any, Any],
        users: UserRepository,
        limiter: RateLimiter,
        tokens: TokenService,
        settings: Settings,
    ) -> TokenOut:
        token = await service.login(
            users,
            limiter,
            tokens,
            email=data.email,
            password=data.password,
            address=limiter.client_address(request),
        )
        return TokenOut(token, "Bearer", settings.jwt.ttl_seconds)


class UsersController(Controller):
    path = "/api/users"
    tags = ["accounts"]
    dependencies = {
        "users": Provide(provide_users, sync_to_thread=False),
        "user": Provide(current_user),
    }

    @get("/me")
    async def me(self, users: UserRepository, user: Principal) -> UserOut:
        return user_out(await service.profile(users, user.subject))


route_handlers = [AuthController, UsersController]
