// Host console, pitch competition (templates/_host_jury.html): criteria and the jury's
// weight, jurors with their secret links, the progress grid and the lock, the reveal, the
// printable report and duplicating the event. Follows the console's stream through the
// "lv:state" events host.js dispatches.
"use strict";

(function () {
  const { h, $ } = LV;
  const data = LV.data();
  if (data.page !== "host-event") return;
  const eventId = data.event_id;
  let state = data.event;
  let grid = null;

  function showError(message) {
    $("#error").textContent = message || "";
  }

  async function call(path, method, body) {
    showError("");
    try {
      return await LV.api(path, { method, body, auth: true });
    } catch (err) {
      showError(err.message);
      return null;
    }
  }

  // -- scoring -------------------------------------------------------------------------
  function criterionRow(c, i) {
    const row = h(
      "div",
      { class: "criterion-row" },
      h("input", { type: "text", class: "c-name", value: c.name, maxlength: 40, required: true, "aria-label": `Criterion ${i + 1} name` }),
      h("input", { type: "number", class: "c-weight", value: c.weight, min: 1, max: 10, step: 1, "aria-label": `Criterion ${i + 1} weight` }),
      h("button", { class: "btn sm", type: "button", "aria-label": `Remove criterion ${i + 1}`, onclick: () => { row.remove(); } }, "✕"),
    );
    return row;
  }

  function renderCriteria() {
    $("#criteria-rows").replaceChildren(...(state.criteria || []).map(criterionRow));
  }

  function weightLabel() {
    const jury = Number($("#jury-weight").value);
    $("#jury-weight-out").textContent = `${jury}% jury · ${100 - jury}% audience`;
  }

  $("#add-criterion").addEventListener("click", () => {
    const n = $("#criteria-rows").children.length;
    $("#criteria-rows").append(criterionRow({ name: "", weight: 1 }, n));
    $("#criteria-rows").lastChild.querySelector("input").focus();
  });
  $("#jury-weight").addEventListener("input", weightLabel);

  $("#scoring-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const criteria = [...document.querySelectorAll("#criteria-rows .criterion-row")].map((row) => ({
      name: row.querySelector(".c-name").value.trim(),
      weight: Number(row.querySelector(".c-weight").value) || 1,
    }));
    const same = JSON.stringify(criteria) === JSON.stringify((state.criteria || []).map((c) => ({ name: c.name, weight: c.weight })));
    if (!same) {
      const out = await call(`/api/events/${eventId}/criteria`, "PUT", { criteria });
      if (!out) return;
      state = { ...state, ...out };
    }
    const weight = Number($("#jury-weight").value) / 100;
    if (weight !== state.jury_weight) {
      if (!(await call(`/api/events/${eventId}/jury`, "PUT", { jury_weight: weight }))) return;
      state.jury_weight = weight;
    }
    LV.announce("Scoring saved.");
    $("#scoring-form").classList.add("saved");
    setTimeout(() => $("#scoring-form").classList.remove("saved"), 1500);
  });

  // -- the jury --------------------------------------------------------------------------
  function showLink(juror) {
    const input = h("input", { type: "text", readonly: true, value: juror.link, "aria-label": `Secret link for ${juror.name}` });
    $("#juror-links").append(
      h(
        "li",
        { class: "juror-link", dataset: { jurorId: juror.juror_id } },
        h("b", {}, juror.name),
        input,
        h("button", { class: "btn sm", type: "button", onclick: async () => { if (await LV.copy(juror.link)) LV.announce(`Link for ${juror.name} copied.`); } }, "Copy link"),
      ),
    );
  }

  function renderGrid() {
    if (!grid) return;
    const teams = grid.teams;
    const head = h("tr", {}, h("th", { scope: "col" }, "Juror"), teams.map((t) => h("th", { scope: "col", class: "n" }, t.name)));
    const rows = grid.jurors.map((j) =>
      h(
        "tr",
        { dataset: { jurorId: j.juror_id } },
        h("th", { scope: "row" }, j.name),
        teams.map((t) => {
          const done = j.scored.includes(t.id);
          return h("td", { class: "n cell " + (done ? "done" : "todo"), "aria-label": `${j.name}, ${t.name}: ${done ? "scored" : "not yet"}` }, done ? "✓" : "–");
        }),
      ),
    );
    const table = $("#jury-grid");
    table.replaceChildren(h("thead", {}, head), h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: teams.length + 1, class: "muted" }, "No jurors yet — add one above."))));
    $("#jury-chip").textContent = grid.locked ? "Locked" : "Open";
    $("#jury-chip").className = "chip " + (grid.locked ? "live" : "muted");
    $("#jury-lock").textContent = grid.locked ? "Unlock jury" : "Lock jury";
  }

  async function loadGrid() {
    if (!LV.token.get()) return;
    try {
      grid = await LV.api(`/api/events/${eventId}/jury`, { auth: true });
      renderGrid();
    } catch (err) {
      /* not the host, or a blip: host.js shows sign-in problems */
    }
  }

  $("#juror-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const input = ev.target.querySelector("input[name=name]");
    const name = input.value.trim();
    if (!name) return;
    const juror = await call(`/api/events/${eventId}/jurors`, "POST", { name });
    if (!juror) return;
    input.value = "";
    showLink(juror);
    LV.announce(`${name} added to the jury. Copy their link now: it is shown once.`);
    loadGrid();
  });

  $("#jury-lock").addEventListener("click", async () => {
    const out = await call(`/api/events/${eventId}/jury`, "PUT", { locked: !(grid && grid.locked) });
    if (out) {
      grid = out;
      renderGrid();
      LV.announce(out.locked ? "The jury is locked." : "The jury is open again.");
    }
  });

  // -- ceremony, report, duplicate ---------------------------------------------------------
  function renderReveal() {
    const reveal = state.reveal;
    const hidden = state.results_visibility === "hidden" || (reveal && !reveal.complete);
    const button = $("#reveal-next");
    button.disabled = !hidden || Boolean(reveal && reveal.complete);
    const total = (state.teams || []).length;
    $("#reveal-status").textContent = reveal
      ? reveal.complete
        ? `All ${reveal.total} places revealed.`
        : `${reveal.step} of ${reveal.total} places revealed — next: place ${reveal.total - reveal.step}.`
      : hidden
        ? `Results are hidden. Reveal the ${total} places one by one on the screen, last to first.`
        : "Results are live: there is nothing to reveal. Hide them to hold a ceremony.";
  }

  $("#reveal-next").addEventListener("click", async () => {
    const out = await call(`/api/events/${eventId}/reveal/next`, "POST");
    if (!out) return;
    state = { ...state, ...out.event, reveal: out.reveal };
    const newest = out.reveal.places[out.reveal.places.length - 1];
    LV.announce(`Place ${newest.place}: ${newest.name}.`);
    renderReveal();
  });

  $("#print-report").addEventListener("click", async () => {
    showError("");
    const win = window.open("", "_blank");
    try {
      const response = await LV.api(`/api/events/${eventId}/report`, { auth: true, raw: true });
      const url = URL.createObjectURL(new Blob([await response.text()], { type: "text/html" }));
      if (win) win.location.href = url;
      else location.href = url;
    } catch (err) {
      if (win) win.close();
      showError(err.message);
    }
  });

  $("#duplicate-event").addEventListener("click", async () => {
    const out = await call(`/api/events/${eventId}/duplicate`, "POST");
    if (!out) return;
    // The copy's juror links are shown once: carry them to its console.
    sessionStorage.setItem(`lv:new-jurors:${out.event.id}`, JSON.stringify(out.jurors));
    location.href = `/host/events/${out.event.id}`;
  });

  const carried = sessionStorage.getItem(`lv:new-jurors:${eventId}`);
  if (carried) {
    sessionStorage.removeItem(`lv:new-jurors:${eventId}`);
    for (const juror of JSON.parse(carried)) showLink(juror);
  }

  let timer = null;
  document.addEventListener("lv:state", (ev) => {
    state = { ...state, ...ev.detail };
    renderReveal();
    clearTimeout(timer);
    timer = setTimeout(loadGrid, 800); // sheets move the event's jury tally: re-read the grid
  });

  // With results hidden the public stream does not change when a juror saves: re-read the
  // grid every few seconds while the jury is open (well under the per-user API limit).
  setInterval(() => {
    if (grid && !grid.locked && grid.jurors.length && document.visibilityState === "visible") loadGrid();
  }, 3000);

  renderCriteria();
  weightLabel();
  renderReveal();
  loadGrid();
})();
