"""Liveness, readiness (pings MongoDB and Redis) and the Prometheus endpoint."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Response, get
from litestar.datastructures import State

from livevote.infra import metrics


@get("/health/live", include_in_schema=True, tags=["operations"], sync_to_thread=False)
def live() -> dict[str, str]:
    return {"status": "ok"}


async def _ping(coro: Any) -> str:
    try:
        await asyncio.wait_for(coro, timeout=2)
        return "ok"
    except Exception as exc:  # any failure means "not ready"
        return f"error: {type(exc).__name__}"


@get("/health/ready", tags=["operations"])
async def ready(state: State) -> Response[dict[str, Any]]:
    mongo, redis = await asyncio.gather(
        _ping(state.mongo_client.admin.command("ping")), _ping(state.redis.ping())
    )
    ok = mongo == "ok" and redis == "ok"
    return Response(
        {"status": "ok" if ok else "unavailable", "mongodb": mongo, "redis": redis},
        status_code=200 if ok else 503,
        headers=None if ok else {"Retry-After": "2"},
    )


@get("/metrics", tags=["operations"], sync_to_thread=False)
def metrics_endpoint() -> Response[bytes]:
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)


route_handlers = [live, ready, metrics_endpoint]
