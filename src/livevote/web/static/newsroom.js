// livevote — the newsroom console: /newsroom (sign in, create and list elections) and
// /newsroom/{id} (live dashboard: national and per-city totals in each party's own colour,
// reporting progress, a totals-over-time chart, the latest reports with corrections marked,
// reporter keys). Built on livevote.js (LV.h, LV.api, LV.signIn, LV.live); no innerHTML.
"use strict";

(function () {
  const { h, $, api, announce, ApiError } = LV;
  const boot = LV.data();
  const fmt = new Intl.NumberFormat();
  const time = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  const SVG = "http://www.w3.org/2000/svg";
  let state = null;
  let election = null;

  function showError(message) {
    $("#error").textContent = message || "";
  }

  function failed(err) {
    if (err instanceof ApiError && err.status === 401) {
      LV.signOut();
      window.location.reload();
      return;
    }
    showError(err.message);
  }

  const sum = (votes) => Object.values(votes || {}).reduce((a, b) => a + b, 0);
  const pct = (a, b) => (b ? Math.min(100, (100 * a) / b) : 0);
  const colour = (party) => (state || election).colours[party] || "#64748b";

  // ---------------------------------------------------------------- sign in / index
  function initAccount() {
    const signedIn = Boolean(LV.token.get());
    $("#signin").hidden = signedIn;
    $("#sign-out").hidden = !signedIn;
    const user = LV.user.get();
    $("#account-name").textContent = signedIn && user ? user.username || user.email || "" : "";
    $("#sign-out").addEventListener("click", () => {
      LV.signOut();
      window.location.assign("/newsroom");
    });
    $("#login-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const form = event.target;
      try {
        await LV.signIn(form.email.value.trim(), form.password.value);
        window.location.reload();
      } catch (err) {
        showError(err.message);
      }
    });
    return signedIn;
  }

  function parseParties(text) {
    return text.split("\n").map((line) => line.trim()).filter(Boolean).map((line) => {
      const m = line.match(/^(.*?)[\s,]+(#[0-9a-fA-F]{6})$/);
      return m ? { name: m[1].trim(), colour: m[2] } : line;
    });
  }

  function parseCities(text) {
    const rows = text.split("\n").map((line) => line.trim()).filter(Boolean);
    const out = [];
    for (const row of rows) {
      const cells = row.split(/[,;\t]/).map((c) => c.trim().replace(/^"|"$/g, ""));
      const boxes = Number(cells[cells.length - 1]);
      if (!Number.isInteger(boxes)) {
        if (out.length === 0) continue; // a header row
        throw new Error(`"${row}": the last column must be the number of ballot boxes`);
      }
      out.push({ name: cells.slice(0, -1).join(", "), ballot_boxes: boxes });
    }
    return out;
  }

  async function initIndex() {
    $("#index").hidden = false;
    $("#create-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const form = event.target;
      showError("");
      try {
        const body = {
          name: form.name.value.trim(),
          parties: parseParties(form.parties.value),
          cities: parseCities(form.cities.value),
        };
        const created = await api("/api/elections", { method: "POST", body, auth: true });
        sessionStorage.setItem(`lv:new-key:${created.id}`, JSON.stringify(
          { key_id: created.reporter_key_id, key: created.reporter_key, city: null }));
        window.location.assign(`/newsroom/${created.id}`);
      } catch (err) {
        failed(err);
      }
    });
    try {
      const { items } = await api("/api/elections", { auth: true });
      $("#elections-empty").hidden = items.length > 0;
      $("#elections").replaceChildren(...items.map((e) => h("li", null,
        h("a", { href: `/newsroom/${e.id}`, class: "nr-election" },
          h("b", { text: e.name }),
          h("span", { class: "muted small", text: `${e.parties.length} parties · ${e.cities.length} cities · ${fmt.format(e.expected_boxes)} boxes` }),
          h("span", { class: "nr-swatches", "aria-hidden": "true" },
            e.parties.map((p) => h("i", { style: `background:${e.colours[p]}` })))))));
    } catch (err) {
      failed(err);
    }
  }

  // ---------------------------------------------------------------- dashboard
  function renderStats() {
    const n = state.national;
    $("#stat-votes").textContent = fmt.format(sum(n.votes));
    $("#stat-reported").textContent = fmt.format(n.reported_boxes);
    $("#stat-expected").textContent = fmt.format(n.expected_boxes);
    const p = pct(n.reported_boxes, n.expected_boxes);
    $("#stat-pct").textContent = `${p.toFixed(1)}%`;
    $("#meter-fill").style.width = `${p}%`;
    $("#meter").setAttribute("aria-valuenow", p.toFixed(0));
  }

  function renderBars() {
    const votes = state.national.votes;
    const total = sum(votes);
    const max = Math.max(1, ...state.parties.map((p) => votes[p] || 0));
    $("#bars").replaceChildren(...state.parties.map((p) => h("li", { class: "nr-bar", "data-party": p },
      h("span", { class: "nr-party" }, h("i", { class: "nr-swatch", style: `background:${colour(p)}` }), p),
      h("span", { class: "nr-track" }, h("i", { style: `width:${(100 * (votes[p] || 0)) / max}%;background:${colour(p)}` })),
      h("span", { class: "num nr-votes", text: fmt.format(votes[p] || 0) }),
      h("span", { class: "num muted nr-share", text: `${pct(votes[p] || 0, total).toFixed(1)}%` }))));
  }

  function leader(votes) {
    let best = null;
    for (const p of state.parties) if ((votes[p] || 0) > 0 && (!best || votes[p] > votes[best])) best = p;
    return best;
  }

  // Each party's share of a city's votes, in the party's colour (numbers for screen readers).
  function shareBar(votes) {
    const total = sum(votes);
    const parties = state.parties.filter((p) => votes[p]);
    return h("span", { class: "nr-stack" },
      parties.map((p) => h("i", { style: `width:${pct(votes[p], total)}%;background:${colour(p)}`, title: `${p} ${fmt.format(votes[p])}` })),
      h("span", { class: "sr-only", text: parties.map((p) => `${p} ${fmt.format(votes[p])}`).join(", ") || "no votes yet" }));
  }

  function renderCities() {
    $("#cities").replaceChildren(...state.cities.map((c) => {
      const p = pct(c.reported_boxes, c.expected_boxes);
      const lead = leader(c.votes);
      return h("tr", { "data-city": c.name },
        h("th", { scope: "row", text: c.name }),
        h("td", null, h("span", { class: "nr-cell-meter", role: "progressbar", "aria-label": `${c.name}: boxes reported`,
          "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": p.toFixed(0) },
        h("i", { style: `width:${p}%` }))),
        h("td", { class: "r num", text: `${fmt.format(c.reported_boxes)} / ${fmt.format(c.expected_boxes)}` }),
        h("td", null, lead ? h("span", { class: "nr-lead" }, h("i", { class: "nr-swatch", style: `background:${colour(lead)}` }), lead) : h("span", { class: "muted", text: "—" })),
        h("td", null, shareBar(c.votes)),
        h("td", { class: "r num", text: fmt.format(sum(c.votes)) }));
    }));
  }

  function renderLatest() {
    const items = state.latest || [];
    $("#latest-empty").hidden = items.length > 0;
    $("#latest").replaceChildren(...items.map((r) => h("li", { class: "nr-report" + (r.kind === "correction" ? " correction" : ""), "data-report": r.report_id },
      h("span", { class: "nr-report-time num", text: time.format(new Date(r.received_at)) }),
      h("span", { class: "nr-report-where" }, h("b", { text: r.city }), ` · box ${r.ballot_box_id}`),
      r.kind === "correction" ? h("span", { class: "nr-badge", text: "Correction" }) : null,
      h("span", { class: "nr-report-votes" }, state.parties.filter((p) => p in r.votes).map((p) =>
        h("span", { class: "nr-chip" }, h("i", { class: "nr-swatch", style: `background:${colour(p)}` }), `${p} ${fmt.format(r.votes[p])}`))))));
  }

  function svg(tag, attrs) {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
    return el;
  }

  function renderChart(points) {
    const W = 640, H = 260, L = 56, R = 12, T = 12, B = 28;
    const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", class: "nr-svg" });
    const title = svg("title", {});
    title.textContent = "Votes per party over time";
    chart.append(title);
    const max = Math.max(1, ...points.flatMap((pt) => state.parties.map((p) => pt.votes[p] || 0)));
    const x = (i) => L + (points.length < 2 ? (W - L - R) / 2 : (i * (W - L - R)) / (points.length - 1));
    const y = (v) => T + (H - T - B) * (1 - v / max);
    for (let g = 0; g <= 4; g += 1) {
      const v = (max * g) / 4;
      chart.append(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "nr-grid-line" }));
      const label = svg("text", { x: L - 8, y: y(v) + 4, "text-anchor": "end", class: "nr-axis" });
      label.textContent = fmt.format(Math.round(v));
      chart.append(label);
    }
    if (points.length) {
      for (const [i, pt] of [[0, points[0]], [points.length - 1, points[points.length - 1]]]) {
        const label = svg("text", { x: x(i), y: H - 8, "text-anchor": i ? "end" : "start", class: "nr-axis" });
        label.textContent = time.format(new Date(pt.at));
        chart.append(label);
      }
    }
    for (const p of state.parties) {
      const d = points.map((pt, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(pt.votes[p] || 0).toFixed(1)}`).join(" ");
      if (d) chart.append(svg("path", { d, fill: "none", stroke: colour(p), "stroke-width": 3, "stroke-linejoin": "round", "data-party": p }));
      if (points.length === 1) chart.append(svg("circle", { cx: x(0), cy: y(points[0].votes[p] || 0), r: 5, fill: colour(p) }));
    }
    $("#chart").replaceChildren(chart);
    $("#chart-legend").replaceChildren(...state.parties.map((p) =>
      h("span", { class: "nr-chip" }, h("i", { class: "nr-swatch", style: `background:${colour(p)}` }), p)));
  }

  let chartTimer = null;
  function refreshChart() {
    clearTimeout(chartTimer);
    chartTimer = setTimeout(async () => {
      try {
        const { points } = await api(`/api/elections/${boot.election_id}/timeline`);
        renderChart(points);
      } catch (err) {
        /* the chart catches up with the next update */
      }
    }, 300);
  }

  async function loadKeys() {
    const { items } = await api(`/api/elections/${boot.election_id}/reporter-keys`, { auth: true });
    $("#keys").replaceChildren(...items.map((k) => h("li", { class: "nr-keyrow" + (k.revoked_at ? " revoked" : ""), "data-key": k.key_id },
      h("span", null, h("b", { text: k.city || "All cities" }), h("span", { class: "muted small", text: ` · key ${k.key_id} · ${k.revoked_at ? "revoked" : "active since " + time.format(new Date(k.created_at))}` })),
      k.revoked_at ? null : h("button", { type: "button", class: "btn sm stop", "aria-label": `Revoke the ${k.city || "election-wide"} key ${k.key_id}`,
        onclick: () => revokeKey(k) }, "Revoke"))));
  }

  function showNewKey(k) {
    $("#new-key").hidden = false;
    $("#new-key-scope").textContent = k.city ? `It reports for ${k.city} only.` : "It reports for every city.";
    $("#new-key-value").textContent = k.key;
    $("#new-key-cli").textContent = `livevote report --url ${window.location.origin} --election ${boot.election_id} --key ${k.key} --city ${k.city || "CITY"} --box BOX party=count…`;
    announce("New reporter key created. Copy it now: it is shown only once.");
  }

  async function revokeKey(k) {
    try {
      await api(`/api/elections/${boot.election_id}/reporter-keys/${k.key_id}`, { method: "DELETE", auth: true });
      announce(`Key ${k.key_id} revoked`);
      await loadKeys();
    } catch (err) {
      failed(err);
    }
  }

  function render() {
    renderStats();
    renderBars();
    renderCities();
    renderLatest();
  }

  async function initDashboard() {
    try {
      election = await api(`/api/elections/${boot.election_id}`);
    } catch (err) {
      showError(err.status === 404 ? "This election doesn't exist." : err.message);
      return;
    }
    $("#dashboard").hidden = false;
    document.title = `${election.name} · Newsroom · livevote`;
    $("#title").textContent = election.name;
    $("#screen-link").href = `/elections/${election.id}/screen`;
    $("#key-city").append(...election.cities.map((c) => h("option", { value: c.name, text: c.name })));
    const stored = sessionStorage.getItem(`lv:new-key:${election.id}`);
    if (stored) {
      sessionStorage.removeItem(`lv:new-key:${election.id}`);
      showNewKey(JSON.parse(stored));
    }
    $("#copy-key").addEventListener("click", async () => {
      if (await LV.copy($("#new-key-value").textContent)) announce("Key copied");
    });
    $("#key-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const city = event.target.city.value || null;
      try {
        showNewKey(await api(`/api/elections/${boot.election_id}/reporter-keys`, { method: "POST", body: city ? { city } : {}, auth: true }));
        await loadKeys();
      } catch (err) {
        failed(err);
      }
    });
    loadKeys().catch(failed);
    let seen = null;
    LV.live(`/api/elections/${boot.election_id}/stream`, {
      onState(next) {
        const newest = (next.latest || [])[0];
        if (seen !== null && newest && newest.report_id !== seen) {
          announce(`${newest.kind === "correction" ? "Correction" : "Report"} from ${newest.city}, box ${newest.ballot_box_id}`);
        }
        seen = newest ? newest.report_id : "";
        state = next;
        render();
        refreshChart();
      },
      onStatus: LV.connIndicator($("#conn")),
    });
  }

  if (!initAccount()) return;
  if (boot.election_id) initDashboard();
  else initIndex();
})();
