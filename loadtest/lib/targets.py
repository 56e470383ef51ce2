"""Issue 13's targets, one verdict line each (met / missed, with the measured figure), and the
sections of the scenarios that issue added: the load clients' own ceilings and the flat cost
per vote (with its chart)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from loadtest.lib.report import ms, srv, verdict

Report = dict[str, Any]

APP_MS_PER_OP = 2.0  # app CPU per vote / report / feed page
FLAT_TOLERANCE = 0.15
SSE_KIB = 12
SSE_P99_MS = {1000: 150}  # streams -> p99 target; larger runs: 1 s
JOINS_PER_S = 300
BALLOTS_PER_S, BALLOT_P99_MS = 1000, 250
FEED_PER_S, FEED_P99_MS = 500, 50
VOTE_P99_MS = 100


def app_ms(server: dict[str, Any], ops: float) -> float:
    return 1000 * server.get("cpu_seconds", 0) / ops if ops else 0.0


def _votes(rep: Report) -> Iterator[str]:
    v, raw = rep.get("votes"), rep.get("raw")
    if not v:
        return
    ceiling = raw["votes_per_s"] if raw else v.get("raw_votes_per_s", 0)
    m, r = v["max"], v["rate"]
    yield (
        f"event votes over HTTP ≥ the raw two-write ceiling ({ceiling} votes/s): "
        f"{verdict(m['votes_per_s'] >= ceiling > 0)} ({m['votes_per_s']} votes/s, max run)"
    )
    sustained = r["votes_per_s"] >= 0.98 * r["target_per_s"] and r["dropped"] <= 0.01 * max(
        1, r["votes_ok"]
    )
    yield (
        f"open model at 70 % of that maximum ({r['target_per_s']}/s, 200 voters): sustained "
        f"{verdict(sustained)} ({r['votes_per_s']}/s, {r['dropped']} dropped); p99 ≤ "
        f"{VOTE_P99_MS} ms {verdict(r['latency_ms']['p99'] <= VOTE_P99_MS)} "
        f"({r['latency_ms']['p99']:.0f} ms)"
    )
    j = v["joins"]
    yield f"joins ≥ {JOINS_PER_S}/s: {verdict(j['per_s'] >= JOINS_PER_S)} ({j['per_s']}/s)"
    for name in ("max", "rate"):
        run = v[name]
        a = app_ms(run["server"], run["votes_ok"])
        yield (
            f"app CPU ≤ {APP_MS_PER_OP:g} ms per vote ({name} run): "
            f"{verdict(0 < a <= APP_MS_PER_OP)} ({a:.2f} ms)"
        )


def _k6(rep: Report, name: str, what: str, rate: int, p99: int) -> Iterator[str]:
    res = rep.get(name)
    if not res or "missing" in res:
        return
    got = res["latency_ms"].get("p99", 0)
    dropped = res.get("dropped", 0)
    # k6 offers `rate`/s (open model); sustained = ≥ 98 % of it served, ≤ 1 % dropped (the
    # same rule as the votes' open model: k6's own ramp-up shows as a few dropped iterations)
    sustained = res["requests_per_s"] >= 0.98 * rate and dropped <= 0.01 * max(1, res["requests"])
    yield (
        f"{what} ≥ {rate}/s (offered; sustained = ≥ 98 % served, ≤ 1 % dropped): "
        f"{verdict(sustained)} ({res['requests_per_s']}/s, {dropped} dropped); "
        f"p99 ≤ {p99} ms {verdict(got <= p99)} ({got:.0f} ms)"
    )
    a = app_ms(res["server"], res["requests"])
    ok = verdict(0 < a <= APP_MS_PER_OP)
    yield f"app CPU ≤ {APP_MS_PER_OP:g} ms per {what[:-1]}: {ok} ({a:.2f} ms)"


def _ballots(rep: Report) -> Iterator[str]:
    yield from _k6(rep, "ballots", "ballot reports", BALLOTS_PER_S, BALLOT_P99_MS)
    once = (rep.get("ballots") or {}).get("exactly_once")
    if once is not None:
        yield (
            f"ballot reports applied exactly once: {verdict(bool(once.get('ok')))} "
            f"({once.get('accepted_202')} accepted, {once.get('applied')} applied)"
        )


def sse_limit(streams: int) -> int:
    return SSE_P99_MS.get(streams, 150 if streams <= 1000 else 1000)


def _sse(rep: Report) -> Iterator[str]:
    for run in rep.get("sse") or []:
        if "error" in run:
            yield f"SSE {run['streams']} streams: **missed** (error)"
            continue
        kib = run["rss_per_stream_kib"] or 0
        p99 = run["vote_to_screen_ms"]["p99"]
        limit = sse_limit(run["streams"])
        yield (
            f"SSE {run['streams']} streams: ≤ {SSE_KIB} KiB each {verdict(0 < kib <= SSE_KIB)} "
            f"({kib} KiB); vote-to-screen p99 ≤ {limit} ms {verdict(0 <= p99 <= limit)} "
            f"({p99:.0f} ms)"
        )


def _flat(rep: Report) -> Iterator[str]:
    f = rep.get("flat")
    if f:
        yield (
            f"flat CPU per vote: last window within {100 * FLAT_TOLERANCE:.0f} % of the first "
            f"{verdict(f['flat'])} ({f['first_ms_per_vote']:.2f} → {f['last_ms_per_vote']:.2f} "
            f"ms at {f['votes']:,} votes)"
        )


CHECKS: tuple[Callable[[Report], Iterator[str]], ...] = (
    _votes,
    _ballots,
    lambda r: _k6(r, "feed", "feed pages", FEED_PER_S, FEED_P99_MS),
    _sse,
    _flat,
)


def summary(rep: Report) -> list[str]:
    """Every target's verdict, in one list at the top."""
    lines = [f"- {line}" for check in CHECKS for line in check(rep)]
    if not lines:
        return []
    return ["## Targets (issue 13)", "", *lines, ""]


