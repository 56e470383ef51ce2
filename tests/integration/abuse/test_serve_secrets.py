"""Bounded under abuse, finding 7: the public development JWT secret was accepted whenever
LIVEVOTE_ENV was not `production`, and user ids are public — anyone could mint a host token
for a server reachable from other machines. And the demo account (published password) was
seeded on any database."""

from __future__ import annotations

import os
import stat
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import jwt
from pymongo import MongoClient

from livevote.config import DEFAULT_JWT_SECRET, SECRET_FILE
from livevote.demo import DEMO_EMAIL, DEMO_PASSWORD
from livevote.infra.embedded import free_port
from tests.support.servers import Backing, start_serve, stop_process, wait_until_ready


@contextmanager
def serving(tmp_path: Path, *args: str, **env: str) -> Iterator[str]:
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if k not in ("MONGODB_URI", "REDIS_URL")}
    environ |= {"LIVEVOTE_DATA_DIR": str(tmp_path / "data"), "LIVEVOTE_LOG_LEVEL": "INFO"}
    environ |= env
    tmp_path.mkdir(parents=True, exist_ok=True)
    log = tmp_path / "serve.log"
    proc = start_serve(environ, log, "--port", str(port), *args)
    try:
        wait_until_ready(f"http://127.0.0.1:{port}", proc=proc, log=log)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc)


def test_public_bind_never_accepts_the_development_secret(tmp_path: Path) -> None:
    with serving(tmp_path, "--host", "0.0.0.0") as url:
        r = httpx.post(
            f"{url}/api/auth/login", json={"email": DEMO_EMAIL, "password": DEMO_PASSWORD}
        )
        assert r.status_code == 200, r.text  # the embedded database still gets the demo
        real = {"Authorization": f"Bearer {r.json()['access_token']}"}
        me = httpx.get(f"{url}/api/users/me", headers=real)
        assert me.status_code == 200
        now = int(time.time())
        forged = jwt.encode(
            {
                "sub": me.json()["id"],
                "iss": "livevote",
                "aud": "livevote-api",
                "iat": now,
                "exp": now + 600,
            },
            DEFAULT_JWT_SECRET,
            algorithm="HS256",
        )
        r = httpx.get(f"{url}/api/users/me", headers={"Authorization": f"Bearer {forged}"})
        assert r.status_code == 401, "a token signed with the public secret is refused"
    secret_file = tmp_path / "data" / SECRET_FILE
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert str(secret_file) in (tmp_path / "serve.log").read_text(), "the log says so"


def test_demo_is_seeded_only_on_the_embedded_database(tmp_path: Path, stack: Backing) -> None:
    database = f"serve_{uuid.uuid4().hex[:8]}"
    with serving(
        tmp_path,
        MONGODB_URI=stack.mongo_uri,
        LIVEVOTE_MONGO_DATABASE=database,
        LIVEVOTE_DEMO="true",
    ) as url:
        r = httpx.post(
            f"{url}/api/auth/login", json={"email": DEMO_EMAIL, "password": DEMO_PASSWORD}
        )
        assert r.status_code == 401
    client: MongoClient[dict[str, Any]]
    with MongoClient(stack.mongo_uri) as client:
        assert client[database]["users"].count_documents({"email": DEMO_EMAIL}) == 0
