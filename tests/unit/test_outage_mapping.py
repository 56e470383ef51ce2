"""Every transient driver error is a 503 problem with Retry-After, never a 500."""

from __future__ import annotations

import pytest
from litestar import Request
from pymongo import errors as mongo
from redis import exceptions as rediserr

from livevote.errors import handle_exception

TRANSIENT = [
    mongo.AutoReconnect("connection pool paused"),
    mongo.NotPrimaryError("not primary"),
    mongo.NetworkTimeout("timed out"),
    mongo.WaitQueueTimeoutError("pool full"),
    mongo.ServerSelectionTimeoutError("no server"),
    mongo.ConnectionFailure("refused"),
    mongo.ExecutionTimeout("operation exceeded time limit", 50),
    mongo.WTimeoutError("waiting for replication timed out", 64),
    rediserr.ConnectionError("refused"),
    rediserr.TimeoutError("timeout"),
    rediserr.BusyLoadingError("loading"),
    rediserr.ReadOnlyError("replica"),
]


def _request() -> Request:  # type: ignore[type-arg]
    scope = {
        "type": "http", "method": "POST", "path": "/api/x", "raw_path": b"/api/x",
        "root_path": "", "scheme": "http", "query_string": b"", "headers": [],
        "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 1234),
    }  # fmt: skip
    return Request(scope)  # type: ignore[arg-type]


@pytest.mark.parametrize("exc", TRANSIENT, ids=lambda e: type(e).__name__)
def test_transient_errors_are_503_with_retry_after(exc: Exception) -> None:
    response = handle_exception(_request(), exc)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert response.media_type == "application/problem+json"


def test_other_errors_stay_500() -> None:
    response = handle_exception(_request(), mongo.OperationFailure("bad", 2))
    assert response.status_code == 500
