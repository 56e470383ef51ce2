// Attendee phone page: join, see who is on stage, score them once, live over SSE.
"use strict";

(function () {
  const { h, $, api, announce, ApiError, t, tn } = LV;
  const data = LV.data();
  const eventId = data.event_id;
  const maxScore = Math.max(1, Math.min(10, Number(data.max_score) || 5));
  const joinedKey = `lv:joined:${eventId}`;
  const votedKey = `lv:voted:${eventId}`;

  let state = data.event;
  let joined = readJSON(joinedKey);
  let voted = readJSON(votedKey) || {}; // team_id -> score (or true when only known from a 409)
  let sending = false;
  const justVoted = new Set(); // votes cast from this page view (not restored ones)
  let renderedKey = null;
  let restored = Boolean(joined); // until /me answers, don't flash the join form at members

  function readJSON(key) {
    try {
      return JSON.parse(localStorage.getItem(key) || "null");
    } catch (err) {
      return null;
    }
  }

  function writeJSON(key, value) {
    try {
      if (value === null) localStorage.removeItem(key);
      else localStorage.setItem(key, JSON.stringify(value));
    } catch (err) {
      /* private mode: the server still refuses a second vote */
    }
  }

  function problem(err) {
    return LV.problemText(err, {
      "event-ended": t("This event has ended"),
      "voting-closed": t("Voting is closed for this team."),
      "not-found": t("This event doesn't exist"),
    });
  }

  function showError(message) {
    $("#error").textContent = message || "";
  }

  function stageTeam() {
    if (!state || !state.stage) return null;
    return (state.teams || []).find((t) => t.id === state.stage) || null;
  }

  function markVoted(teamId, score) {
    voted[teamId] = score || voted[teamId] || true;
    writeJSON(votedKey, voted);
  }

  // ---------- rendering ----------

  function stateCard(icon, iconClass, title, text) {
    return [
      h("div", { class: `state-icon ${iconClass}`, "aria-hidden": "true" }, icon),
      h("p", { class: "state-title" }, title),
      text ? h("p", { class: "muted" }, text) : null,
    ];
  }

  // Several criteria (events/standings.py): one row of score buttons per criterion; a vote's
  // points are Σ weight × score, shown back on the 1..max scale. One criterion: as always.
  function criteria() {
    return (state && state.criteria) || [];
  }
  function pointsScale() {
    const list = criteria();
    return list.length > 1 ? list.reduce((sum, c) => sum + (Number(c.weight) || 1), 0) : 1;
  }
  const shown = (value) => (Number.isInteger(value) ? String(value) : value.toFixed(1));

  function criteriaForm(team, list) {
    const cols = maxScore <= 5 ? maxScore : Math.ceil(maxScore / 2);
    const rows = list.map((c, i) => {
      const options = [];
      for (let n = 1; n <= maxScore; n += 1) {
        options.push(
          h(
            "label",
            { class: "score-option" },
            h("input", { type: "radio", name: `c${i}`, value: n, required: true, "aria-label": t("{criterion}: {score} out of {max}", { criterion: c.name, score: n, max: maxScore }) }),
            h("span", { "aria-hidden": "true" }, LV.num(n)),
          ),
        );
      }
      return h(
        "fieldset",
        { class: "scores criterion", dataset: { criterion: c.name, index: i } },
        h("legend", {}, c.name, h("small", { class: "weight" }, `× ${c.weight}`)),
        h("div", { class: "score-grid", style: `--cols:${cols}` }, options),
      );
    });
    const form = h(
      "form",
      { id: "vote-form", novalidate: true, "aria-label": t("Your scores for {team}", { team: team.name }) },
      rows,
      h("div", { class: "score-scale" }, h("span", {}, t("{score} = weak", { score: 1 })), h("span", {}, t("{score} = outstanding", { score: maxScore }))),
      h("button", { class: "btn primary big", type: "submit", id: "vote-submit" }, t("Send my scores")),
    );
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const scores = {};
      for (const fieldset of form.querySelectorAll("fieldset.criterion")) {
        const picked = fieldset.querySelector("input:checked");
        if (!picked) {
          showError(t("Pick a score for {criterion}.", { criterion: fieldset.dataset.criterion }));
          fieldset.querySelector("input").focus();
          return;
        }
        scores[fieldset.dataset.criterion] = Number(picked.value);
      }
      castVote(team, null, scores);
    });
    return form;
  }

  function scoreForm(team) {
    if (criteria().length > 1) return criteriaForm(team, criteria());
    const cols = maxScore <= 5 ? maxScore : Math.ceil(maxScore / 2);
    const options = [];
    for (let i = 1; i <= maxScore; i += 1) {
      options.push(
        h(
          "label",
          { class: "score-option" },
          h("input", {
            type: "radio",
            name: "score",
            value: i,
            required: true,
            "aria-label": t("{score} out of {max}", { score: i, max: maxScore }),
          }),
          h("span", { "aria-hidden": "true" }, LV.num(i)),
        ),
      );
    }
    const form = h(
      "form",
      { id: "vote-form", novalidate: true },
      h(
        "fieldset",
        { class: "scores", "aria-describedby": "scale-hint" },
        h("legend", {}, t("Your score for {team}", { team: team.name })),
        h("div", { class: "score-grid", style: `--cols:${cols}` }, options),
        h(
          "div",
          { class: "score-scale", id: "scale-hint" },
          h("span", {}, t("{score} = weak", { score: 1 })),
          h("span", {}, t("{score} = outstanding", { score: maxScore })),
        ),
      ),
      h("button", { class: "btn primary big", type: "submit", id: "vote-submit" }, t("Send my score")),
    );
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const picked = form.querySelector("input[name=score]:checked");
      if (!picked) {
        showError(t("Pick a score first."));
        form.querySelector("input[name=score]").focus();
        return;
      }
      castVote(team, Number(picked.value));
    });
    return form;
  }

  function render() {
    const ended = LV.isEnded(state);
    const team = stageTeam();
    $("#join").hidden = Boolean(joined) || ended || !restored;
    const stage = $("#stage");
    // Re-rendering the score form would drop a half-made choice: only rebuild on change.
    const mode = ended
      ? "ended"
      : !joined
        ? team
          ? `preview:${team.id}:${team.name}`
          : "preview"
        : !team
          ? "waiting"
          : voted[team.id]
            ? `voted:${team.id}:${voted[team.id]}`
            : state.voting_open
              ? `open:${team.id}:${team.name}`
              : `closed:${team.id}:${team.name}`;
    if (mode !== renderedKey) {
      renderedKey = mode;
      stage.replaceChildren(...stageContent(mode, team));
    }
    renderResults();
    const here = tn("{n} person here", "{n} people here", state.attendees || 0);
    const who = joined ? (joined.name ? t("Joined as {name}", { name: joined.name }) : t("You joined")) : null;
    $("#who").textContent = who ? `${who} · ${here}` : here;
  }

  function stageContent(mode, team) {
    const kind = mode.split(":")[0];
    if (kind === "ended") {
      return stateCard("★", "ok", t("This event has ended"), t("Thanks for taking part!"));
    }
    if (kind === "preview") {
      return team
        ? [h("span", { class: "eyebrow" }, t("On stage now")), h("p", { class: "stage-team" }, team.name), h("p", { class: "muted" }, t("Join above to vote."))]
        : stateCard("…", "wait", t("Nobody on stage yet"), t("Join above — voting starts soon."));
    }
    if (kind === "waiting") {
      return stateCard("…", "wait", t("Waiting for the next team"), t("Keep this page open: it updates by itself."));
    }
    if (kind === "voted") {
      const score = voted[team.id];
      const fresh = justVoted.has(team.id);
      const detail =
        typeof score === "number"
          ? t("You gave {team} {score} out of {max}.", { team: team.name, score: shown(score), max: maxScore })
          : t("Your vote for {team} is counted.", { team: team.name });
      return [
        h("span", { class: "eyebrow" }, t("On stage now")),
        h("p", { class: "stage-team" }, team.name),
        h("div", { class: "state-icon ok", "aria-hidden": "true" }, "✓"),
        h("p", { class: "state-title", id: "voted-title" }, fresh ? t("Thanks — vote received!") : t("You already voted")),
        h("p", { class: "muted", id: "voted-detail" }, detail),
        h(
          "p",
          { class: "muted small" },
          fresh
            ? t("One vote per team: you've now voted for this team. Stay tuned for the next one.")
            : t("One vote per team. Stay tuned for the next one."),
        ),
      ];
    }
    if (kind === "open") {
      return [h("span", { class: "eyebrow" }, t("On stage now")), h("p", { class: "stage-team" }, team.name), scoreForm(team)];
    }
    return [
      h("span", { class: "eyebrow" }, t("On stage now")),
      h("p", { class: "stage-team" }, team.name),
      h("div", { class: "state-icon closed", "aria-hidden": "true" }, "⏸"),
      h("p", { class: "state-title" }, t("Voting is closed")),
      h("p", { class: "muted" }, t("The host opens voting for this team — the buttons appear right here.")),
    ];
  }

  function renderResults() {
    const rows = LV.resultList(state.results);
    const section = $("#results");
    if (!rows || !rows.length) {
      section.hidden = true;
      return;
    }
    section.hidden = false;
    const sorted = [...rows].sort((a, b) => (a.rank || 99) - (b.rank || 99));
    $("#results-list").replaceChildren(
      ...sorted.map((row) => {
        const avg = LV.average(row);
        return h(
          "li",
          {},
          h("span", { class: "rank" }, row.votes ? LV.num(row.rank) : "–"),
          h("span", {}, row.name),
          row.votes
            ? h("span", { class: "num" }, h("b", {}, LV.fmtAvg(avg)), " ", h("span", { class: "muted small" }, "· " + tn("{n} vote", "{n} votes", row.votes)))
            : h("span", { class: "muted small" }, t("no votes yet")),
          h("span", { class: "bar", "aria-hidden": "true" }, h("i", { style: `width:${Math.min(100, (avg / maxScore) * 100)}%` })),
        );
      }),
    );
  }

  // ---------- actions ----------

  async function join(name) {
    showError("");
    const body = { code: data.code };
    if (name) body.name = name;
    const ticket = LV.fair && LV.fair.ticket(); // one person, one vote: fair_attendee.js
    if (ticket) body.ticket = ticket;
    try {
      const out = await api("/api/events/join", { method: "POST", body });
      joined = { attendee_id: out.attendee_id, name: out.name || name || "" };
      writeJSON(joinedKey, joined);
      if (LV.fair) LV.fair.joined();
      announce(
        stageTeam()
          ? t("You joined. {team} is on stage.", { team: stageTeam().name })
          : t("You joined. Waiting for the first team."),
      );
      render();
      if (ticket) restore(); // a ticket used on another phone: its votes come back too
    } catch (err) {
      showError(problem(err));
    }
  }

  async function castVote(team, score, scores) {
    if (sending) return;
    sending = true;
    showError("");
    const button = $("#vote-submit");
    if (button) {
      button.disabled = true;
      button.textContent = t("Sending…");
    }
    try {
      const body = scores ? { team_id: team.id, scores } : { team_id: team.id, score };
      const out = await api(`/api/events/${eventId}/votes`, { method: "POST", body });
      if (scores) score = Math.round((out.score / pointsScale()) * 10) / 10;
      if (LV.fair) LV.fair.keepReceipt(team, score, out && out.receipt);
      markVoted(team.id, score);
      justVoted.add(team.id);
      if (navigator.vibrate) navigator.vibrate(30);
      announce(t("Vote received: {score} out of {max} for {team}.", { score: shown(score), max: maxScore, team: team.name }));
    } catch (err) {
      if (err instanceof ApiError && err.status === 409 && err.type === "already-voted") {
        markVoted(team.id, null);
        announce(t("You already voted for {team}.", { team: team.name }));
      } else if (err instanceof ApiError && err.status === 409 && err.type === "voting-closed") {
        state = { ...state, voting_open: false };
        showError(t("Voting is closed for this team."));
        announce(t("Voting is closed."));
      } else if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
        joined = null;
        writeJSON(joinedKey, null);
        showError(t("Your place in this event has expired — please join again to vote."));
      } else {
        showError(problem(err));
      }
    } finally {
      sending = false;
      renderedKey = null;
      render();
    }
  }

  $("#join-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    join($("#join-name").value.trim());
  });

  let lastLeader = (LV.leader(LV.resultList(state && state.results)) || {}).team_id || null;
  function applyState(next) {
    document.dispatchEvent(new CustomEvent("lv:state", { detail: next })); // reveal.js
    const before = stageTeam();
    const wasOpen = state && state.voting_open;
    state = next;
    const leader = LV.leader(LV.resultList(state.results));
    if (leader && leader.team_id !== lastLeader) {
      announce(t("{team} leads with an average of {avg}.", { team: leader.name, avg: LV.fmtAvg(LV.average(leader)) }));
    }
    lastLeader = leader ? leader.team_id : null;
    const now = stageTeam();
    if (now && (!before || before.id !== now.id)) announce(t("{team} is on stage.", { team: now.name }));
    if (now && state.voting_open && !wasOpen && !voted[now.id]) announce(t("Voting is open for {team}.", { team: now.name }));
    if (!state.voting_open && wasOpen) announce(t("Voting is closed."));
    render();
  }

  async function refetch() {
    try {
      applyState({ ...state, ...(await api(`/api/events/${eventId}`)) });
    } catch (err) {
      /* the stream's indicator already says we are reconnecting */
    }
  }

  // The server knows who we are (HttpOnly cookie) and what we voted: trust it over
  // localStorage, which may be empty (private tab) or stale (cookie expired).
  async function restore() {
    try {
      const me = await api(`/api/events/${eventId}/me`);
      joined = { attendee_id: me.attendee_id, name: me.name || (joined && joined.name) || "" };
      writeJSON(joinedKey, joined);
      for (const v of me.votes || []) voted[v.team_id] = Math.round((v.score / pointsScale()) * 10) / 10;
      writeJSON(votedKey, voted);
    } catch (err) {
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
        joined = null;
        writeJSON(joinedKey, null);
      }
    }
    restored = true;
    renderedKey = null;
    render();
    if (!joined && LV.fair && LV.fair.pendingTicket()) join(""); // a scanned ticket link
  }

  render();
  restore();
  let refetching = null;
  LV.live(`/api/events/${eventId}/stream`, {
    onState: applyState,
    onStatus: LV.connIndicator($("#conn")),
    onReconnect() {
      clearTimeout(refetching);
      refetching = setTimeout(refetch, 300);
    },
  });
})();
