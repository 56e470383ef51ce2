"""The load-test library; the scripts one directory up only parse arguments and call it.

procs.py          launch `livevote serve` on an embedded stack, stop it; sample CPU/RSS
stats.py          percentiles and the p50/p95/p99/max summary every scenario reports
api.py            the livevote API calls the scenarios share (register, event, join, vote)
k6.py             run a k6 script and read its summary export
sse.py            raw-socket SSE streams (thousands per process) and a reconnecting reader
raw.py            the raw MongoDB ceiling: one vote's two writes without HTTP
votes.py          event votes over HTTP: joins timed, then k6 max and open-model runs
scenarios.py      the suite: ONE Scenario definition per section (run + report section)
report.py         RESULTS.md: header, table rows and verdicts per section
client.py         the chaos client: retries like a phone app, records every answer
faults.py         SIGKILL and restart NX-27017 / redis-server at random moments
crashy_server.py  `python -m loadtest.lib.crashy_server`: the app with random crash points
chaos_votes.py    chaos, votes mode: many clients voting while the backing servers die
chaos_verify.py   chaos, votes mode: what was acknowledged against what was stored
chaos_reports.py  chaos, reports mode: election reports resent under injected crashes
fuzz.py           schemathesis against the served OpenAPI schema
feed_scale.py     the poll feed's server time at 100,000 polls, in-process
sse_memory.py     where one SSE subscriber's memory goes (tracemalloc, in-process)
"""

from __future__ import annotations

from pathlib import Path

LOADTEST = Path(__file__).resolve().parents[1]  # the k6 scripts live here
ROOT = LOADTEST.parent
OUT = LOADTEST / "out"  # raw data of the last runs (gitignored)
