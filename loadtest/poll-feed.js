// Poll feed reads: users page through their personal feed.
//
//   BASE_URL=http://127.0.0.1:8000 k6 run loadtest/poll-feed.js
//   k6 run -e RATE=200 -e DURATION=30s -e USERS=100 loadtest/poll-feed.js
//
// setup() registers USERS users (and logs them in) and creates POLLS polls under a few tags.
// Each iteration is one user: GET /api/polls (sometimes with a tag or a search), then follows
// next_cursor for a second page. Iterations arrive at a constant RATE per second
// (constant-arrival-rate): iterations the server cannot absorb show up as dropped_iterations.
//
// The per-user limit (100 requests/min by default) applies: keep RATE*2*60/USERS under it, or
// start the server with LIVEVOTE_LIMITS_USER_PER_MINUTE raised for the test.

import http from "k6/http";
import { check, fail } from "k6";
import { Trend } from "k6/metrics";

const BASE = (__ENV.BASE_URL || "http://127.0.0.1:8000").replace(/\/$/, "");
const RATE = Number(__ENV.RATE || 100);
const DURATION = __ENV.DURATION || "30s";
const USERS = Number(__ENV.USERS || 50);
const POLLS = Number(__ENV.POLLS || 300);
const TAGS = ["sports", "news", "tech", "music", "food"];
const JSON_HEADERS = { "Content-Type": "application/json" };

const firstPageMs = new Trend("feed_first_page_ms", true);
const nextPageMs = new Trend("feed_next_page_ms", true);

export const options = {
  setupTimeout: "300s",
  scenarios: {
    feed: {
      executor: "constant-arrival-rate",
      rate: RATE,
      timeUnit: "1s",
      duration: DURATION,
      preAllocatedVUs: Math.max(20, RATE),
      maxVUs: Math.max(50, RATE * 2),
    },
  },
  thresholds: {
    "http_req_failed{phase:load}": ["rate<0.01"],
    "http_req_duration{name:feed}": ["p(95)<150", "p(99)<300"],
    "http_req_duration{name:feed-next}": ["p(95)<150"],
    checks: ["rate>0.99"],
    dropped_iterations: ["count<" + Math.ceil(RATE * 0.01 * 60)],
  },
};

function register(i) {
  const name = `feed${Date.now().toString(36)}${i}`;
  const email = `${name}@load.example.com`;
  const password = "password123";
  const r = http.post(`${BASE}/api/auth/register`, JSON.stringify({ username: name, email, password }),
    { headers: JSON_HEADERS, tags: { phase: "setup" } });
  if (r.status !== 201) fail(`register: ${r.status} ${r.body}`);
  const l = http.post(`${BASE}/api/auth/login`, JSON.stringify({ email, password }),
    { headers: JSON_HEADERS, tags: { phase: "setup" } });
  if (l.status !== 200) fail(`login: ${l.status} ${l.body}`);
  return l.json("access_token");
}

export function setup() {
  const tokens = [];
  for (let i = 0; i < USERS; i++) tokens.push(register(i));
  const auth = { ...JSON_HEADERS, Authorization: `Bearer ${tokens[0]}` };
  for (let i = 0; i < POLLS; i++) {
    const body = {
      title: `Load poll ${i}: which one do you pick?`,
      options: ["alpha", "beta", "gamma"],
      tags: [TAGS[i % TAGS.length]],
    };
    const r = http.post(`${BASE}/api/polls`, JSON.stringify(body), { headers: auth, tags: { phase: "setup" } });
    if (r.status !== 201) fail(`create poll: ${r.status} ${r.body}`);
  }
  return { tokens };
}

export default function (data) {
  const token = data.tokens[Math.floor(Math.random() * data.tokens.length)];
  const params = (name) => ({ headers: { Authorization: `Bearer ${token}` }, tags: { name, phase: "load" } });
  const roll = Math.random();
  let query = "limit=10";
  if (roll < 0.3) query += `&tag=${TAGS[Math.floor(Math.random() * TAGS.length)]}`;
  else if (roll < 0.4) query += "&q=poll%201";
  const first = http.get(`${BASE}/api/polls?${query}`, params("feed"));
  firstPageMs.add(first.timings.duration);
  const ok = check(first, {
    "feed 200": (r) => r.status === 200,
    "feed has items": (r) => r.status === 200 && Array.isArray(r.json("items")),
  });
  if (!ok || !first.json("has_more")) return;
  const next = http.get(`${BASE}/api/polls?${query}&cursor=${first.json("next_cursor")}`, params("feed-next"));
  nextPageMs.add(next.timings.duration);
  check(next, { "next page 200": (r) => r.status === 200 });
}
