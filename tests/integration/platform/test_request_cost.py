"""What one request costs the app: CPU of the server's thread, Redis round trips, MongoDB commands.

The app runs under a real uvicorn server (tests/support/servers.py) over the real embedded
MongoDB and Redis; requests are sent one at a time, so everything the server's thread does
between two answers belongs to that request (its share of a group-commit flush included).
- CPU: the server thread's own CPU clock (`time.pthread_getcpuclockid`), so the test client's
  work is not in it; `time.process_time()` (client included) is printed beside it.
- Redis: every `send_packed_command` of the app's real connections (one per round trip; a
  pipeline is one), split into the platform layer's (infra/ratelimit.py on the stack) and the
  rest (domain caches).
- MongoDB: every command the app's client starts (a pymongo CommandListener), with the
  livevote function that asked for it, in the request's context (tasks it started, such as a
  group-commit flush, included) or in background tasks (change streams, workers).

The test pins ONE platform Redis round trip per event vote, ballot report and feed page and
prints the figures. For the figures of loadtest/ANALYSIS.md:
    LIVEVOTE_COST_REQUESTS=500 LIVEVOTE_COST_PROFILE=1 .venv/bin/python -m pytest \
        tests/integration/platform/test_request_cost.py -s -p no:cacheprovider
(LIVEVOTE_COST_PROFILE=1 also writes pyinstrument profiles of the server thread to
test-artifacts/request-cost/).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import pytest
from pymongo import monitoring

from livevote.config import Settings, replace
from livevote.errors import Unauthorized
from livevote.infra.auth import TokenService
from livevote.infra.logs import request_id
from tests.support.artifacts import ARTIFACTS, save_json
from tests.support.events import join, live_event
from tests.support.http import http_client
from tests.support.polls import new_poll
from tests.support.redis_traffic import on_redis_send
from tests.support.servers import RunningServer, ServerFactory
from tests.support.tallies import create_election, report_body
from tests.support.users import register_user

REQUESTS = int(os.environ.get("LIVEVOTE_COST_REQUESTS", "40"))
PROFILE = os.environ.get("LIVEVOTE_COST_PROFILE") == "1"
SUBDIR = "/".join(["request-cost", *filter(None, [os.environ.get("LIVEVOTE_COST_LABEL")])])
WARMUP = 5
PLATFORM = "livevote.infra.ratelimit."  # the platform layer's Redis traffic: the rate limit


@dataclass
class Sample:
    """What the server did for one request."""

    redis_platform: int = 0
    redis_other: int = 0
    mongo_request: Counter[str] = field(default_factory=Counter)
    mongo_background: Counter[str] = field(default_factory=Counter)


def _caller(frame: Any) -> str:
    """The nearest livevote function on the stack (past the Redis connection class): the code
    that asked for the round trip, as `module.function`."""
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module.startswith("livevote.") and module != "livevote.infra.resources":
            return f"{module}.{frame.f_code.co_name}"
        frame = frame.f_back
    return "?"


class Recorder(monitoring.CommandListener):
    """Counts the server thread's Redis round trips and MongoDB commands into `current`."""

    def __init__(self) -> None:
        self.thread: int | None = None
        self.current: Sample | None = None

    def _ours(self) -> Sample | None:
        if self.current is None or threading.get_ident() != self.thread:
            return None
        return self.current

    def redis_sent(self) -> None:
        sample = self._ours()
        if sample is None:
            return
        if _caller(sys._getframe(1)).startswith(PLATFORM):
            sample.redis_platform += 1
        else:
            sample.redis_other += 1

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        sample = self._ours()
        if sample is None:
            return
        in_request = request_id.get() != "-"
        where = f"{event.command_name} <- {_caller(sys._getframe(1))}"
        (sample.mongo_request if in_request else sample.mongo_background)[where] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


_RECORDER = Recorder()


@pytest.fixture(scope="module")
def recorder() -> Iterator[Recorder]:
    monitoring.register(_RECORDER)  # before the server's client exists: it sees every command
    try:
        with on_redis_send(lambda _command: _RECORDER.redis_sent()):
            yield _RECORDER
    finally:
        _RECORDER.current = None
        _RECORDER.thread = None


@pytest.fixture(scope="module")
def cost_server(make_server: ServerFactory, recorder: Recorder) -> RunningServer:
    running = make_server()
    recorder.thread = running.thread.ident
    return running


