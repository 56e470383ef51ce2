"""Measure the "Bounded under abuse" attacks against a real `livevote serve` (embedded stack,
default limits except 20 API requests/s per address, 127.0.0.1 as the trusted proxy so one
machine can play many addresses).

    python -m tests.integration.abuse.measure_attacks [--out FILE]

Prints one JSON document: per attack what was sent, the status codes, and the serve
process's CPU seconds and RSS around it. Not part of the test run (small, but it is a
measurement: run it on a quiet machine and read the CPU figures as indicative).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import psutil

from livevote.infra.embedded import free_port
from tests.support.servers import start_serve, stop_process, wait_until_ready

DEV_SECRET = "livevote-development-secret-change-me-0123456789"  # noqa: S105 - the public one


def start(data: Path, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("MONGODB_URI", "REDIS_URL")}
    env |= {
        "LIVEVOTE_DATA_DIR": str(data),
        "LIVEVOTE_LOG_LEVEL": "WARNING",
        "LIVEVOTE_DEMO": "false",
        "LIVEVOTE_LIMITS_TRUSTED_PROXIES": "127.0.0.1",
        # 20/s instead of 200/s: a loaded 2-core box cannot send fast enough to show 200/s
        "LIVEVOTE_LIMITS_ADDRESS_PER_SECOND": "20",
    }
    log = data.parent / "serve.log"
    proc = start_serve(env, log, "--port", str(port), *extra)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url, proc=proc, log=log)
    except RuntimeError:
        stop_process(proc)
        raise
    return proc, url


async def gather_codes(*requests: Awaitable[httpx.Response]) -> list[Any]:
    """Status codes, or the name of the transport error a request ended with."""
    out = await asyncio.gather(*requests, return_exceptions=True)
    return [r.status_code if isinstance(r, httpx.Response) else type(r).__name__ for r in out]


def usage(proc: psutil.Process) -> tuple[float, float]:
    t = proc.cpu_times()
    return t.user + t.system, proc.memory_info().rss / 2**20


async def measure(
    proc: psutil.Process, name: str, sent: str, attack: Callable[[], Awaitable[list[int]]]
) -> dict[str, Any]:
    cpu0, rss0 = usage(proc)
    peak = rss0
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, usage(proc)[1])
            await asyncio.sleep(0.05)

    sampler = asyncio.create_task(sample())
    t0 = time.monotonic()
    codes = await attack()
    elapsed = time.monotonic() - t0
    done.set()
    await sampler
    cpu1, rss1 = usage(proc)
    return {
        "attack": name,
        "sent": sent,
        "status": dict(sorted(Counter(map(str, codes)).items())),
        "seconds": round(elapsed, 2),
        "server_cpu_s": round(cpu1 - cpu0, 2),
        "server_rss_mib": [round(rss0, 1), round(peak, 1), round(rss1, 1)],
    }


async def run(url: str, proc: psutil.Process) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    limits = httpx.Limits(max_connections=600, max_keepalive_connections=600)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as c:
        name = f"h{uuid.uuid4().hex[:8]}"
        host = {"username": name, "email": f"{name}@example.com", "password": "password123"}
        xff = {"X-Forwarded-For": "198.51.100.1"}
        login = {"email": host["email"], "password": host["password"]}
        assert (await c.post("/api/auth/register", json=host, headers=xff)).status_code == 201
        r = await c.post("/api/auth/login", json=login, headers=xff)
        auth = {"Authorization": f"Bearer {r.json()['access_token']}", **xff}
        r = await c.post("/api/events", json={"title": "T", "teams": [{"name": "A"}]}, headers=auth)
        eid = r.json()["id"]

        async def streams() -> list[int]:
            codes = []
            async with contextlib_stack() as stack:
                for _ in range(50):
                    resp = await stack.enter_async_context(
                        c.stream("GET", f"/api/events/{eid}/stream", headers=auth)
                    )
                    codes.append(resp.status_code)
            return codes

        out.append(await measure(proc, "sse-one-credential", "50 streams, one user token", streams))

        async def dup_registrations() -> list[int]:
            rs = await gather_codes(
                *(
                    c.post(
                        "/api/auth/register",
                        json={**host, "username": f"{name}{i}"},
                        headers={"X-Forwarded-For": f"203.0.113.{i}"},
                    )
                    for i in range(100)
                )
            )
            return rs

        out.append(
            await measure(
                proc,
                "register-duplicates",
                "100 concurrent, taken e-mail, 100 addresses",
                dup_registrations,
            )
        )

        async def register_flood() -> list[int]:
            rs = await gather_codes(
                *(
                    c.post(
                        "/api/auth/register",
                        json={
                            "username": f"f{i}{name}",
                            "email": f"f{i}{name}@example.com",
                            "password": "password123",
                        },
                        headers={"X-Forwarded-For": "192.0.2.7"},
                    )
                    for i in range(100)
                )
            )
            return rs

        out.append(
            await measure(
                proc, "register-flood", "100 concurrent new accounts, one address", register_flood
            )
        )

        async def wrong_guesses() -> list[int]:
            rs = await gather_codes(
                *(
                    c.post(
                        "/api/auth/login",
                        json={"email": host["email"], "password": f"wrong-{i}-pw"},
                        headers={"X-Forwarded-For": "192.0.2.66"},
                    )
                    for i in range(100)
                )
            )
            return rs

        out.append(
            await measure(proc, "login-guesses", "100 concurrent wrong passwords", wrong_guesses)
        )

        async def owner_after() -> list[int]:
            r = await c.post("/api/auth/login", json=login, headers=xff)
            return [r.status_code]

        out.append(
            await measure(
                proc,
                "login-owner-elsewhere",
                "the owner from another address, right password",
                owner_after,
            )
        )

        async def good_logins(addresses: int) -> list[int]:
            rs = await gather_codes(
                *(
                    c.post(
                        "/api/auth/login",
                        json=login,
                        headers={
                            "X-Forwarded-For": f"10.9.{i // 250}.{i % 250}"
                            if addresses > 1
                            else "192.0.2.99"
                        },
                    )
                    for i in range(200)
                )
            )
            return rs

        out.append(
            await measure(
                proc,
                "login-success-one-address",
                "200 concurrent right passwords, one address",
                lambda: good_logins(1),
            )
        )
        out.append(
            await measure(
                proc,
                "login-success-many-addresses",
                "200 concurrent right passwords, 200 addresses",
                lambda: good_logins(200),
            )
        )

        async def pages() -> list[int]:
            codes = []
            for batch in range(10):
                rs = await gather_codes(
                    *(
                        c.get(f"/e/Q{batch}{i:03d}", headers={"X-Forwarded-For": "192.0.2.50"})
                        for i in range(100)
                    )
                )
                codes += rs
            return codes

        out.append(
            await measure(proc, "code-enumeration", "1,000 /e/{code} guesses, one address", pages)
        )

        async def free_user_tokens() -> list[int]:
            now = int(time.time())
            toks = [
                jwt.encode(
                    {
                        "sub": uuid.uuid4().hex[:24],
                        "iss": "livevote",
                        "aud": "livevote-api",
                        "iat": now,
                        "exp": now + 600,
                    },
                    DEV_SECRET,
                    algorithm="HS256",
                )
                for _ in range(1000)
            ]
            rs = await gather_codes(
                *(
                    c.get(
                        "/api/users/me",
                        headers={"Authorization": f"Bearer {t}", "X-Forwarded-For": "192.0.2.77"},
                    )
                    for t in toks
                )
            )
            return rs

        out.append(
            await measure(
                proc,
                "user-tokens-one-address",
                "1,000 requests, 1,000 user tokens, one address",
                free_user_tokens,
            )
        )

        async def ipv6_rotation() -> list[int]:
            rs = await gather_codes(
                *(
                    c.get("/api/users/me", headers={"X-Forwarded-For": f"2001:db8:5:5::{i:x}"})
                    for i in range(1, 1001)
                )
            )
            return rs

        out.append(
            await measure(
                proc,
                "ipv6-rotation",
                "1,000 requests from 1,000 addresses of one /64",
                ipv6_rotation,
            )
        )
    return out


def contextlib_stack() -> Any:
    from contextlib import AsyncExitStack

    return AsyncExitStack()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start(Path(tmp) / "data")
        try:
            results = asyncio.run(run(url, psutil.Process(proc.pid)))
        finally:
            stop_process(proc, timeout=30)
    text = json.dumps(results, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
