// Live-event votes: attendees join an event, then vote for the team on stage.
//
//   k6 run loadtest/event-votes.js                                   # self-contained
//   k6 run -e TOKENS_FILE=out/attendees.json -e RATE=600 loadtest/event-votes.js
//   k6 run -e TOKENS_FILE=out/attendees.json -e MODE=max loadtest/event-votes.js
//
// Without TOKENS_FILE, setup() creates a host, an event with a team on stage and voting open,
// and every iteration is one attendee: POST /api/events/join, then POST /api/events/{id}/votes
// (tagged name=join / name=vote, so the two latencies are reported apart).
// With TOKENS_FILE (written by loadtest/run_suite.py, which joins the attendees first and
// times the joins itself): {"base_url", "event_id", "team_id", "tokens": [...]}; iterations
// only vote, one attendee each, so the vote path is measured alone (SharedArray: one copy
// of the tokens for all VUs).
//
// MODE=rate (default): constant-arrival-rate RATE votes/s for DURATION with up to VUS
//   concurrent voters; iterations the server cannot absorb show up as dropped_iterations.
// MODE=max: VUS voters in a closed loop until the tokens run out: the maximum throughput.
//
// Thresholds (the targets of issue 6): vote p99 <= 100 ms, < 1 % failed requests, and no
// dropped iterations in rate mode.

import http from "k6/http";
import { check, fail } from "k6";
import exec from "k6/execution";
import { SharedArray } from "k6/data";
import { Counter, Trend } from "k6/metrics";

const BASE = (__ENV.BASE_URL || "http://127.0.0.1:8000").replace(/\/$/, "");
const MODE = __ENV.MODE || "rate";
const RATE = Number(__ENV.RATE || 300);
const DURATION = __ENV.DURATION || "30s";
const VUS = Number(__ENV.VUS || 200);
const TOKENS_FILE = __ENV.TOKENS_FILE || "";
const JSON_HEADERS = { "Content-Type": "application/json" };

const prepared = TOKENS_FILE ? JSON.parse(open(TOKENS_FILE)) : null;
const tokens = new SharedArray("attendee tokens", () => (prepared ? prepared.tokens : []));

const voteMs = new Trend("vote_ms", true);
const joinMs = new Trend("join_ms", true);
const votesOk = new Counter("votes_ok");
const votesFailed = new Counter("votes_failed");

function scenario() {
  if (MODE === "max") {
    if (!TOKENS_FILE) fail("MODE=max needs TOKENS_FILE (one prepared attendee per vote)");
    return {
      executor: "shared-iterations",
      vus: VUS,
      iterations: tokens.length,
      maxDuration: __ENV.MAX_DURATION || "120s",
    };
  }
  return {
    executor: "constant-arrival-rate",
    rate: RATE,
    timeUnit: "1s",
    duration: DURATION,
    preAllocatedVUs: VUS,
    maxVUs: VUS,
  };
}

const thresholds = {
  "http_req_duration{name:vote}": ["p(99)<=100"],
  http_req_failed: ["rate<0.01"],
  votes_failed: ["count<1"],
};
if (MODE !== "max") thresholds.dropped_iterations = ["count<1"];

export const options = {
  scenarios: { votes: scenario() },
  thresholds,
  setupTimeout: "120s",
  summaryTrendStats: ["avg", "min", "med", "p(90)", "p(95)", "p(99)", "max"],
  discardResponseBodies: false,
  noConnectionReuse: false,
};

function post(path, body, params) {
  return http.post(`${BASE}${path}`, JSON.stringify(body), params);
}

export function setup() {
  if (prepared) {
    if (MODE !== "max" && tokens.length < RATE * parseSeconds(DURATION)) {
      fail(`TOKENS_FILE holds ${tokens.length} attendees, fewer than RATE x DURATION`);
    }
    return { eventId: prepared.event_id, teamId: prepared.team_id, code: null };
  }
  const name = `host${Date.now()}${Math.floor(Math.random() * 1e6)}`;
  const email = `${name}@example.com`;
  let r = post("/api/auth/register", { username: name, email, password: "password123" }, {
    headers: JSON_HEADERS,
  });
  if (r.status !== 201) fail(`register: ${r.status} ${r.body}`);
  r = post("/api/auth/login", { email, password: "password123" }, { headers: JSON_HEADERS });
  if (r.status !== 200) fail(`login: ${r.status} ${r.body}`);
  const auth = { ...JSON_HEADERS, Authorization: `Bearer ${r.json("access_token")}` };
  r = post("/api/events", { title: "k6 event votes", teams: [{ name: "Team A" }], results: "live" }, {
    headers: auth,
  });
  if (r.status !== 201) fail(`create event: ${r.status} ${r.body}`);
  const event = r.json();
  const teamId = event.teams[0].id;
  r = http.put(`${BASE}/api/events/${event.id}/stage`, JSON.stringify({ team_id: teamId }), {
    headers: auth,
  });
  if (r.status !== 200) fail(`stage: ${r.status} ${r.body}`);
  r = http.put(`${BASE}/api/events/${event.id}/voting`, JSON.stringify({ open: true }), {
    headers: auth,
  });
  if (r.status !== 200) fail(`voting: ${r.status} ${r.body}`);
  return { eventId: event.id, teamId, code: event.code };
}

function parseSeconds(d) {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(String(d));
  if (!m) return 0;
  const unit = { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2] || "s"];
  return Number(m[1]) * unit;
}

function attendeeToken(data) {
  if (prepared) {
    const i = exec.scenario.iterationInTest;
    if (i >= tokens.length) fail(`attendee ${i} was not prepared (only ${tokens.length})`);
    return tokens[i];
  }
  const r = post("/api/events/join", { code: data.code, name: `k6-${exec.vu.idInTest}` }, {
    headers: JSON_HEADERS,
    tags: { name: "join" },
  });
  joinMs.add(r.timings.duration);
  if (!check(r, { "join 201": (res) => res.status === 201 })) return null;
  return r.json("token");
}

export default function (data) {
  const token = attendeeToken(data);
  if (!token) {
    votesFailed.add(1);
    return;
  }
  const score = 1 + (exec.scenario.iterationInTest % 5);
  const r = post(`/api/events/${data.eventId}/votes`, { team_id: data.teamId, score }, {
    headers: { ...JSON_HEADERS, Authorization: `Bearer ${token}` },
    tags: { name: "vote" },
  });
  voteMs.add(r.timings.duration);
  if (check(r, { "vote 201": (res) => res.status === 201 })) {
    votesOk.add(1);
  } else {
    votesFailed.add(1);
  }
}