@dataclass
class Cost:
    name: str
    server_cpu_ms: list[float]
    process_cpu_ms: list[float]
    samples: list[Sample]

    def report(self) -> dict[str, Any]:
        n = len(self.samples)
        request = sum((s.mongo_request for s in self.samples), Counter[str]())
        background = sum((s.mongo_background for s in self.samples), Counter[str]())
        return {
            "request": self.name,
            "n": n,
            "server_cpu_ms_median": round(statistics.median(self.server_cpu_ms), 3),
            "server_cpu_ms_mean": round(statistics.fmean(self.server_cpu_ms), 3),
            "server_cpu_ms_p90": round(_quantile(self.server_cpu_ms, 0.9), 3),
            "process_cpu_ms_median": round(statistics.median(self.process_cpu_ms), 3),
            "redis_platform_per_request": sum(s.redis_platform for s in self.samples) / n,
            "redis_other_per_request": sum(s.redis_other for s in self.samples) / n,
            "mongo_in_request_per_request": sum(request.values()) / n,
            "mongo_background_per_request": sum(background.values()) / n,
            "mongo_in_request": {k: v / n for k, v in sorted(request.items())},
            "mongo_background": {k: v / n for k, v in sorted(background.items())},
        }


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _thread_cpu(running: RunningServer) -> float:
    assert running.thread.ident is not None
    return time.clock_gettime(time.pthread_getcpuclockid(running.thread.ident))


async def _in_server_thread(running: RunningServer, fn: Callable[[], Any]) -> Any:
    """Run `fn` on the server's event loop thread (pyinstrument profiles its calling thread)."""
    loop = running.server.servers[0].get_loop()

    async def call() -> Any:
        return fn()

    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(call(), loop))


async def measure(
    running: RunningServer,
    recorder: Recorder,
    name: str,
    send: Callable[[int], Awaitable[httpx.Response]],
    expect: int,
) -> Cost:
    for i in range(WARMUP):  # script loads, connection pools, caches: not a request's cost
        assert (await send(i)).status_code == expect
    profiler: Any = None
    if PROFILE:
        from pyinstrument import Profiler
        from pyinstrument.renderers import ConsoleRenderer
        from pyinstrument.stack_sampler import get_stack_sampler

        profiler = Profiler(interval=0.0005, async_mode="disabled")

        def start() -> None:  # sample the server thread's CPU clock, not the wall clock
            get_stack_sampler().timer_func = time.thread_time
            profiler.start()

        await _in_server_thread(running, start)
    server_ms: list[float] = []
    process_ms: list[float] = []
    samples: list[Sample] = []
    for i in range(WARMUP, WARMUP + REQUESTS):
        sample = Sample()
        recorder.current = sample
        cpu0, proc0 = _thread_cpu(running), time.process_time()
        r = await send(i)
        server_ms.append((_thread_cpu(running) - cpu0) * 1000)
        process_ms.append((time.process_time() - proc0) * 1000)
        recorder.current = None
        assert r.status_code == expect, r.text
        samples.append(sample)
    if profiler is not None:
        await _in_server_thread(running, profiler.stop)
        folder = ARTIFACTS / SUBDIR
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.txt").write_text(profiler.output_text(unicode=True, show_all=False))
        (folder / f"{name}-flat.txt").write_text(
            profiler.output(ConsoleRenderer(unicode=True, flat=True, time="percent_of_total"))
        )
        profiler.last_session.save(str(folder / f"{name}.pyisession"))
        save_json(SUBDIR, f"{name}-layers", layers(profiler.last_session, REQUESTS))
    return Cost(name, server_ms, process_ms, samples)


PLATFORM_FILES = ("infra/ratelimit.py", "infra/auth.py", "infra/metrics.py", "infra/resources.py")
FRAMEWORK = ("/litestar/", "/uvicorn/", "/httptools/")


def _layer(stack: list[str]) -> tuple[str, str]:
    """The layer a CPU sample belongs to: the innermost frame that is livevote's or the web
    framework's (pymongo, redis-py, asyncio and builtins count for their caller)."""
    for frame in reversed(stack):
        function, path = frame.split("\x00")[:2]
        if "/livevote/" in path:
            short = path.split("/livevote/", 1)[1]
            if short == "infra/resources.py" and function == "send_packed_command":
                continue  # the Redis connection class: the caller's, like redis-py
            if short.endswith(PLATFORM_FILES):
                return "platform", f"{short}:{function}"
            area = short if short.startswith("infra/") else short.split("/")[0]  # infra module
            return area.removesuffix(".py"), f"{short}:{function}"  # or the domain package
        if any(part in path for part in FRAMEWORK):
            return "framework (litestar, uvicorn)", path.rsplit("/site-packages/", 1)[-1]
    return "event loop, idle", ""


