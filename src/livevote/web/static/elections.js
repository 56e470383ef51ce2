// livevote — election results screen: national bars (each party in its own colour, in the
// election's display order: a party never changes colour or place), per-city drill-down and
// reporting progress, fed by Server-Sent Events (GET /api/elections/{id}/stream,
// `event: state`, each message a full snapshot). Built on livevote.js (LV): DOM through LV.h, never
// innerHTML with user-typed names; the stream through LV.live, which reconnects on its own.
"use strict";

(function () {
  const FALLBACK = "#94a3b8";
  const { h } = LV;
  const boot = LV.data();
  const $ = (id) => document.getElementById(id);
  const fmt = new Intl.NumberFormat();
  let state = boot.state || null;
  let selected = null; // city name, or null for national

  function colour(party) {
    return (state && state.colours && state.colours[party]) || FALLBACK;
  }

  function sum(votes) {
    return Object.values(votes).reduce((a, b) => a + b, 0);
  }

  function renderBars(scope) {
    const total = sum(scope.votes);
    const rows = state.parties.map((p) => ({ party: p, votes: scope.votes[p] || 0 }));
    const max = Math.max(1, ...rows.map((r) => r.votes));
    const lead = leader(scope.votes);
    $("bars").replaceChildren(...rows.map((r) => {
      const pct = total ? (100 * r.votes) / total : 0;
      return h("li", { class: "el-bar" + (r.party === lead ? " lead" : ""), "data-party": r.party },
        h("span", { class: "el-party" },
          h("i", { class: "el-swatch", style: `background:${colour(r.party)}` }), r.party),
        h("span", { class: "el-track" },
          h("i", { style: `width:${(100 * r.votes) / max}%;background:${colour(r.party)}` })),
        h("span", { class: "el-votes num", text: fmt.format(r.votes) }),
        h("span", { class: "el-share num", text: pct.toFixed(1) + "%" }));
    }));
    $("total").textContent = fmt.format(total);
  }

  function renderProgress(scope) {
    $("reported").textContent = fmt.format(scope.reported_boxes);
    $("expected").textContent = fmt.format(scope.expected_boxes);
    const pct = scope.expected_boxes ? Math.min(100, (100 * scope.reported_boxes) / scope.expected_boxes) : 0;
    $("pct").textContent = `(${pct.toFixed(1)}%)`;
    $("meter-fill").style.width = pct + "%";
    $("meter").setAttribute("aria-valuenow", pct.toFixed(0));
  }

  function leader(votes) {
    let best = null;
    for (const p of state.parties) if ((votes[p] || 0) > 0 && (!best || votes[p] > votes[best])) best = p;
    return best;
  }

  function renderCities() {
    $("cities").replaceChildren(...state.cities.map((c) => {
      const lead = leader(c.votes);
      return h("li", null,
        h("button", {
          type: "button",
          class: "el-city" + (c.name === selected ? " selected" : ""),
          "aria-pressed": c.name === selected ? "true" : "false",
          "data-city": c.name,
          onclick: () => select(c.name === selected ? null : c.name),
        },
        h("span", { class: "el-city-name", text: c.name }),
        h("span", { class: "el-city-lead" },
          lead ? h("i", { class: "el-swatch", style: `background:${colour(lead)}` }) : null,
          lead || "no votes yet"),
        h("span", { class: "el-city-boxes num",
          text: `${fmt.format(c.reported_boxes)} / ${fmt.format(c.expected_boxes)} boxes` }),
        h("span", { class: "el-city-meter", "aria-hidden": "true" },
          h("i", { style: `width:${c.expected_boxes ? Math.min(100, (100 * c.reported_boxes) / c.expected_boxes) : 0}%` }))));
    }));
  }

  function render() {
    if (!state) return;
    const city = selected && state.cities.find((c) => c.name === selected);
    const scope = city || state.national;
    $("scope").textContent = city ? city.name : "National";
    $("back").hidden = !city;
    renderProgress(scope);
    renderBars(scope);
    renderCities();
  }

  function select(name) {
    selected = name;
    render();
    LV.announce(name ? `Showing ${name}` : "Showing national results");
  }

  $("back").addEventListener("click", () => select(null));

  render();
  // The first message after a reconnect is a full snapshot: nothing to re-fetch meanwhile.
  LV.live(`/api/elections/${boot.election_id}/stream`, {
    onState(next) {
      state = next;
      render();
    },
    onStatus: LV.connIndicator($("conn")),
  });
})();
