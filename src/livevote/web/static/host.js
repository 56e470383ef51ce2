// Host pages: /host (sign in, create an event, list events) and /host/events/{id} (console).
"use strict";

(function () {
  const { h, $, api, announce, ApiError } = LV;
  const data = LV.data();

  function showError(message) {
    $("#error").textContent = message || "";
    if (message) $("#error").scrollIntoView({ block: "nearest" });
  }

  function signOut() {
    LV.signOut();
    window.location.assign("/host");
  }

  // A 401 means the stored token expired: back to the sign-in form, then return here.
  function authFailed(err) {
    if (err instanceof ApiError && err.status === 401) {
      LV.signOut();
      window.location.assign("/host?next=" + encodeURIComponent(window.location.pathname));
      return true;
    }
    return false;
  }

  const myEventsKey = () => `lv:host-events:${(LV.user.get() || {}).id || "anon"}`;

  function rememberEvent(ev) {
    const list = JSON.parse(localStorage.getItem(myEventsKey()) || "[]").filter((e) => e.id !== ev.id);
    list.unshift({ id: ev.id, code: ev.code, title: ev.title });
    localStorage.setItem(myEventsKey(), JSON.stringify(list.slice(0, 50)));
  }

  // ====================== /host ======================

  function initIndex() {
    const signedIn = Boolean(LV.token.get());
    $("#signin").hidden = signedIn;
    $("#dashboard").hidden = !signedIn;
    $("#account").hidden = !signedIn;
    $("#sign-out").addEventListener("click", signOut);

    const tabs = { login: $("#tab-login"), register: $("#tab-register") };
    function selectTab(name) {
      for (const [key, tab] of Object.entries(tabs)) {
        const on = key === name;
        tab.setAttribute("aria-selected", String(on));
        $(`#${key}-form`).hidden = !on;
      }
      showError("");
    }
    tabs.login.addEventListener("click", () => selectTab("login"));
    tabs.register.addEventListener("click", () => selectTab("register"));

    // Signed in: back to the console page that sent us here (?next=), else the dashboard.
    function proceed() {
      const next = new URLSearchParams(window.location.search).get("next");
      window.location.assign(next && next.startsWith("/host/") ? next : "/host");
    }

    $("#login-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      showError("");
      const form = new FormData(ev.target);
      try {
        await LV.signIn(String(form.get("email")).trim(), String(form.get("password")));
        proceed();
      } catch (err) {
        showError(err.message);
      }
    });

    $("#register-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      showError("");
      const form = new FormData(ev.target);
      try {
        await LV.register(
          String(form.get("username")).trim(),
          String(form.get("email")).trim(),
          String(form.get("password")),
        );
        proceed();
      } catch (err) {
        showError(err.message);
      }
    });

    if (!signedIn) return;
    function showAccount(user) {
      $("#account-name").textContent = user && user.email ? `Signed in as ${user.username || user.email}` : "Signed in";
    }
    showAccount(LV.user.get());
    // Signed in elsewhere (the feed) without the full profile: read it once.
    if (!(LV.user.get() || {}).id) LV.loadUser().then((user) => user && showAccount(user));

    $("#create-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      showError("");
      const form = new FormData(ev.target);
      const teams = String(form.get("teams") || "")
        .split("\n")
        .map((s) => s.trim())
        .filter(Boolean)
        .map((name) => ({ name }));
      const button = ev.target.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        const created = await api("/api/events", {
          method: "POST",
          auth: true,
          body: {
            title: String(form.get("title")).trim(),
            teams,
            max_score: Number(form.get("max_score")),
            results: String(form.get("results")),
          },
        });
        rememberEvent(created);
        window.location.assign(`/host/events/${created.id}`);
      } catch (err) {
        if (!authFailed(err)) showError(err.message);
        button.disabled = false;
      }
    });

    loadEvents();
  }

  async function loadEvents() {
    // The server's list when it offers one (GET /api/events as the host), else the events
    // created from this browser.
    let items = null;
    try {
      items = LV.resultList(await api("/api/events/mine", { auth: true }));
    } catch (err) {
      if (authFailed(err)) return;
    }
    if (!items) items = JSON.parse(localStorage.getItem(myEventsKey()) || "[]");
    const list = $("#events");
    $("#events-empty").hidden = items.length > 0;
    list.replaceChildren(
      ...items.map((ev) =>
        h(
          "li",
          {},
          h("div", {}, h("a", { class: "title", href: `/host/events/${ev.id}` }, ev.title), h("div", { class: "muted small" }, ev.status ? `${ev.status} · ` : "", "code ", h("span", { class: "chip code" }, ev.code))),
          h("div", { class: "row" }, h("a", { class: "btn sm", href: `/screen/${ev.code}`, target: "_blank", rel: "noopener" }, "Screen"), h("a", { class: "btn sm primary", href: `/host/events/${ev.id}` }, "Open")),
        ),
      ),
    );
  }

  // ====================== /host/events/{id} ======================

  // The event's language, set by the host: the screen and attendee links carry ?lang=, which
  // the pages obey over the browser's Accept-Language. Remembered per event in this browser.
  function initLinkLanguage(eventId) {
    const select = $("#link-lang");
    const key = `lv:link-lang:${eventId}`;
    const links = ["screen", "join"].map((n) => [$(`#${n}-url`), $(n === "join" ? "#open-join" : "#open-screen")]);
    const bases = links.map(([, anchor]) => anchor.getAttribute("href"));
    function apply() {
      links.forEach(([code, anchor], i) => {
        code.textContent = select.value ? `${bases[i]}?lang=${select.value}` : bases[i];
        anchor.setAttribute("href", code.textContent);
      });
    }
    select.value = localStorage.getItem(key) || "";
    select.addEventListener("change", () => {
      localStorage.setItem(key, select.value);
      apply();
      announce(select.value ? `Links now open in ${select.selectedOptions[0].textContent}.` : "Links follow each browser's language.");
    });
    apply();
  }

  function initConsole() {
    const eventId = data.event_id;
    let state = data.event;
    let results = null;
    let busy = false;

    $("#sign-out").addEventListener("click", signOut);
    if (!LV.token.get()) {
      $("#auth-note").hidden = false;
      for (const b of document.querySelectorAll("main button")) b.disabled = true;
    }
    rememberEvent(state);
    initLinkLanguage(eventId);

    function stageTeam() {
      return (state.teams || []).find((t) => t.id === state.stage) || null;
    }

    async function act(label, path, method, body) {
      if (busy) return null;
      // Buttons are disabled while busy (and the team rows redrawn): give focus back after.
      const focused = document.activeElement;
      busy = true;
      showError("");
      try {
        const out = await api(path, { method, body, auth: true });
        if (label) announce(label);
        return out;
      } catch (err) {
        if (!authFailed(err)) showError(err.message);
        return null;
      } finally {
        busy = false;
        render();
        if (focused && focused.isConnected && !focused.disabled) focused.focus();
      }
    }

    function render() {
      const ended = LV.isEnded(state);
      const team = stageTeam();
      $("#title").textContent = state.title;
      $("#status-chip").textContent = state.status || "";
      $("#status-chip").className = "chip " + (ended ? "muted" : "live");
      $("#stage-name").textContent = team ? team.name : "Nobody";
      const toggle = $("#voting-toggle");
      toggle.disabled = busy || !team || ended || !LV.token.get();
      toggle.textContent = state.voting_open ? "Close voting" : "Open voting";
      toggle.className = "btn big " + (state.voting_open ? "stop" : "go");
      $("#clear-stage").disabled = busy || !team || ended || !LV.token.get();
      $("#voting-chip").textContent = state.voting_open ? "Voting open" : "Voting closed";
      $("#voting-chip").className = "chip " + (state.voting_open ? "ok" : "muted");
      $("#stat-attendees").textContent = state.attendees || 0;
      $("#stat-teams").textContent = (state.teams || []).length;
      $("#end-event").disabled = ended || !LV.token.get();
      $("#team-form").querySelector("button").disabled = ended || !LV.token.get();

      const visible = state.results_visible === true || Boolean(LV.resultList(state.results));
      $("#results-chip").textContent = visible ? "Shown on screen" : "Hidden from screen";
      $("#results-chip").className = "chip " + (visible ? "ok" : "muted");
      $("#results-mode").textContent = visible
        ? state.results_visibility === "live"
          ? "Results are live on the screen and phones as votes come in."
          : "Results are revealed on the screen and phones."
        : "Results are hidden from the screen and phones; only you see them here.";
      $("#reveal").hidden = visible;
      $("#reveal").disabled = !LV.token.get();

      const rows = LV.resultList(results) || LV.resultList(state.results) || [];
      const byTeam = new Map(rows.map((r) => [r.team_id, r]));
      // A team is scored once it has audience votes or a jury sheet; ranks mean something
      // once any team is (standings.py: final, then jury average, then votes).
      const scored = (r) => Boolean(r && (r.votes || (r.jury && r.jury.jurors)));
      const anyScored = rows.some(scored);
      $("#stat-votes").textContent = rows.reduce((s, r) => s + (r.votes || 0), 0);
      $("#team-rows").replaceChildren(
        ...(state.teams || []).map((t) => {
          const r = byTeam.get(t.id);
          const onStage = t.id === state.stage;
          return h(
            "tr",
            { class: onStage ? "is-stage" : "", dataset: { teamId: t.id } },
            h("td", { class: "team-name" }, t.name),
            h("td", { class: "n" }, r ? r.votes || 0 : 0),
            h("td", { class: "n audience" }, r && r.votes ? LV.fmtAvg(LV.average(r)) : "–"),
            h("td", { class: "n jury" }, r && r.jury && r.jury.jurors ? LV.num(r.jury.average, 2) : "–"),
            h("td", { class: "n final" }, scored(r) ? LV.num(r.final, 2) : "–"),
            h("td", { class: "n rank" }, r && anyScored ? r.rank : "–"),
            h(
              "td",
              { class: "n" },
              onStage
                ? h("span", { class: "chip ok" }, "On stage")
                : h(
                    "button",
                    {
                      class: "btn sm",
                      type: "button",
                      disabled: busy || ended || !LV.token.get(),
                      onclick: () => putOnStage(t),
                    },
                    // The visible words first in the name (WCAG 2.5.3), the team for context.
                    "Put on stage",
                    h("span", { class: "sr-only" }, `: ${t.name}`),
                  ),
            ),
          );
        }),
      );
    }

    async function putOnStage(team) {
      await act(`${team.name} is on stage.`, `/api/events/${eventId}/stage`, "PUT", { team_id: team.id });
      await refresh();
      // The pressed button went away (its team is on stage): focus the next thing to do.
      if (!document.activeElement || document.activeElement === document.body) $("#voting-toggle").focus();
    }

    $("#clear-stage").addEventListener("click", async () => {
      await act("Stage cleared.", `/api/events/${eventId}/stage`, "DELETE");
      await refresh();
    });

    $("#voting-toggle").addEventListener("click", async () => {
      const open = !state.voting_open;
      await act(open ? "Voting is open." : "Voting is closed.", `/api/events/${eventId}/voting`, "PUT", { open });
      await refresh();
    });

    $("#reveal").addEventListener("click", async () => {
      await act("Results revealed.", `/api/events/${eventId}/results`, "PUT", { visible: true });
      await refresh();
    });

    $("#end-event").addEventListener("click", async () => {
      if (!window.confirm("End this event? Voting closes for good.")) return;
      await act("Event ended.", `/api/events/${eventId}/end`, "POST");
      await refresh();
    });

    $("#team-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const input = ev.target.querySelector("input[name=name]");
      const name = input.value.trim();
      if (!name) return;
      const out = await act(`${name} added.`, `/api/events/${eventId}/teams`, "POST", { name });
      if (out) input.value = "";
      await refresh();
    });

    async function download(format) {
      showError("");
      try {
        const response = await api(`/api/events/${eventId}/export?format=${format}`, { auth: true, raw: true });
        const blob = await response.blob();
        const url = URL.createObjectURL(blob);
        const link = h("a", { href: url, download: `livevote-${state.code}.${format}` });
        document.body.append(link);
        link.click();
        link.remove();
        setTimeout(() => URL.revokeObjectURL(url), 10000);
      } catch (err) {
        if (!authFailed(err)) showError(err.message);
      }
    }
    $("#export-csv").addEventListener("click", () => download("csv"));
    $("#export-json").addEventListener("click", () => download("json"));

    async function loadResults() {
      if (!LV.token.get()) return;
      try {
        results = await api(`/api/events/${eventId}/results`, { auth: true });
      } catch (err) {
        if (!authFailed(err) && err.status !== 403) showError(err.message);
      }
      render();
    }

    async function refresh() {
      try {
        state = { ...state, ...(await api(`/api/events/${eventId}`)) };
      } catch (err) {
        /* the stream indicator shows the outage */
      }
      await loadResults();
    }

    // The public stream carries results once they are visible; while they are hidden the
    // host re-reads them with its token: after state changes and every 3 s while voting or
    // the jury is open, never more than once per 2.5 s (the per-user API limit is 100
    // requests/min).
    let pending = null;
    let lastLoad = 0;
    function scheduleResults() {
      if (pending) return;
      const wait = Math.max(150, 2500 - (Date.now() - lastLoad));
      pending = setTimeout(() => {
        pending = null;
        lastLoad = Date.now();
        loadResults();
      }, wait);
    }
    // Jurors' sheets move the final scores too: re-read while the jury is open.
    setInterval(() => {
      const hidden = !LV.resultList(state.results);
      const juryOpen = !state.jury_locked && state.jurors > 0;
      if (hidden && (state.voting_open || juryOpen) && document.visibilityState === "visible") scheduleResults();
    }, 3000);

    render();
    loadResults();
    LV.live(`/api/events/${eventId}/stream`, {
      onState(next) {
        state = next;
        document.dispatchEvent(new CustomEvent("lv:state", { detail: next })); // host_jury.js
        if (LV.resultList(next.results)) results = next.results;
        else scheduleResults();
        render();
      },
      onStatus: LV.connIndicator($("#conn")),
      onReconnect: scheduleResults,
    });
  }

  if (data.page === "host-event") initConsole();
  else initIndex();
})();
