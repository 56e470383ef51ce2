from __future__ import annotations

from pathlib import Path

import pytest

from livevote.config import DEFAULT_JWT_SECRET, Settings


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
