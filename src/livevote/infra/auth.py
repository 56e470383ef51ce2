"""Credentials: argon2id password hashes and JWTs (PyJWT, HS256 pinned).

Two kinds of token share one signing key and differ by audience:
- user tokens (`aud` = settings.jwt.audience) for accounts, hosts and poll-feed users;
- attendee tokens (`aud` = "<audience>:attendee") for anonymous event attendees.
A token is only ever read from the Authorization header (or, for attendees, the HttpOnly
cookie) — never from a URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from litestar.connection import ASGIConnection

from livevote.config import JwtSettings
from livevote.errors import ServiceUnavailable, Unauthorized
from livevote.infra import metrics

ALGORITHM = "HS256"
ATTENDEE_COOKIE = "lv_attendee"
_REQUIRED = ["exp", "iat", "iss", "aud", "sub"]

# Moderate cost: an interactive login must stay well under 100 ms on 2 cores.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
_DUMMY_HASH = _hasher.hash("timing-equaliser")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Constant work whether or not the account exists."""
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


class PasswordPool:
    """Bounded argon2: at most `slots` hashes at once per process (by default one per core
    but one, at least one: hashing never takes every core from the other requests).

    Each hash costs ~19 MiB and tens of milliseconds of a core; unbounded, a burst of logins
    or registrations queues threads and memory without limit. A request that cannot get a slot
    within `wait_ms` gets a fast 503 with Retry-After instead of waiting behind the burst.

    `saturated()`: the requests already waiting, at the recent duration of a hash, would hold
    every slot for `wait_ms` or longer, so a newcomer could not get one in time. Such a
    newcomer is refused at once, here and at the edge (infra/edge: before its body is read,
    its limits counted in Redis or its account read), with the same 503: a burst of logins
    from many addresses cost ~3.7 ms of server CPU and 500 ms of a connection per 503.
    Create it inside the running event loop (the semaphore belongs to it).
    """

    def __init__(self, slots: int = 0, wait_ms: int = 500) -> None:
        self.slots = slots if slots > 0 else max(1, (os.cpu_count() or 1) - 1)
        self.wait_s = wait_ms / 1000
        self._semaphore = asyncio.Semaphore(self.slots)
        self.waiting = 0  # requests waiting for a slot
        self.hash_s: float | None = None  # a hash's recent duration (moving average)

    def saturated(self) -> bool:
        """Whether a request arriving now would wait `wait_ms` or more for a slot (False
        until a hash has been timed)."""
        return self.hash_s is not None and self.waiting * self.hash_s >= self.slots * self.wait_s

    async def _run(self, fn: Any, *args: Any) -> Any:
        if self.saturated():
            metrics.HASHING_BUSY.labels("pool").inc()
            raise busy()
        self.waiting += 1
        try:
            await asyncio.wait_for(self._semaphore.acquire(), self.wait_s)
        except TimeoutError as exc:
            metrics.HASHING_BUSY.labels("pool").inc()
            raise busy() from exc
        finally:
            self.waiting -= 1
        try:
            started = time.monotonic()
            result = await asyncio.to_thread(fn, *args)
            took = time.monotonic() - started
            self.hash_s = took if self.hash_s is None else 0.8 * self.hash_s + 0.2 * took
            return result
        finally:
            self._semaphore.release()

    async def hash(self, password: str) -> str:
        result: str = await self._run(hash_password, password)
        return result

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        result: bool = await self._run(verify_password, stored_hash, password)
        return result


BUSY_DETAIL = "password hashing is at capacity; retry shortly"


