// Host console: prepare, order and run activities, show/hide results, reveal quiz answers,
// moderate open answers and audience questions, export. The `activities` frames of the
// event stream (shared with host.js, LV.live) are the trigger; the host's own view is read
// with the host's token (EventSource sends no header).
// Its words go through LV.t like every page's (the console itself is English today).
"use strict";

(function () {
  const { h, $, api } = LV;
  const data = LV.data();
  const eventId = data.event_id;
  const base = `/api/events/${eventId}`;
  let items = [];
  let live = null;
  let liveResults = null;
  let questions = [];
  let moderation = false;
  let timer = null;

  const error = (msg) => ($("#act-host-error").textContent = msg || "");
  const call = (path, method, body) => api(base + path, { method, body, auth: true });

  async function act(fn) {
    error("");
    try {
      await fn();
    } catch (err) {
      error(err.message);
    }
    refresh();
  }

  let generation = 0;
  async function refresh() {
    const mine = ++generation; // a slow, older read never overwrites a newer one
    try {
      const [list, qs] = await Promise.all([call("/activities"), call("/questions?sort=top")]);
      const res = list.live ? await call(`/activities/${list.live}/results`) : null;
      if (mine !== generation) return;
      items = list.items;
      live = list.live;
      questions = qs.items;
      moderation = qs.moderation;
      liveResults = res;
      draw();
    } catch (err) {
      if (err.status === 401 || err.status === 403) $("#act-host").hidden = true;
      else error(err.message);
    }
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 150);
  }

  function actions(a, i) {
    const btn = (label, cls, fn, extra) => h("button", { class: `btn sm ${cls || ""}`, type: "button", onclick: () => act(fn), ...(extra || {}) }, label);
    return h(
      "div",
      { class: "act-row-actions" },
      btn("↑", "", () => move(i, -1), { "aria-label": LV.t('Move "{prompt}" up', { prompt: a.prompt }), disabled: i === 0 }),
      btn("↓", "", () => move(i, 1), { "aria-label": LV.t('Move "{prompt}" down', { prompt: a.prompt }), disabled: i === items.length - 1 }),
      a.live
        ? btn(LV.t("Close"), "stop", () => call("/activity", "PUT", { activity_id: null }))
        : btn(a.status === "closed" ? LV.t("Reopen") : LV.t("Go live"), "go", () => call("/activity", "PUT", { activity_id: a.id })),
      btn(a.results_visible ? LV.t("Hide results") : LV.t("Show results"), "", () => call(`/activities/${a.id}/results`, "PUT", { visible: !a.results_visible })),
      a.kind === "quiz" && !a.revealed ? btn(LV.t("Reveal answer"), "primary", () => call(`/activities/${a.id}/reveal`, "POST")) : null,
    );
  }

  function move(i, by) {
    const ids = items.map((a) => a.id);
    [ids[i], ids[i + by]] = [ids[i + by], ids[i]];
    return call("/activities/order", "PUT", { ids });
  }

  function draw() {
    $("#act-host-list").replaceChildren(
      ...(items.length
        ? items.map((a, i) =>
            h(
              "li",
              { class: "act-row" + (a.live ? " live" : ""), dataset: { id: a.id } },
              h(
                "div",
                { class: "act-row-head" },
                h("span", { class: "chip " + (a.live ? "live" : "muted") }, a.live ? LV.act.STATUS.live : LV.act.STATUS[a.status] || a.status),
                h("span", { class: "chip muted" }, LV.act.KIND_LABEL[a.kind]),
                h("b", { class: "act-row-prompt" }, a.prompt),
                h("span", { class: "muted small" }, LV.tn("{n} answer", "{n} answers", a.responses || 0)),
              ),
              actions(a, i),
              a.live && liveResults ? LV.act.results(a, liveResults, { host: true, onModerate }) : null,
            ),
          )
        : [h("li", { class: "act-empty" }, LV.t("No activities yet — add one below."))]),
    );
    $("#qa-moderation").checked = moderation;
    $("#qa-host-list").replaceChildren(
      ...(questions.length ? questions.map(questionRow) : [h("li", { class: "act-empty" }, LV.t("No questions yet."))]),
    );
  }

  function onModerate(t, status) {
    act(() => call(`/activities/${live}/responses/${t.id}`, "PUT", { status }));
  }

  function questionRow(q) {
    const set = (body) => act(() => call(`/questions/${q.id}`, "PUT", body));
    const btn = (label, body, cls) => h("button", { class: `btn sm ${cls || ""}`, type: "button", onclick: () => set(body) }, label);
    return LV.act.question(
      q,
      h(
        "div",
        { class: "qa-actions" },
        q.status !== "approved" ? btn(LV.t("Approve"), { status: "approved" }, "go") : null,
        q.status !== "hidden" ? btn(LV.t("Hide"), { status: "hidden" }) : null,
        q.status !== "answered" ? btn(LV.act.STATUS.answered, { status: "answered" }) : null,
        btn(q.pinned ? LV.t("Unpin") : LV.t("Pin"), { pinned: !q.pinned }),
      ),
    );
  }

  // ---------- the create form ----------
  const form = $("#act-create");
  function syncForm() {
    const kind = form.kind.value;
    form.querySelector("[data-for=options]").hidden = !["choice", "ranking", "quiz"].includes(kind);
    form.querySelector("[data-for=multiple]").hidden = kind !== "choice";
    form.querySelector("[data-for=scale]").hidden = kind !== "rating";
    form.querySelector("[data-for=quiz]").hidden = kind !== "quiz";
  }
  form.kind.addEventListener("change", syncForm);
  syncForm();
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const kind = form.kind.value;
    const body = { kind, prompt: form.prompt.value.trim() };
    if (["choice", "ranking", "quiz"].includes(kind)) {
      body.options = form.options.value.split("\n").map((s) => s.trim()).filter(Boolean);
    }
    if (kind === "choice") body.multiple = form.multiple.checked;
    if (kind === "rating") body.scale = Number(form.scale.value);
    if (kind === "quiz") {
      body.correct = Number(form.correct.value) - 1;
      body.time_limit_s = Number(form.time_limit.value);
    }
    act(async () => {
      await call("/activities", "POST", body);
      form.prompt.value = "";
      form.options.value = "";
    });
  });

  $("#qa-moderation").addEventListener("change", (ev) => act(() => call("/qa", "PUT", { moderation: ev.target.checked })));

  async function download(format) {
    error("");
    try {
      const res = await api(`${base}/activities/export?format=${format}`, { auth: true, raw: true });
      const blob = await res.blob();
      const link = h("a", { href: URL.createObjectURL(blob), download: `activities.${format}` });
      document.body.append(link);
      link.click();
      link.remove();
    } catch (err) {
      error(err.message);
    }
  }
  $("#act-export-csv").addEventListener("click", () => download("csv"));
  $("#act-export-json").addEventListener("click", () => download("json"));

  if (!LV.token.get()) {
    $("#act-host").hidden = true;
    return;
  }
  refresh();
  LV.act.stream(eventId, schedule);
})();