def clients_section(rep: Report) -> list[str]:
    c = rep.get("clients")
    if not c:
        return []
    lines = [
        "## Load clients alone (GET /health/live)",
        "",
        f"Each client alone with {c['connections']} connections in a closed loop for "
        f"{c['seconds']:g} s against `livevote serve --workers {c['workers']}`: the most that "
        "client can measure on this box. Scenarios driven by it cannot show more.",
        "",
        "| client | requests/s | p50 / p95 / p99 ms | errors | client CPU ms/request "
        "| server CPU; RSS |",
        "|---|---:|---|---:|---:|---|",
    ]
    for name, row in c["clients"].items():
        lines.append(
            f"| {name} | {row['requests_per_s']} | {ms(row['latency_ms'])} | {row['errors']} | "
            f"{row.get('client_cpu_ms_per_request', '–')} | "
            f"{srv(row['server'], row['requests'])} |"
        )
    lines += [
        "",
        "Drivers: votes max/open model, feed, ballots: k6; joins and flat: aiohttp; "
        "SSE: raw asyncio sockets (streams) + httpx (20 votes, one at a time).",
        "",
    ]
    return lines


def flat_section(rep: Report) -> list[str]:
    f = rep.get("flat")
    if not f:
        return []
    before = rep.get("flat-before")
    lines = [
        f"## Flat cost per vote: one event to {f['target_votes']:,} votes (loadtest/lib/flat.py)",
        "",
        f"Driven by {f['client']}; {f['teams']} teams × {f['attendees']:,} attendees "
        f"(joined first: {f['joins']['per_s']}/s), `--workers {f['workers']}`. Server CPU "
        "(uvicorn processes; NX-27017 + redis) read every 1,000 answered votes.",
        "",
        "![CPU per vote against votes in the event](flat-cpu-per-vote.png)",
        "",
        "| run | votes | votes/s | vote p50 / p95 / p99 ms | failed | CPU ms/vote first → "
        "last window (app + NX/redis) | event document bytes start → end |",
        "|---|---:|---:|---|---:|---|---|",
    ]
    for label, run in (("after", f), ("before", before)):
        if not run:
            continue
        w = run["windows"]
        first, last = (w[0], w[-1]) if w else ({}, {})
        lines.append(
            f"| {label} ({run['commit']}) | {run['votes']:,} | {run['votes_per_s']} | "
            f"{ms(run['latency_ms'])} | {run['failed']} | "
            f"{run['first_ms_per_vote']:.2f} ({first.get('app_ms_per_vote', 0):.2f} + "
            f"{first.get('backing_ms_per_vote', 0):.2f}) → {run['last_ms_per_vote']:.2f} "
            f"({last.get('app_ms_per_vote', 0):.2f} + {last.get('backing_ms_per_vote', 0):.2f})"
            f" | {run['event_bytes_start']:,} → {run['event_bytes_end']:,} |"
        )
    lines += [
        "",
        f"Target: last window within {100 * FLAT_TOLERANCE:.0f} % of the first: "
        f"{verdict(f['flat'])}.",
        "",
    ]
    return lines
