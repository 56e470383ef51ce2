// Juror page: one score sheet per team, one row of score buttons per criterion. The token
// comes in the link's fragment (#token=...), is kept in this tab's sessionStorage and sent
// as a Bearer token; the address bar loses it at once.
"use strict";

(function () {
  const { h, $, t } = LV;
  const data = LV.data();
  const eventId = data.event_id;
  const KEY = `lv:juror:${eventId}`;
  let view = null;

  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.get("token")) {
    sessionStorage.setItem(KEY, fragment.get("token"));
    history.replaceState(null, "", location.pathname);
  }
  const token = sessionStorage.getItem(KEY);

  function showError(message) {
    $("#error").textContent = message || "";
  }

  async function call(path, options) {
    const headers = { Accept: "application/json", Authorization: `Bearer ${token}` };
    if (options && options.body) headers["Content-Type"] = "application/json";
    const response = await fetch(path, {
      method: (options && options.method) || "GET",
      headers,
      body: options && options.body ? JSON.stringify(options.body) : undefined,
      cache: "no-store",
    });
    const payload = await response.json().catch(() => ({}));
    if (!response.ok) throw new LV.ApiError(response.status, payload);
    return payload;
  }

  function criterionRow(team, criterion, sheet, index) {
    const current = sheet ? sheet[criterion.name] : null;
    const name = `t${team.id}-c${index}`;
    const options = [];
    for (let n = 1; n <= view.max_score; n += 1) {
      options.push(
        h(
          "label",
          { class: "score-option" },
          h("input", { type: "radio", name, value: n, checked: current === n, disabled: view.locked, "aria-label": t("{criterion}: {n}", { criterion: criterion.name, n }) }),
          h("span", { "aria-hidden": "true" }, n),
        ),
      );
    }
    const weight = view.criteria.length > 1 ? h("small", { class: "weight" }, `× ${criterion.weight}`) : null;
    return h(
      "fieldset",
      { class: "criterion", dataset: { criterion: criterion.name } },
      h("legend", {}, criterion.name, weight),
      h("div", { class: "score-grid", style: `--cols:${Math.min(view.max_score, 10)}` }, options),
    );
  }

  function sheetCard(team) {
    const sheet = view.sheets[team.id];
    const status = h("span", { class: "chip " + (sheet ? "ok" : "muted"), dataset: { role: "status" } }, sheet ? t("Scored") : t("Not scored yet"));
    const form = h(
      "form",
      { class: "card sheet", dataset: { teamId: team.id }, "aria-label": t("Score sheet for {team}", { team: team.name }) },
      h("div", { class: "card-head" }, h("h2", {}, team.name), status),
      view.criteria.map((c, i) => criterionRow(team, c, sheet, i)),
      h("button", { class: "btn primary", type: "submit", disabled: view.locked }, sheet ? t("Update {team}", { team: team.name }) : t("Save {team}", { team: team.name })),
    );
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      save(team, form);
    });
    return form;
  }

  function renderHeader() {
    $("#juror-chip").textContent = t("Juror: {name}", { name: view.name });
    $("#jury-locked").hidden = !view.locked;
    const done = view.teams.filter((t) => view.sheets[t.id]).length;
    $("#jury-progress").textContent = LV.tn("{done} of {n} team scored", "{done} of {n} teams scored", view.teams.length, { done });
  }

  function render() {
    renderHeader();
    $("#sheets").replaceChildren(...view.teams.map(sheetCard));
  }

  async function save(team, form) {
    showError("");
    const scores = {};
    for (const fieldset of form.querySelectorAll("fieldset.criterion")) {
      const picked = fieldset.querySelector("input:checked");
      if (!picked) {
        showError(t("Give {team} a score for {criterion}.", { team: team.name, criterion: fieldset.dataset.criterion }));
        fieldset.querySelector("input").focus();
        return;
      }
      scores[fieldset.dataset.criterion] = Number(picked.value);
    }
    try {
      const out = await call(`/api/events/${eventId}/jury/scores/${team.id}`, { method: "PUT", body: { scores } });
      view.sheets[team.id] = out.scores;
      LV.announce(t("Saved your sheet for {team}.", { team: team.name }));
      renderHeader();
      const fresh = sheetCard(team); // only this sheet: half-made choices elsewhere stay
      fresh.querySelector("[data-role=status]").textContent = t("Saved ✓");
      form.replaceWith(fresh);
    } catch (err) {
      if (err.type === "jury-locked") {
        view.locked = true;
        render();
      }
      showError(err.message);
    }
  }

  async function load() {
    if (!token) {
      showError(t("This page needs your personal juror link. Ask the host to send it again."));
      return;
    }
    try {
      view = await call(`/api/events/${eventId}/jury/me`);
      render();
    } catch (err) {
      showError(err.status === 401 || err.status === 403 ? t("This juror link is not valid for this event. Ask the host for a new one.") : err.message);
    }
  }

  load();
  // The host may lock the jury at any time: check now and then, quietly.
  setInterval(async () => {
    if (!view || view.locked || document.visibilityState !== "visible") return;
    try {
      const fresh = await call(`/api/events/${eventId}/jury/me`);
      if (fresh.locked) {
        view.locked = true;
        render();
      }
    } catch (err) {
      /* keep the page as it is */
    }
  }, 10000);
})();
