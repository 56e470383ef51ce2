// The k6 client's own ceiling: VUS virtual users in a closed loop on GET /health/live (a
// trivial route) for DURATION. Run by the suite's `clients` scenario (loadtest/lib/clients.py).
//
//   k6 run -e BASE_URL=http://127.0.0.1:8000 -e VUS=200 -e DURATION=5s loadtest/health-live.js

import http from "k6/http";

const BASE = (__ENV.BASE_URL || "http://127.0.0.1:8000").replace(/\/$/, "");

export const options = {
  scenarios: {
    live: {
      executor: "constant-vus",
      vus: Number(__ENV.VUS || 200),
      duration: __ENV.DURATION || "5s",
    },
  },
  summaryTrendStats: ["avg", "min", "med", "p(90)", "p(95)", "p(99)", "max"],
};

export default function () {
  http.get(`${BASE}/health/live`, { tags: { name: "live" } });
}
