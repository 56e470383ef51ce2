// Projector screen: who is on stage, whether voting is open, big live result bars.
// Driven only by the SSE state stream; reconnects on its own after a server restart.
"use strict";

(function () {
  const { h, $, t, tn } = LV;
  const data = LV.data();
  const eventId = data.event_id;
  const maxScore = Math.max(1, Number(data.max_score) || 5);
  let state = data.event;

  function stageTeam() {
    if (!state || !state.stage) return null;
    return (state.teams || []).find((t) => t.id === state.stage) || null;
  }

  function barRow(team, row, leaderId) {
    const avg = row ? LV.average(row) : 0;
    const votes = row ? row.votes || 0 : 0;
    const width = Math.max(0, Math.min(100, (avg / maxScore) * 100));
    const li = h(
      "li",
      {
        class: "bar-row" + (team.id === state.stage ? " stage" : "") + (team.id === leaderId ? " first" : ""),
        dataset: { teamId: team.id },
      },
      h("span", { class: "rank" }, h("span", { class: "sr-only" }, votes ? t("Rank {rank}", { rank: row.rank }) : t("No votes yet")), h("span", { "aria-hidden": "true" }, votes ? LV.num(row.rank) : "–")),
      h("span", { class: "name" }, team.name, team.id === state.stage ? h("span", { class: "stage-tag" }, t("on stage")) : null),
      h("span", { class: "value" }, h("b", { class: "avg" }, votes ? LV.fmtAvg(avg) : "–"), h("span", { class: "votes" }, tn("{n} vote", "{n} votes", votes))),
      h("span", { class: "track", "aria-hidden": "true" }, h("span", { class: "fill", dataset: { width: width.toFixed(1) } })),
    );
    return li;
  }

  function renderBars() {
    const rows = LV.resultList(state.results);
    const list = $("#bars");
    $("#results-hidden").hidden = Boolean(rows);
    list.hidden = !rows;
    if (!rows) {
      $("#votes").textContent = "–";
      return;
    }
    const byTeam = new Map(rows.map((r) => [r.team_id, r]));
    let leaderId = null;
    for (const r of rows) if (r.rank === 1 && r.votes) leaderId = r.team_id;
    let teams = state.teams || [];
    if (LV.isEnded(state)) {
      // Final results read best as a ranking; while live, bars stay put and grow in place.
      const rank = (t) => (byTeam.get(t.id) && byTeam.get(t.id).votes ? byTeam.get(t.id).rank : 1e6);
      teams = [...teams].sort((a, b) => rank(a) - rank(b));
    }
    // Keep rows in team order (bars grow in place rather than jumping around) and reuse the
    // existing elements so that width changes animate.
    const existing = new Map([...list.children].map((li) => [li.dataset.teamId, li]));
    const next = teams.map((team) => {
      const fresh = barRow(team, byTeam.get(team.id), leaderId);
      const old = existing.get(team.id);
      if (old) {
        old.className = fresh.className;
        old.querySelector(".rank").replaceWith(fresh.querySelector(".rank"));
        old.querySelector(".name").replaceWith(fresh.querySelector(".name"));
        old.querySelector(".value").replaceWith(fresh.querySelector(".value"));
        old.querySelector(".fill").dataset.width = fresh.querySelector(".fill").dataset.width;
        const votes = (byTeam.get(team.id) || {}).votes || 0;
        if (votes > Number(old.dataset.votes || 0)) {
          old.classList.remove("bump");
          void old.offsetWidth; // restart the animation
          old.classList.add("bump");
        }
        old.dataset.votes = votes;
        return old;
      }
      fresh.dataset.votes = (byTeam.get(team.id) || {}).votes || 0;
      return fresh;
    });
    list.replaceChildren(...next);
    list.classList.toggle("few", teams.length <= 4);
    list.classList.toggle("many", teams.length > 8);
    list.classList.toggle("crowded", teams.length > 20);
    requestAnimationFrame(() => {
      for (const fill of list.querySelectorAll(".fill")) fill.style.width = fill.dataset.width + "%";
    });
    $("#votes").textContent = LV.num(rows.reduce((sum, r) => sum + (r.votes || 0), 0));
  }

  function render() {
    $("#title").textContent = state.title;
    const ended = LV.isEnded(state);
    $("#ended").hidden = !ended;
    document.body.classList.toggle("ended", ended);
    $("#results-heading").textContent = ended ? t("Final results") : t("Live results");
    $("#stage").hidden = ended;
    const team = stageTeam();
    $("#stage").classList.toggle("empty", !team);
    $("#stage-team").textContent = team ? team.name : t("Waiting for the next team");
    const banner = $("#vote-banner");
    const open = Boolean(team && state.voting_open && !ended);
    banner.classList.toggle("open", open);
    banner.classList.toggle("closed", !open);
    banner.querySelector(".text").textContent = open ? t("Voting open — vote now!") : t("Voting closed");
    $("#attendees").textContent = LV.num(state.attendees || 0);
    renderBars();
  }

  let lastStage = state.stage;
  let lastOpen = state.voting_open;
  let lastLeader = (LV.leader(LV.resultList(state.results)) || {}).team_id || null;
  let lastEnded = LV.isEnded(state);
  function applyState(next) {
    document.dispatchEvent(new CustomEvent("lv:state", { detail: next })); // reveal.js
    state = next;
    const team = stageTeam();
    if (state.stage !== lastStage && team) LV.announce(t("{team} is on stage.", { team: team.name }));
    if (state.voting_open !== lastOpen) LV.announce(state.voting_open ? t("Voting is open.") : t("Voting is closed."));
    // Results reach screen readers too: a new leader, and the winner when the event ends.
    const leader = LV.leader(LV.resultList(state.results));
    const ended = LV.isEnded(state);
    if (ended && !lastEnded && leader) {
      LV.announce(t("Final results: {team} wins with an average of {avg}.", { team: leader.name, avg: LV.fmtAvg(LV.average(leader)) }));
    } else if (leader && leader.team_id !== lastLeader) {
      LV.announce(t("{team} leads with an average of {avg}.", { team: leader.name, avg: LV.fmtAvg(LV.average(leader)) }));
    }
    lastLeader = leader ? leader.team_id : null;
    lastEnded = ended;
    lastStage = state.stage;
    lastOpen = state.voting_open;
    render();
  }

  async function refetch() {
    try {
      applyState({ ...state, ...(await LV.api(`/api/events/${eventId}`)) });
    } catch (err) {
      /* still down: the indicator says so and the stream keeps trying */
    }
  }

  // Projector comforts: F toggles full screen, and the display is kept awake where the
  // browser allows it (Screen Wake Lock API, re-acquired when the tab becomes visible).
  document.addEventListener("keydown", (ev) => {
    if (ev.key !== "f" && ev.key !== "F") return;
    if (document.fullscreenElement) document.exitFullscreen();
    else document.documentElement.requestFullscreen().catch(() => {});
  });
  async function keepAwake() {
    try {
      if ("wakeLock" in navigator && document.visibilityState === "visible") {
        await navigator.wakeLock.request("screen");
      }
    } catch (err) {
      /* not allowed here: the projector's own settings apply */
    }
  }
  document.addEventListener("visibilitychange", keepAwake);
  keepAwake();

  render();
  let timer = null;
  LV.live(`/api/events/${eventId}/stream`, {
    onState: applyState,
    onStatus: LV.connIndicator($("#conn")),
    onReconnect() {
      clearTimeout(timer);
      timer = setTimeout(refetch, 300);
    },
  });
})();
