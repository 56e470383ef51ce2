"""Login lockout: failed attempts per (account, address), reserved atomically in Redis.

Every login attempt first *reserves* a failure slot of its (account, address) pair in one
Lua script, before the password is verified: the script refuses while the pair is locked or
the address has too many recent failures, and otherwise records the attempt as a failure of
the pair at once. A burst of concurrent wrong guesses therefore reaches password
verification at most `login_failures_per_account` times per window, however many arrive
together. A successful login takes its reservation back and clears the pair's failures.
The address-wide count holds confirmed failures only (`failed`), so many people logging in
at once behind one NAT are not refused while their attempts are in flight; a burst across
many accounts from one address is bounded by the atomic per-address login rate instead
(infra/ratelimit, limits.login_per_address_per_minute).

Keys (under the Redis prefix), window = 15 minutes:
- `login:fail:<email>:<address>`  sorted set of attempts of this pair in the window
- `login:lock:<email>:<address>`  present while the pair is locked; its TTL is the lock
- `login:strikes:<email>:<address>` locks in the last 24 h: each doubles the next lock
  (15 min, 30 min, 1 h, … at most 24 h)
- `login:fail-addr:<address>`     failed logins from this address, any account
Lockouts key on the pair, so a stranger guessing from elsewhere never locks the owner out;
the address-wide limit bounds credential stuffing from one address. Redis unreachable:
login fails closed (503).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from livevote.config import LimitSettings
from livevote.errors import RateLimited, ServiceUnavailable
from livevote.infra import metrics

WINDOW_S = 15 * 60
MAX_LOCK_S = 24 * 3600

# KEYS: pair failures, pair lock, pair strikes, address failures.
# ARGV: member, window_ms, pair_limit, address_limit, max_lock_ms.
# Returns {1, 0, ""} when reserved, else {0, retry_after_ms, "account"|"address"}.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[2])
local lock = redis.call('PTTL', KEYS[2])
if lock > 0 then return {0, lock, 'account'} end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - window)
local by_address = redis.call('ZCARD', KEYS[4])
if by_address >= tonumber(ARGV[4]) then
  local oldest = redis.call('ZRANGE', KEYS[4], 0, 0, 'WITHSCORES')
  return {0, tonumber(oldest[2]) + window - now, 'address'}
end
local by_pair = redis.call('ZCARD', KEYS[1])
if by_pair >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, tonumber(oldest[2]) + window - now, 'account'}
end
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('PEXPIRE', KEYS[1], window)
if by_pair + 1 >= tonumber(ARGV[3]) then
  local strikes = redis.call('INCR', KEYS[3])
  redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[5]))
  local ms = math.min(window * 2 ^ (strikes - 1), tonumber(ARGV[5]))
  redis.call('SET', KEYS[2], '1', 'PX', math.floor(ms))
end
return {1, 0, ''}
"""


@dataclass(frozen=True)
class Reservation:
    keys: tuple[str, str, str, str]
    member: str


class LoginGuard:
    def __init__(self, redis: Redis, settings: LimitSettings, prefix: str) -> None:
        self.redis = redis
        self.settings = settings
        self.prefix = prefix
        self._reserve = redis.register_script(_RESERVE)

    def _keys(self, email: str, address: str) -> tuple[str, str, str, str]:
        pair = f"{email}:{address}"
        p = self.prefix
        return (
            f"{p}login:fail:{pair}",
            f"{p}login:lock:{pair}",
            f"{p}login:strikes:{pair}",
            f"{p}login:fail-addr:{address}",
        )

    async def reserve(self, email: str, address: str) -> Reservation:
        """Reserve one attempt (counted as a failure until `succeeded`); 429 while locked."""
        keys = self._keys(email, address)
        member = os.urandom(8).hex()
        args: list[Any] = [
            member,
            WINDOW_S * 1000,
            self.settings.login_failures_per_account,
            self.settings.login_failures_per_address,
            MAX_LOCK_S * 1000,
        ]
        try:
            allowed, retry_ms, scope = await self._reserve(keys=list(keys), args=args)
        except RedisError as exc:
            raise ServiceUnavailable("login is unavailable: limiter unreachable") from exc
        if not int(allowed):
            metrics.RATE_LIMITED.labels(f"login-{scope}").inc()
            whom = "this account from this address" if scope == "account" else "this address"
            raise RateLimited(
                f"too many failed logins for {whom}; try again later",
                retry_after=max(1, int(retry_ms) // 1000),
                type="login-locked",
            )
        return Reservation(keys, member)

    async def failed(self, reservation: Reservation) -> None:
        """The password was wrong: the pair's reservation stays; the address counts it."""
        address_failures = reservation.keys[3]
        pipe = self.redis.pipeline(transaction=True)
        pipe.zadd(address_failures, {reservation.member: _now_ms()})
        pipe.pexpire(address_failures, WINDOW_S * 1000)
        await self._quietly(pipe)

    async def succeeded(self, reservation: Reservation) -> None:
        """The password was right: the pair starts afresh (strikes stay for the back-off)."""
        pair_failures, pair_lock, _strikes, _address = reservation.keys
        await self._quietly(self.redis.pipeline(transaction=True).delete(pair_failures, pair_lock))

    async def release(self, reservation: Reservation) -> None:
        """The attempt was never judged (e.g. hashing busy): it is not a failure."""
        pair_failures = reservation.keys[0]
        await self._quietly(
            self.redis.pipeline(transaction=True).zrem(pair_failures, reservation.member)
        )

    @staticmethod
    async def _quietly(pipe: Any) -> None:
        try:
            await pipe.execute()
        except RedisError:  # the failure stays recorded: the safe side
            return


def _now_ms() -> int:
    return int(time.time() * 1000)
