from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from livevote.config import (
    DEFAULT_JWT_SECRET,
    SECRET_FILE,
    UNLIMITED_ENV,
    JwtSettings,
    LimitSettings,
    Settings,
    secret_for_bind,
)


def test_defaults_are_embedded() -> None:
    s = Settings.from_env({}, config_file="/nonexistent")
    assert s.embedded_mongo and s.embedded_redis
    assert s.limits.user_per_minute == 100 and s.limits.address_per_second == 200


def test_environment_overrides_nested_groups() -> None:
    s = Settings.from_env(
        {
            "MONGODB_URI": "mongodb://db:27017/?replicaSet=rs0",
            "REDIS_URL": "redis://cache:6379/0",
            "LIVEVOTE_LIMITS_USER_PER_MINUTE": "7",
            "LIVEVOTE_LIMITS_TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1",
            "LIVEVOTE_SSE_HEARTBEAT_SECONDS": "2.5",
            "LIVEVOTE_MONGO_AUTO_APPLY_INDEXES": "false",
        },
        config_file="/nonexistent",
    )
    assert not s.embedded_mongo and s.mongo.uri.startswith("mongodb://db")
    assert s.redis.url == "redis://cache:6379/0"
    assert s.limits.user_per_minute == 7
    assert s.limits.trusted_proxies == ("10.0.0.0/8", "127.0.0.1")
    assert s.sse.heartbeat_seconds == 2.5
    assert s.mongo.auto_apply_indexes is False


def test_config_file_then_environment(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text("port: 9001\nlimits:\n  user_per_minute: 42\n  daily_votes: 5\n")
    s = Settings.from_env({"LIVEVOTE_LIMITS_DAILY_VOTES": "9"}, config_file=cfg)
    assert s.port == 9001 and s.limits.user_per_minute == 42 and s.limits.daily_votes == 9


def test_production_refuses_default_secret() -> None:
    with pytest.raises(ValueError, match="JWT_SECRET"):
        Settings.from_env({"LIVEVOTE_ENV": "production"}, config_file="/nonexistent")
    s = Settings.from_env(
        {"LIVEVOTE_ENV": "production", "LIVEVOTE_JWT_SECRET": "s" * 40}, config_file="/nonexistent"
    )
    assert s.jwt.secret != DEFAULT_JWT_SECRET


def test_short_secret_refused() -> None:
    with pytest.raises(ValueError, match="32"):
        Settings.from_env({"LIVEVOTE_JWT_SECRET": "short"}, config_file="/nonexistent")


def test_loopback_binds_keep_the_development_secret(tmp_path: Path) -> None:
    s = Settings(data_dir=str(tmp_path))
    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.2"):
        assert secret_for_bind(s, host) == (s, None)
    assert not (tmp_path / SECRET_FILE).exists()


def test_other_binds_generate_a_secret_once_per_data_directory(tmp_path: Path) -> None:
    """Bounded under abuse, finding 7: the public development secret was accepted whenever
    LIVEVOTE_ENV was not production, wherever the server listened."""
    s = Settings(data_dir=str(tmp_path / "data"))
    first, path = secret_for_bind(s, "0.0.0.0")
    assert path == tmp_path / "data" / SECRET_FILE
    assert first.jwt.secret != DEFAULT_JWT_SECRET and len(first.jwt.secret) >= 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again, _ = secret_for_bind(s, "192.0.2.10")
    assert again.jwt.secret == first.jwt.secret, "the same secret across restarts"
    other, _ = secret_for_bind(Settings(data_dir=str(tmp_path / "other")), "0.0.0.0")
    assert other.jwt.secret != first.jwt.secret
    explicit = Settings(data_dir=str(tmp_path / "x"), jwt=JwtSettings(secret="e" * 40))
    assert secret_for_bind(explicit, "0.0.0.0") == (explicit, None)


def test_new_limits_read_from_environment() -> None:
    s = Settings.from_env(
        {
            "LIVEVOTE_SSE_MAX_PER_CREDENTIAL": "2",
            "LIVEVOTE_SSE_MAX_PER_ADDRESS": "30",
            "LIVEVOTE_SSE_MAX_PER_PROCESS": "100",
            "LIVEVOTE_LIMITS_REGISTER_PER_ADDRESS_PER_MINUTE": "3",
            "LIVEVOTE_LIMITS_LOGIN_PER_ADDRESS_PER_MINUTE": "4",
            "LIVEVOTE_LIMITS_PAGES_PER_ADDRESS_PER_MINUTE": "50",
            "LIVEVOTE_LIMITS_HASHING_CONCURRENCY": "1",
            "LIVEVOTE_LIMITS_CODE_MISSES_PER_ADDRESS_PER_MINUTE": "7",
        },
        config_file="/nonexistent",
    )
    assert (s.sse.max_per_credential, s.sse.max_per_address, s.sse.max_per_process) == (2, 30, 100)
    assert s.limits.register_per_address_per_minute == 3
    assert s.limits.login_per_address_per_minute == 4
    assert s.limits.pages_per_address_per_minute == 50
    assert s.limits.hashing_concurrency == 1
    assert s.limits.code_misses_per_address_per_minute == 7
    assert Settings().limits.code_misses_per_address_per_minute == 30
    defaults = Settings()
    assert (defaults.sse.max_per_credential, defaults.sse.max_per_address) == (4, 2000)
    assert defaults.sse.max_per_process == 20000


def test_unlimited_env_lifts_every_request_rate() -> None:
    """The one "no limits" environment of load, chaos and test servers names every rate
    (a new `*_per_second`/`*_per_minute` limit must be added to it) and parses."""
    rates = {
        name
        for name in LimitSettings.__dataclass_fields__
        if name.endswith(("_per_second", "_per_minute")) or name == "daily_votes"
    }
    lifted = Settings.from_env(UNLIMITED_ENV, config_file="/nonexistent")
    assert {n for n in rates if getattr(lifted.limits, n) >= 10_000_000} == rates
    assert lifted.sse.max_per_address >= 10_000_000
    assert lifted.limits.hashing_wait_ms == 60_000
