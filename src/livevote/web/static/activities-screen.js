// Projector screen: while an activity is live it takes the main area (prompt, live
// visualisation, quiz countdown and leaderboard); the side shows the top audience questions.
"use strict";

(function () {
  const { h, $ } = LV;
  const data = LV.data();
  const eventId = data.event_id;
  let state = null;
  let drawn = null;

  function countLabel(a) {
    return LV.plural(a.responses || 0, "answer", "answers");
  }

  function render() {
    const a = state && state.live;
    const panel = $("#act-screen");
    document.body.classList.toggle("act-live", Boolean(a));
    panel.hidden = !a;
    renderQuestions();
    renderFinalBoard(!a);
    if (!a) {
      drawn = null;
      return;
    }
    $("#act-screen-kind").textContent = LV.act.KIND_LABEL[a.kind] || a.kind;
    $("#act-screen-count").textContent = countLabel(a);
    $("#act-screen-prompt").textContent = a.prompt;
    const key = JSON.stringify([a.id, a.revealed, state.results, state.leaderboard]);
    if (key === drawn) return;
    drawn = key;
    const parts = [LV.act.results(a, state.results)];
    if (a.kind === "quiz" && a.revealed && state.leaderboard) parts.push(LV.act.leaderboard(state.leaderboard));
    const body = $("#act-screen-body");
    body.classList.toggle("with-board", parts.length > 1);
    body.replaceChildren(...parts);
    tick();
  }

  function renderFinalBoard(show) {
    const box = $("#act-screen-final");
    const rows = state && state.leaderboard;
    box.hidden = !(show && rows && rows.length);
    if (!box.hidden) box.replaceChildren(LV.act.leaderboard(rows, "Quiz leaderboard"));
  }

  function renderQuestions() {
    const list = (state && state.questions) || [];
    const box = $("#act-screen-qa");
    box.hidden = !list.length;
    $("#act-screen-qa-list").replaceChildren(...list.slice(0, 3).map((q) => LV.act.question(q)));
  }

  function tick() {
    const el = $("#act-screen-timer");
    const left = LV.act.secondsLeft(state && state.live);
    el.hidden = left === null || Boolean(state.live.revealed);
    if (left !== null) {
      el.textContent = left > 0 ? `${left}s` : "Time!";
      el.classList.toggle("urgent", left <= 5);
    }
  }
  setInterval(tick, 250);

  LV.act.stream(eventId, (s) => {
    state = s;
    render();
  });
})();
