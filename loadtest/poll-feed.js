// Poll feed reads: users page through their personal feed.
//
//   BASE_URL=http://127.0.0.1:8000 k6 run loadtest/poll-feed.js
//   k6 run -e RATE=200 -e DURATION=30s -e USERS=100 loadtest/poll-feed.js
//
// setup() registers USERS users (and logs them in) and creates POLLS polls under a few tags —
// or, with -e PRESET=<file.json> ({"tokens": [...]}, written by loadtest/feed_cpu.py), uses
// those users, so that the server's CPU during the run is the load phase's alone.
// Each iteration is one user: GET /api/polls (sometimes with a tag or a search), then follows
// next_cursor for a second page. Iterations arrive at a constant RATE per second
// (constant-arrival-rate): iterations the server cannot absorb show up as dropped_iterations.
//
// The per-user limit (100 requests/min by default) applies: keep RATE*2*60/USERS under it, or
// start the server with LIVEVOTE_LIMITS_USER_PER_MINUTE raised for the test.

import http from "k6/http";
import { check } from "k6";
import { Trend } from "k6/metrics";
import { BASE, arrivals, createPolls, pick, registerUsers } from "./poll-lib.js";

const RATE = Number(__ENV.RATE || 100);
const DURATION = __ENV.DURATION || "30s";
const USERS = Number(__ENV.USERS || 50);
const POLLS = Number(__ENV.POLLS || 300);
const TAGS = ["sports", "news", "tech", "music", "food"];

const firstPageMs = new Trend("feed_first_page_ms", true);
const nextPageMs = new Trend("feed_next_page_ms", true);

export const options = {
  setupTimeout: "300s",
  scenarios: { feed: arrivals(RATE, DURATION) },
  thresholds: {
    "http_req_failed{phase:load}": ["rate<0.01"],
    "http_req_duration{name:feed}": ["p(95)<150", "p(99)<300"],
    "http_req_duration{name:feed-next}": ["p(95)<150"],
    checks: ["rate>0.99"],
    dropped_iterations: ["count<" + Math.ceil(RATE * 0.01 * 60)],
  },
};

const PRESET = __ENV.PRESET ? JSON.parse(open(__ENV.PRESET)) : null;

export function setup() {
  if (PRESET) return { tokens: PRESET.tokens };
  const tokens = registerUsers(USERS, "feed");
  createPolls(tokens[0], POLLS, (i) => ({
    title: `Load poll ${i}: which one do you pick?`,
    options: ["alpha", "beta", "gamma"],
    tags: [TAGS[i % TAGS.length]],
  }));
  return { tokens };
}

export default function (data) {
  const token = pick(data.tokens);
  const params = (name) => ({ headers: { Authorization: `Bearer ${token}` }, tags: { name, phase: "load" } });
  const roll = Math.random();
  let query = "limit=10";
  if (roll < 0.3) query += `&tag=${pick(TAGS)}`;
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
