// Election-night ballot-box reports: a constant arrival rate of reports against one election.
//
//   k6 run -e BASE_URL=http://127.0.0.1:8000 loadtest/ballot-reports.js
//   k6 run -e RATE=200 -e DURATION=30s -e CITIES=20 -e BOXES=5000 loadtest/ballot-reports.js
//
// setup() registers a user, creates an election (PARTIES parties, CITIES cities, BOXES ballot
// boxes in all) and returns its id and reporter key. Every iteration is one report
// (POST /api/elections/{id}/reports with X-Reporter-Key) of its OWN ballot box: the box is
// the iteration's number in the whole test (exec.scenario.iterationInTest, distinct across
// VUs), so every box reports exactly once (a second plain report of a box is a 409
// box-already-reported). Give BOXES >= RATE x DURATION (the election's limits are
// LIVEVOTE_ELECTIONS_MAX_BOXES, default 1,000,000, and LIVEVOTE_ELECTIONS_MAX_CITIES, 2,000);
// an iteration beyond BOXES sends nothing and counts in boxes_exhausted (a failed run).
// RESEND_EVERY=n makes every n-th iteration resend its VU's previous report (same report_id,
// same body: idempotent, must answer 202 and change nothing). teardown() prints the totals,
// so "reports sent x counts" can be compared with the national total.
//
// Ballot boxes carry no user token, so they fall under the per-address limit
// (LIVEVOTE_LIMITS_ADDRESS_PER_SECOND, default 200/s): for a load test from one machine,
// start the server with that limit raised above RATE, or you measure the rate limiter.

import http from "k6/http";
import { check } from "k6";
import exec from "k6/execution";
import { Counter, Trend } from "k6/metrics";

const BASE = (__ENV.BASE_URL || "http://127.0.0.1:8000").replace(/\/$/, "");
const RATE = Number(__ENV.RATE || 100);
const DURATION = __ENV.DURATION || "10s";
const VUS = Number(__ENV.VUS || 100);
const PARTIES = Number(__ENV.PARTIES || 4);
const CITIES = Number(__ENV.CITIES || 10);
const BOXES = Number(__ENV.BOXES || 1000);
const RESEND_EVERY = Number(__ENV.RESEND_EVERY || 0);
const JSON_HEADERS = { "Content-Type": "application/json" };

const reportMs = new Trend("report_ms", true);
const reportsApplied = new Counter("reports_applied");
const reportsFailed = new Counter("reports_failed");
const boxesExhausted = new Counter("boxes_exhausted");

export const options = {
  scenarios: {
    reports: {
      executor: "constant-arrival-rate",
      rate: RATE,
      timeUnit: "1s",
      duration: DURATION,
      preAllocatedVUs: VUS,
      maxVUs: VUS,
    },
  },
  thresholds: {
    http_req_failed: ["rate<0.01"],
    reports_failed: ["count<1"],
    boxes_exhausted: ["count<1"],
    "http_req_duration{name:report}": ["p(95)<500"],
  },
  setupTimeout: "60s",
  summaryTrendStats: ["avg", "min", "med", "p(90)", "p(95)", "p(99)", "max"],
};

function post(path, body, params) {
  return http.post(`${BASE}${path}`, JSON.stringify(body), params);
}

export function setup() {
  const name = `k6_${Date.now().toString(36)}${Math.floor(Math.random() * 1e6)}`;
  const email = `${name}@example.com`;
  let r = post("/api/auth/register", { username: name, email, password: "password123" },
    { headers: JSON_HEADERS });
  check(r, { registered: (x) => x.status === 201 });
  r = post("/api/auth/login", { email, password: "password123" }, { headers: JSON_HEADERS });
  const token = r.json("access_token");
  const parties = Array.from({ length: PARTIES }, (_, i) => `party${i}`);
  const perCity = Math.ceil(BOXES / CITIES);
  const cities = Array.from({ length: CITIES }, (_, i) => ({ name: `city${i}`, ballot_boxes: perCity }));
  r = post("/api/elections", { name: `k6 election ${name}`, parties, cities },
    { headers: { ...JSON_HEADERS, Authorization: `Bearer ${token}` } });
  if (r.status !== 201) throw new Error(`election not created: ${r.status} ${r.body}`);
  return { id: r.json("id"), key: r.json("reporter_key"), parties, perCity, token };
}

function reportFor(data, box) {
  const votes = {};
  for (const p of data.parties) votes[p] = Math.floor(Math.random() * 200);
  return {
    report_id: `k6-${box}`,
    ballot_box_id: `box${box}`,
    city: `city${box % CITIES}`, // round robin: consecutive reports land on different shards
    votes,
  };
}

let last = null; // per VU: the last report sent, for idempotent resends

export default function (data) {
  const n = exec.scenario.iterationInTest;
  const resend = RESEND_EVERY > 0 && last !== null && n % RESEND_EVERY === 0;
  if (!resend && n >= BOXES) {
    boxesExhausted.add(1); // every box has reported: BOXES too small for RATE x DURATION
    return;
  }
  const body = resend ? last : reportFor(data, n);
  const r = post(`/api/elections/${data.id}/reports`, body, {
    headers: { ...JSON_HEADERS, "X-Reporter-Key": data.key },
    tags: { name: "report" },
  });
  reportMs.add(r.timings.duration);
  const ok = check(r, { "202 accepted": (x) => x.status === 202 });
  if (ok && !resend) reportsApplied.add(1);
  if (!ok) reportsFailed.add(1);
  last = body;
}

export function teardown(data) {
  const r = http.get(`${BASE}/api/elections/${data.id}/totals`);
  console.log(`election ${data.id} totals: ${r.body}`);
}
