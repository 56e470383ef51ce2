from __future__ import annotations

import re

import httpx

from tests.support.users import register_user


async def test_metrics_show_routes_counts_and_durations(client: httpx.AsyncClient) -> None:
    u = await register_user(client)
    for _ in range(3):
        assert (await client.get("/api/users/me", headers=u["headers"])).status_code == 200
    await client.get("/api/users/me")
    await client.get("/api/definitely/not/here")
    text = (await client.get("/metrics")).text
    me_ok = re.search(
        r'livevote_http_requests_total\{method="GET",route="/api/users/me",status="200"\} (\d+)',
        text,
    )
    assert me_ok and int(float(me_ok.group(1))) >= 3
    assert 'route="/api/users/me",status="401"' in text
    assert 'route="unmatched",status="404"' in text
    assert (
        'livevote_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/api/users/me"}'
        in text
    )
    assert "livevote_http_requests_in_progress" in text
    assert 'livevote_business_operations_total{operation="register",outcome="ok"}' in text
    assert 'livevote_business_operations_total{operation="login",outcome="ok"}' in text


async def test_request_id_is_echoed_and_generated(client: httpx.AsyncClient) -> None:
    r = await client.get("/health/live", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = await client.get("/health/live", headers={"X-Request-ID": "bad id <script>"})
    assert re.fullmatch(r"[0-9a-f]{16}", r.headers["x-request-id"])


async def test_openapi_schema_lists_the_api(client: httpx.AsyncClient) -> None:
    r = await client.get("/schema/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    assert "/api/auth/register" in paths and "/api/users/me" in paths
    assert (await client.get("/schema/swagger")).status_code == 200
