// Poll voting: users vote on (or skip) random polls.
//
//   BASE_URL=http://127.0.0.1:8000 k6 run loadtest/voting.js
//   k6 run -e RATE=100 -e DURATION=30s -e USERS=100 -e POLLS=500 loadtest/voting.js
//
// setup() registers USERS users and creates POLLS polls. Each iteration: a random user votes
// (80 %) or skips (20 %) a random poll. Expected answers are 201, 409 (that user already
// answered that poll) and 429 "daily-vote-limit" (after 100 votes per user per UTC day);
// anything else fails the `checks` threshold. Constant arrival rate; the per-user API limit
// (100/min) applies, so keep RATE*60/USERS under it or raise LIVEVOTE_LIMITS_USER_PER_MINUTE.

import http from "k6/http";
import { check } from "k6";
import { Counter } from "k6/metrics";
import { BASE, JSON_HEADERS, arrivals, createPolls, pick, registerUsers } from "./poll-lib.js";

const RATE = Number(__ENV.RATE || 50);
const DURATION = __ENV.DURATION || "30s";
const USERS = Number(__ENV.USERS || 50);
const POLLS = Number(__ENV.POLLS || 300);

const accepted = new Counter("responses_accepted");
const duplicates = new Counter("responses_duplicate");
const limited = new Counter("votes_daily_limited");

export const options = {
  setupTimeout: "300s",
  scenarios: { voting: arrivals(RATE, DURATION) },
  thresholds: {
    "http_req_duration{name:vote}": ["p(95)<200", "p(99)<400"],
    "http_req_duration{name:skip}": ["p(95)<200"],
    checks: ["rate>0.99"],
    dropped_iterations: ["count<" + Math.ceil(RATE * 0.01 * 60)],
  },
};

export function setup() {
  const tokens = registerUsers(USERS, "vote");
  const polls = createPolls(tokens[0], POLLS, (i) => ({
    title: `Vote poll ${i}`,
    options: ["yes", "no", "maybe"],
    tags: ["load"],
  }));
  return { tokens, polls };
}

export default function (data) {
  const token = pick(data.tokens);
  const poll = pick(data.polls);
  const headers = { ...JSON_HEADERS, Authorization: `Bearer ${token}` };
  const voting = Math.random() < 0.8;
  const r = voting
    ? http.post(`${BASE}/api/polls/${poll}/vote`, JSON.stringify({ optionIndex: Math.floor(Math.random() * 3) }),
      { headers, tags: { name: "vote" }, responseCallback: http.expectedStatuses(201, 409, 429) })
    : http.post(`${BASE}/api/polls/${poll}/skip`, null,
      { headers, tags: { name: "skip" }, responseCallback: http.expectedStatuses(201, 409) });
  if (r.status === 201) accepted.add(1);
  else if (r.status === 409) duplicates.add(1);
  else if (r.status === 429) limited.add(1);
  check(r, {
    "201, 409 or daily limit": (res) => res.status === 201 || res.status === 409
      || (res.status === 429 && String(res.json("type")).endsWith("/daily-vote-limit")),
  });
}
