"""The `livevote` command: serve, indexes apply|check (domains add recount and demo commands)."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import sys
import tempfile
from typing import Any

from livevote import commands
from livevote.config import Settings, secret_for_bind
from livevote.demo import seed_demo
from livevote.infra.backing import start_backing_services, with_database
from livevote.infra.logs import configure_logging
from livevote.infra.mongo import apply_indexes, check_indexes

log = logging.getLogger("livevote.cli")


def _raise_system_exit(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


async def _apply(db: Any) -> int:
    created = await apply_indexes(db)
    for line in created:
        print(f"created: {line}")
    print(f"indexes up to date ({len(created)} created)")
    return 0


async def _check(db: Any) -> int:
    problems = await check_indexes(db)
    for line in problems:
        print(line)
    if problems:
        print(f"{len(problems)} index difference(s): run `livevote indexes apply`")
        return 1
    print("indexes match indexes/")
    return 0


async def _seed_demo(db: Any, settings: Settings) -> int:
    await seed_demo(db, settings)
    return 0


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = Settings.from_env()
    configure_logging(settings.log_level, settings.log_json)
    signal.signal(signal.SIGTERM, _raise_system_exit)
    host = args.host or settings.host
    port = args.port or settings.port
    # The demo account has a published password: only on the throwaway embedded database.
    seed = settings.demo and settings.embedded_mongo
    settings, stack = start_backing_services(settings)
    settings, secret_file = secret_for_bind(settings, host)
    if secret_file is not None:
        os.environ["LIVEVOTE_JWT_SECRET"] = settings.jwt.secret  # for the workers
        log.warning(
            "not a loopback bind and no LIVEVOTE_JWT_SECRET: signing tokens with the secret "
            "generated for this data directory",
            extra={"secret_file": str(secret_file), "host": host},
        )
    multiproc_dir = None
    try:
        if seed:
            with_database(settings, lambda db: _seed_demo(db, settings))
        elif settings.demo:
            log.info("demo not seeded: the database is not the embedded one")
        workers = args.workers or settings.workers
        if workers > 1:
            multiproc_dir = tempfile.mkdtemp(prefix="livevote-metrics-")
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = multiproc_dir
        log.info("serving", extra={"url": f"http://{host}:{port}", "workers": workers})
        uvicorn.run(
            "livevote.app:create_app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            loop="uvloop",
            http="httptools",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=10,
            # The scheme and client address from trusted proxies are resolved by the app
            # (infra/ratelimit: limits.trusted_proxies), the same way for every server.
            proxy_headers=False,
        )
        return 0
    finally:
        if stack:
            stack.stop()
        if multiproc_dir:
            shutil.rmtree(multiproc_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="livevote", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="run the web service")
    p_serve.add_argument("--host")
    p_serve.add_argument("--port", type=int)
    p_serve.add_argument("--workers", type=int)
    p_serve.set_defaults(func=serve)
    p_idx = sub.add_parser("indexes", help="apply or check indexes/ against the database")
    p_idx.add_argument("action", choices=["apply", "check"])
    p_idx.set_defaults(
        func=lambda a: with_database(Settings.from_env(), _apply if a.action == "apply" else _check)
    )
    commands.register(sub)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
