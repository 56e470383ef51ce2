from __future__ import annotations

import msgspec

from livevote.infra.validation import Email, Input, Password, Username


class RegisterIn(Input):
    username: Username
    email: Email
    password: Password


class LoginIn(Input):
    email: Email
    password: Password


class UserOut(msgspec.Struct):
    id: str
    username: str
    email: str
    created_at: str


class TokenOut(msgspec.Struct):
    access_token: str
    token_type: str
    expires_in: int