def busy() -> ServiceUnavailable:
    """The 503 of a request that cannot get a hashing slot in time."""
    return ServiceUnavailable(BUSY_DETAIL, retry_after=1, type="busy")


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user account or an event attendee."""

    subject: str
    kind: str  # "user" | "attendee"
    claims: dict[str, Any]

    @property
    def event_id(self) -> str | None:
        value = self.claims.get("evt")
        return str(value) if value is not None else None


# Tokens verified (or signed) by this process, kept so a client's next request with the same
# token skips the HMAC and the claim checks (~60 us of CPU each): keyed by the whole token
# string (its signature included), valid until its `exp`, which is checked again on every
# use; nbf and iat only get more valid as time passes. Oldest first out past the bound.
_VERIFIED_MAX = 4096


class TokenService:
    def __init__(self, settings: JwtSettings) -> None:
        self.settings = settings
        self.attendee_audience = f"{settings.audience}:attendee"
        self._verified: dict[str, Principal] = {}

    def _issue(self, sub: str, aud: str, ttl: int, extra: dict[str, Any] | None = None) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": sub,
            "iss": self.settings.issuer,
            "aud": aud,
            "iat": now,
            "nbf": now,
            "exp": now + ttl,
            # unique per mint: two credentials minted in the same second (an attendee's
            # second phone, a retried join) are different tokens, never byte-identical
            "jti": secrets.token_urlsafe(12),
        }
        if extra:
            claims.update(extra)
        token = jwt.encode(claims, self.settings.secret, algorithm=ALGORITHM)
        # Signed here, so known valid until exp: the client's first request skips the HMAC.
        with contextlib.suppress(Unauthorized):  # a token decode_any refuses is not kept
            self._remember(token, self._principal(claims))
        return token

    def issue_user(self, user_id: str) -> str:
        return self._issue(user_id, self.settings.audience, self.settings.ttl_seconds)

    def issue_attendee(self, attendee_id: str, event_id: str) -> str:
        return self._issue(
            attendee_id,
            self.attendee_audience,
            self.settings.attendee_ttl_seconds,
            {"evt": event_id},
        )

    def decode_any(self, token: str) -> Principal:
        """Verify a token of either kind once; its audience says which kind it is."""
        if len(token) > 4096:
            raise Unauthorized("token too long")
        known = self._verified.get(token)
        if known is not None:
            if known.claims["exp"] > time.time():
                return known
            del self._verified[token]  # expired: the full check below says so
        principal = self._verify(token)
        self._remember(token, principal)
        return principal

    def _remember(self, token: str, principal: Principal) -> None:
        if len(self._verified) >= _VERIFIED_MAX:
            del self._verified[next(iter(self._verified))]
        self._verified[token] = principal

    def _verify(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self.settings.secret,
                algorithms=[ALGORITHM],
                audience=[self.settings.audience, self.attendee_audience],
                issuer=self.settings.issuer,
                options={"require": _REQUIRED},
                leeway=0,
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("token expired", type="token-expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"invalid token: {exc}", type="invalid-token") from exc
        return self._principal(claims)

    def _principal(self, claims: dict[str, Any]) -> Principal:
        """Who verified claims name: the checks beyond the signature and the standard claims."""
        aud = claims.get("aud")
        if aud == self.settings.audience:
            kind = "user"
        elif aud == self.attendee_audience:
            kind = "attendee"
        else:  # e.g. a list naming both audiences: ambiguous, never issued by us
            raise Unauthorized("invalid token audience", type="invalid-token")
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub or len(sub) > 64:
            raise Unauthorized("invalid token subject", type="invalid-token")
        if kind == "attendee" and not isinstance(claims.get("evt"), str):
            raise Unauthorized("attendee token without event", type="invalid-token")
        return Principal(sub, kind, claims)

    def decode(self, token: str, kind: str) -> Principal:
        principal = self.decode_any(token)
        if principal.kind != kind:
            raise Unauthorized(f"a {kind} credential is required", type="invalid-token")
        return principal


_SCOPE_KEY = "livevote_principal"


def verified(connection: ASGIConnection[Any, Any, Any, Any], token: str) -> Principal:
    """Verify `token` at most once per request (the rate limiter and the handler share it)."""
    state = connection.scope.setdefault("state", {})
    cached = state.get(_SCOPE_KEY)
    if cached is not None and cached[0] == token:
        principal: Principal = cached[1]
        return principal
    principal = tokens(connection).decode_any(token)
    state[_SCOPE_KEY] = (token, principal)
    return principal


def _require(connection: ASGIConnection[Any, Any, Any, Any], token: str, kind: str) -> Principal:
    principal = verified(connection, token)
    if principal.kind != kind:
        raise Unauthorized(f"a {kind} credential is required", type="invalid-token")
    return principal


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthorized("Authorization header must be 'Bearer <token>'")
    return value.strip()


def tokens(connection: ASGIConnection[Any, Any, Any, Any]) -> TokenService:
    svc: TokenService = connection.app.state.tokens
    return svc


async def current_user(request: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """Dependency: the user behind the Bearer token (401 otherwise)."""
    token = bearer_token(request)
    if token is None:
        raise Unauthorized("a Bearer token is required")
    return _require(request, token, "user")


async def optional_user(request: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    """Dependency: the user if a valid user token is sent; a bad token is still a 401."""
    header = request.headers.get("authorization")
    if not header:
        return None
    token = bearer_token(request)
    assert token is not None
    return _require(request, token, "user")


async def current_attendee(request: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """Dependency: the attendee behind the Bearer token or the HttpOnly cookie."""
    token = bearer_token(request) or request.cookies.get(ATTENDEE_COOKIE)
    if not token:
        raise Unauthorized("join the event first: an attendee credential is required")
    return _require(request, token, "attendee")


def peek_identity(connection: ASGIConnection[Any, Any, Any, Any]) -> tuple[str, str] | None:
    """For rate limiting: (kind, subject) of a *valid* credential, or None. Never raises."""
    header = connection.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    candidates = [value.strip()] if scheme.lower() == "bearer" and value.strip() else []
    cookie = connection.cookies.get(ATTENDEE_COOKIE)
    if cookie:
        candidates.append(cookie)
    for token in candidates:
        try:
            principal = verified(connection, token)
        except Unauthorized:
            continue
        return principal.kind, principal.subject
    return None