def layers(session: Any, requests: int) -> dict[str, Any]:
    """Server-thread CPU per request by layer (ms), and the platform layer's top functions."""
    by_layer: Counter[str] = Counter()
    platform: Counter[str] = Counter()
    for stack, seconds in session.frame_records:
        layer, where = _layer(stack)
        by_layer[layer] += seconds
        if layer == "platform":
            platform[where] += seconds
    scale = 1000 / requests
    return {
        "cpu_ms_per_request_by_layer": {k: round(v * scale, 3) for k, v in by_layer.most_common()},
        "platform_top": {k: round(v * scale, 3) for k, v in platform.most_common(12)},
    }


def _print(cost: Cost) -> dict[str, Any]:
    figures = cost.report()
    save_json(SUBDIR, cost.name, figures)
    print(f"\n{cost.name}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))
    return figures


async def test_event_vote_costs_one_platform_redis_round_trip(
    cost_server: RunningServer, recorder: Recorder
) -> None:
    async with http_client(cost_server.url) as client:
        _, event, team = await live_event(client)
        attendees = [await join(client, event["code"]) for _ in range(WARMUP + REQUESTS)]

        async def vote(i: int) -> httpx.Response:
            return await client.post(
                f"/api/events/{event['id']}/votes",
                json={"team_id": team, "score": 1 + i % 5},
                headers=attendees[i]["headers"],
            )

        cost = await measure(cost_server, recorder, "event-vote", vote, 201)
    figures = _print(cost)
    assert [s.redis_platform for s in cost.samples] == [1] * REQUESTS
    assert figures["mongo_in_request_per_request"] + figures["mongo_background_per_request"] > 0


async def test_ballot_report_costs_one_platform_redis_round_trip(
    cost_server: RunningServer, recorder: Recorder
) -> None:
    async with http_client(cost_server.url) as client:
        user = await register_user(client)
        election = await create_election(client, user["headers"])

        async def report(i: int) -> httpx.Response:
            body = report_body(f"r{i}", f"box{i}", "london", {"tories": i, "labour": 1})
            return await client.post(
                f"/api/elections/{election['id']}/reports",
                json=body,
                headers=election["key_headers"],
            )

        cost = await measure(cost_server, recorder, "ballot-report", report, 202)
    figures = _print(cost)
    assert [s.redis_platform for s in cost.samples] == [1] * REQUESTS
    assert figures["mongo_in_request_per_request"] > 0


async def test_feed_page_costs_one_platform_redis_round_trip(
    cost_server: RunningServer, recorder: Recorder
) -> None:
    async with http_client(cost_server.url) as client:
        author = await register_user(client)
        for n in range(30):
            await new_poll(client, author["headers"], title=f"Poll {n}", tags=["lang"])
        reader = await register_user(client)

        async def page(i: int) -> httpx.Response:
            return await client.get("/api/polls", headers=reader["headers"])

        cost = await measure(cost_server, recorder, "feed-page", page, 200)
    _print(cost)
    assert [s.redis_platform for s in cost.samples] == [1] * REQUESTS
    # the feed's own caches are read in the rate limit's round trip (infra/prefetch.py, polls
    # `prefetch_lookup`); one more round trip writes when the page is walked (every FEED_TTL);
    # a cached page costs that one Redis round trip in all and one MongoDB query
    assert all(s.redis_other <= 1 for s in cost.samples), [s.redis_other for s in cost.samples]
    cached = [s for s in cost.samples if s.redis_other == 0]
    assert len(cached) > REQUESTS // 2
    assert all(sum(s.mongo_request.values()) == 1 for s in cached)


async def test_remembered_tokens_still_expire_and_a_changed_token_is_verified() -> None:
    """The verified-token memory (infra/auth.py) loosens nothing: a token the process signed or
    verified is refused from its exp on, and any other string is verified in full."""
    settings = replace(Settings(demo=False), jwt={"attendee_ttl_seconds": 1})
    svc = TokenService(settings.jwt)
    token = svc.issue_attendee("a" * 24, "e" * 24)
    assert svc.decode_any(token).subject == "a" * 24
    head, _, signature = token.rpartition(".")
    forged = f"{head}.{signature[::-1]}"
    with pytest.raises(Unauthorized) as refused:
        svc.decode_any(forged)
    assert refused.value.type == "invalid-token"
    claims = jwt.decode(token, options={"verify_signature": False})
    await asyncio.sleep(max(0.0, claims["exp"] + 0.05 - time.time()))
    with pytest.raises(Unauthorized) as expired:
        svc.decode_any(token)
    assert expired.value.type == "token-expired"
