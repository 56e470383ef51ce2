// Shared by poll-feed.js and voting.js: users, polls and the constant-arrival-rate scenario.

import http from "k6/http";
import { fail } from "k6";

export const BASE = (__ENV.BASE_URL || "http://127.0.0.1:8000").replace(/\/$/, "");
export const JSON_HEADERS = { "Content-Type": "application/json" };
const SETUP = { headers: JSON_HEADERS, tags: { phase: "setup" } };

// RATE iterations per second for DURATION, with enough VUs to keep up.
export function arrivals(rate, duration) {
  return {
    executor: "constant-arrival-rate",
    rate,
    timeUnit: "1s",
    duration,
    preAllocatedVUs: Math.max(20, rate),
    maxVUs: Math.max(50, rate * 2),
  };
}

// Register and log in `count` fresh users; returns their Bearer tokens.
export function registerUsers(count, prefix) {
  const tokens = [];
  for (let i = 0; i < count; i++) {
    const name = `${prefix}${Date.now().toString(36)}${i}`;
    const email = `${name}@load.example.com`;
    const password = "password123";
    const r = http.post(`${BASE}/api/auth/register`, JSON.stringify({ username: name, email, password }), SETUP);
    if (r.status !== 201) fail(`register: ${r.status} ${r.body}`);
    const l = http.post(`${BASE}/api/auth/login`, JSON.stringify({ email, password }), SETUP);
    if (l.status !== 200) fail(`login: ${l.status} ${l.body}`);
    tokens.push(l.json("access_token"));
  }
  return tokens;
}

// Create polls as `token`; `make(i)` returns the body of poll i. Returns the poll ids.
export function createPolls(token, count, make) {
  const params = { headers: { ...JSON_HEADERS, Authorization: `Bearer ${token}` }, tags: { phase: "setup" } };
  const ids = [];
  for (let i = 0; i < count; i++) {
    const r = http.post(`${BASE}/api/polls`, JSON.stringify(make(i)), params);
    if (r.status !== 201) fail(`create poll: ${r.status} ${r.body}`);
    ids.push(r.json("id"));
  }
  return ids;
}

export function pick(list) {
  return list[Math.floor(Math.random() * list.length)];
}
