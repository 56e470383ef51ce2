"""What the tests share: plain functions and classes, no fixtures (the conftest.py files declare
the fixtures, built from these).

- `servers`: the backing servers (embedded or MONGODB_URI / REDIS_URL), per-test settings, the
  in-process uvicorn server (`start_server`, `ServerFactory`) and `livevote serve` as a
  subprocess (`serve_env`, `start_serve`, `wait_ready`, `stop_process`); other `livevote`
  commands (`run_livevote`); `FakeClock`.
- `http`: the httpx client every test uses, problem+json and SSE parsing.
- `users`, `events`, `polls`, `tallies`: the API steps a test repeats (register, create an
  event and open voting, create a poll, create an election and send reports).
- `tokens`: forged JWTs for the attack tests.
- `browser`: Debian's chromium driven by Playwright; `Pages` (the contexts a test opens) and
  the screens pages are tried on (PHONE, PROJECTOR, LAPTOP).
- `artifacts`: where tests leave figures and screenshots (test-artifacts/).
"""
