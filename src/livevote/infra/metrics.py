"""Every metric of livevote, declared in one module.

With several uvicorn workers, PROMETHEUS_MULTIPROC_DIR is set by `livevote serve` before the
workers start, and /metrics aggregates all of them through MultiProcessCollector.
"""

from __future__ import annotations

import os
import time
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from livevote.infra.logs import request_id

REQUESTS = Counter("livevote_http_requests_total", "HTTP requests", ["method", "route", "status"])
DURATION = Histogram(
    "livevote_http_request_duration_seconds",
    "HTTP request duration",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
IN_PROGRESS = Gauge(
    "livevote_http_requests_in_progress",
    "HTTP requests being served",
    ["method"],
    multiprocess_mode="livesum",
)
RATE_LIMITED = Counter(
    "livevote_rate_limit_rejections_total", "Requests rejected by a rate limit", ["rule"]
)
EDGE_REFUSED = Counter(
    "livevote_rate_limit_edge_rejections_total",
    "Rate-limit rejections answered at the edge from a remembered refusal (no Redis)",
    ["rule"],
)
HASHING_BUSY = Counter(
    "livevote_password_hashing_busy_total",
    "Requests refused (503 busy) because no password-hashing slot would free in time",
    ["where"],  # "edge": before the request was read; "pool": after
)
RATE_LIMIT_FAIL_OPEN = Counter(
    "livevote_rate_limit_fail_open_total", "Rate-limit checks skipped because Redis was down"
)
BUSINESS = Counter(
    "livevote_business_operations_total",
    "Domain operations by kind and outcome",
    ["operation", "outcome"],
)
CACHE = Counter("livevote_cache_requests_total", "Cache lookups", ["cache", "result"])
SSE_OPEN = Gauge(
    "livevote_sse_streams_open", "Open SSE streams", ["stream"], multiprocess_mode="livesum"
)
CHANGE_STREAM_LAG = Histogram(
    "livevote_change_stream_lag_seconds",
    "Delay from a database write to its change event reaching this process",
    ["collection"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


def business(operation: str, outcome: str = "ok") -> None:
    BUSINESS.labels(operation, outcome).inc()


def render() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


async def count_unrouted(exc: Exception, scope: Any) -> None:
    """after_exception hook: requests that matched no route never reach the middleware."""
    from litestar.exceptions import MethodNotAllowedException, NotFoundException

    if isinstance(exc, NotFoundException | MethodNotAllowedException) and not scope.get(
        "path_template"
    ):
        REQUESTS.labels(scope.get("method", "?"), "unmatched", str(exc.status_code)).inc()


# The labelled children of the per-request metrics, looked up once per label set (a
# `.labels()` call takes a lock and builds a key: four of them on every request otherwise).
# Bounded: methods come from clients; past the bound, `.labels()` is called as before.
_CHILDREN_MAX = 2048
_children: dict[tuple[Any, ...], Any] = {}


def _child(metric: Any, *labels: str) -> Any:
    key = (metric, *labels)
    child = _children.get(key)
    if child is None:
        child = metric.labels(*labels)
        if len(_children) < _CHILDREN_MAX:
            _children[key] = child
    return child


class MetricsMiddleware:
    """Pure ASGI: counts and times every HTTP request by route template; sets X-Request-ID."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        rid = ""
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                rid = value.decode("latin-1")[:64]
                break
        if not rid or not rid.replace("-", "").isalnum():
            rid = os.urandom(8).hex()
        token = request_id.set(rid)
        status = 500
        start = time.perf_counter()
        in_progress = _child(IN_PROGRESS, method)
        in_progress.inc()

        async def send_wrapper(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            in_progress.dec()
            route = scope.get("path_template") or "unmatched"
            _child(REQUESTS, method, route, str(status)).inc()
            _child(DURATION, method, route).observe(time.perf_counter() - start)
            request_id.reset(token)


CACHE_ERRORS = Counter(
    "livevote_cache_errors_total",
    "Cache operations skipped because Redis was unreachable (served from MongoDB)",
    ["cache"],
)

TALLY_PENDING_REPORTS = Gauge(
    "livevote_tally_pending_reports",
    "Election reports stored but not yet applied, seen by the last pending-report worker pass",
    multiprocess_mode="max",
)
TALLY_REPORTS_RESUMED = Counter(
    "livevote_tally_reports_resumed_total",
    "Election reports finished by the pending-report worker (the request that stored them died)",
    ["outcome"],
)

# Change streams → SSE (infra/broadcaster.py)
CHANGE_STREAM_RESTARTS = Counter(
    "livevote_change_stream_restarts_total",
    "Change streams reopened after an error or close (resuming after the saved token)",
    ["collection"],
)
SSE_SNAPSHOTS = Counter(
    "livevote_sse_snapshots_total",
    "Channel snapshots built and fanned out (one encoding per update, shared by subscribers)",
    ["channel"],
)
SSE_STALLED = Counter(
    "livevote_sse_stalled_total",
    "SSE streams closed because their client stopped reading (sse.stall_seconds)",
)
SSE_CHANNELS = Gauge(
    "livevote_sse_channels_open",
    "Broadcaster channels with at least one subscriber",
    multiprocess_mode="livesum",
)

# Group commit (infra/groupcommit.py): one observation per batch, never per item.
GROUP_COMMIT_BATCH = Histogram(
    "livevote_group_commit_batch_size",
    "Items written by one group-commit flush",
    ["kind"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
)
GROUP_COMMIT_FLUSH = Histogram(
    "livevote_group_commit_flush_seconds",
    "Duration of one group-commit flush (the batched database write)",
    ["kind", "outcome"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
GROUP_COMMIT_REJECTED = Counter(
    "livevote_group_commit_rejected_total",
    "Items refused by a group commit (queue full or shutting down) with a 503",
    ["kind", "reason"],
)
