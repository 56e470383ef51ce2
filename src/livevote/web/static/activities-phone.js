// Attendee phone: answer the live activity, see its results when shown, ask and upvote
// questions. The attendee credential is the events page's cookie; joining happens there.
// Screen readers hear (LV.announce) a new live activity, an answer received and results
// appearing; every control is a native button, radio, checkbox or text field.
"use strict";

(function () {
  const { h, $, api, announce } = LV;
  const data = LV.data();
  const eventId = data.event_id;
  const joinedKey = `lv:joined:${eventId}`;
  const answeredKey = `lv:answered:${eventId}`;
  const upvotedKey = `lv:upvoted:${eventId}`;
  let state = null;
  let renderedKey = null;
  let renderedResults = null;
  let shownResults = null; // the activity whose results were last announced
  let sort = "top";
  let questions = [];
  const answered = read(answeredKey) || {};
  const upvoted = new Set(read(upvotedKey) || []);

  function read(key) {
    try {
      return JSON.parse(localStorage.getItem(key) || "null");
    } catch (err) {
      return null;
    }
  }
  function write(key, value) {
    try {
      localStorage.setItem(key, JSON.stringify(value));
    } catch (err) {
      /* private mode: the server refuses duplicates anyway */
    }
  }
  const joined = () => Boolean(read(joinedKey));
  const error = (msg) => ($("#act-error").textContent = msg || "");
  // What the server's refusals mean here, in the page's language.
  const PROBLEMS = {
    "already-answered": LV.t("You already answered this one."),
    "activity-closed": LV.t("This activity is closed."),
    "already-upvoted": LV.t("You already upvoted this question."),
  };
  const problem = (err) => LV.problemText(err, PROBLEMS);

  async function send(activity, body) {
    error("");
    try {
      await api(`/api/events/${eventId}/activities/${activity.id}/responses`, { method: "POST", body });
      answered[activity.id] = true;
      announce(LV.t("Answer received"));
    } catch (err) {
      if (err.type === "already-answered") answered[activity.id] = true;
      else return error(problem(err));
    }
    write(answeredKey, answered);
    render(true);
  }

  function submitRow(label) {
    return h("button", { class: "btn primary big", type: "submit" }, label || LV.t("Send my answer"));
  }

  function choiceForm(a) {
    const type = a.multiple ? "checkbox" : "radio";
    const form = h(
      "form",
      { class: "act-form" },
      h(
        "fieldset",
        { class: "act-options" },
        h("legend", { class: "sr-only" }, a.prompt),
        a.options.map((text, i) => h("label", { class: "act-option" }, h("input", { type, name: "opt", value: i }), h("span", {}, text))),
      ),
      a.multiple ? h("p", { class: "muted small" }, LV.t("Pick one or more.")) : null,
      submitRow(),
    );
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const picked = [...form.querySelectorAll("input:checked")].map((el) => Number(el.value));
      if (!picked.length) return error(LV.t("Pick an answer first."));
      send(a, { options: picked });
    });
    return form;
  }

  function quizForm(a) {
    return h(
      "div",
      { class: "act-quiz" },
      h("p", { class: "act-timer", id: "act-timer", "aria-live": "off" }),
      h(
        "div",
        { class: "act-quiz-grid" },
        a.options.map((text, i) =>
          h("button", { class: `act-quiz-btn c${i % 4}`, type: "button", onclick: () => send(a, { option: i }) }, h("span", { class: "act-shape", "aria-hidden": "true" }, "▲◆●■"[i % 4]), text),
        ),
      ),
    );
  }

  function ratingForm(a) {
    const buttons = [];
    for (let v = 1; v <= (a.scale || 5); v += 1) {
      const label = LV.t("{score} out of {max}", { score: v, max: a.scale });
      buttons.push(h("button", { class: "act-rate", type: "button", "aria-label": label, onclick: () => send(a, { value: v }) }, LV.num(v)));
    }
    return h(
      "div",
      {},
      h("div", { class: "act-rate-grid", role: "group", "aria-label": a.prompt }, buttons),
      h("div", { class: "score-scale" }, h("span", {}, LV.t("{score} = low", { score: 1 })), h("span", {}, LV.t("{score} = high", { score: a.scale }))),
    );
  }

  function rankingForm(a) {
    let order = a.options.map((_, i) => i);
    const list = h("ol", { class: "act-rank-list" });
    function draw() {
      list.replaceChildren(
        ...order.map((i, pos) =>
          h(
            "li",
            {},
            h("span", { class: "act-rank" }, LV.num(pos + 1)),
            h("span", { class: "act-rank-text" }, a.options[i]),
            h("button", { class: "btn sm", type: "button", "aria-label": LV.t("Move {option} up", { option: a.options[i] }), disabled: pos === 0, onclick: () => move(pos, -1) }, "↑"),
            h("button", { class: "btn sm", type: "button", "aria-label": LV.t("Move {option} down", { option: a.options[i] }), disabled: pos === order.length - 1, onclick: () => move(pos, 1) }, "↓"),
          ),
        ),
      );
    }
    function move(pos, by) {
      const next = order.slice();
      [next[pos], next[pos + by]] = [next[pos + by], next[pos]];
      order = next;
      draw();
      list.querySelectorAll("li")[pos + by].querySelector("button:not([disabled])").focus();
    }
    draw();
    const form = h("form", { class: "act-form" }, h("p", { class: "muted small" }, LV.t("Best at the top.")), list, submitRow(LV.t("Send my ranking")));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      send(a, { order });
    });
    return form;
  }

  function wordsForm(a) {
    const inputs = [0, 1, 2].map((i) =>
      h("input", { type: "text", maxlength: 40, "aria-label": LV.t("Word {n}", { n: i + 1 }), placeholder: i ? LV.t("Optional") : LV.t("A word") }),
    );
    const form = h("form", { class: "act-form" }, h("div", { class: "act-words" }, inputs), h("p", { class: "muted small" }, LV.t("Up to {n} words.", { n: 3 })), submitRow());
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const words = inputs.map((el) => el.value.trim()).filter(Boolean);
      if (!words.length) return error(LV.t("Write at least one word."));
      send(a, { words });
    });
    return form;
  }

  function textForm(a) {
    const area = h("textarea", { maxlength: 280, rows: 4, "aria-label": LV.t("Your answer") });
    const used = () => LV.t("{used} / {max} characters", { used: area.value.length, max: 280 });
    const count = h("span", { class: "muted small" }, used());
    area.addEventListener("input", () => (count.textContent = used()));
    const form = h("form", { class: "act-form" }, area, count, h("p", { class: "muted small" }, LV.t("The host approves answers before they reach the screen.")), submitRow());
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      if (!area.value.trim()) return error(LV.t("Write something first."));
      send(a, { text: area.value });
    });
    return form;
  }

  const FORMS = { choice: choiceForm, quiz: quizForm, rating: ratingForm, ranking: rankingForm, wordcloud: wordsForm, open: textForm };

  async function checkAnswered(a) {
    if (answered[a.id] || !joined()) return;
    try {
      const mine = await api(`/api/events/${eventId}/activities/${a.id}/response`);
      if (mine.answered) {
        answered[a.id] = mine;
        write(answeredKey, answered);
        render(true);
      }
    } catch (err) {
      /* not joined (yet) */
    }
  }

  function render(force) {
    const box = $("#act-phone");
    const a = state && state.live;
    box.hidden = !a;
    document.body.classList.toggle("act-live", Boolean(a));
    if (!a) {
      renderedKey = null;
      shownResults = null;
      return;
    }
    const done = Boolean(answered[a.id]);
    const key = `${a.id}:${done}:${joined()}:${a.revealed}`;
    if (key !== renderedKey || force) {
      renderedKey = key;
      $("#act-kind").textContent = LV.act.KIND_LABEL[a.kind] || a.kind;
      $("#act-prompt").textContent = a.prompt;
      const body = !joined()
        ? h("p", { class: "muted" }, LV.t("Join above to take part."))
        : done
          ? h("div", { class: "act-done" }, h("div", { class: "state-icon ok", "aria-hidden": "true" }, "✓"), h("p", { class: "state-title" }, LV.t("Answer received")))
          : FORMS[a.kind](a);
      $("#act-input").replaceChildren(body);
      if (done && a.kind === "quiz" && a.revealed) revealMine(a);
      if (!done) checkAnswered(a);
    }
    const res = done ? state.results : null;
    const resKey = JSON.stringify(res);
    if (resKey !== renderedResults || force) {
      renderedResults = resKey;
      $("#act-view").replaceChildren(res ? LV.act.results(a, res) : "");
    }
    // Results appearing (or a quiz answer revealed) is told once, not at every new count.
    const unrevealed = a.kind === "quiz" && res && (res.correct === null || res.correct === undefined);
    const shown = res && !unrevealed ? a.id : null;
    if (shown && shown !== shownResults) announce(LV.act.revealedText(a, res));
    shownResults = shown;
    tick();
  }

  async function revealMine(a) {
    try {
      const mine = await api(`/api/events/${eventId}/activities/${a.id}/response`);
      if (mine.correct !== null && mine.correct !== undefined) {
        $("#act-input").replaceChildren(
          h(
            "p",
            { class: "state-title" },
            h("span", { "aria-hidden": "true" }, mine.correct ? "✓ " : "✗ "),
            mine.correct ? LV.tn("Correct! +{n} point", "Correct! +{n} points", mine.points) : LV.t("Not this time — 0 points"),
          ),
        );
      }
    } catch (err) {
      /* ignore */
    }
  }

  function tick() {
    const timer = $("#act-timer");
    const left = LV.act.secondsLeft(state && state.live);
    if (timer && left !== null) timer.textContent = left > 0 ? LV.tn("{n} second left", "{n} seconds left", left) : LV.t("Time is up");
  }
  setInterval(tick, 500);
  setInterval(() => state && state.live && render(false), 1500); // joined elsewhere on the page

  // ---------- Q&A ----------
  async function loadQuestions() {
    try {
      const out = await api(`/api/events/${eventId}/questions?sort=${sort}`);
      questions = out.items;
      drawQuestions();
    } catch (err) {
      /* the stream retries */
    }
  }

  function drawQuestions() {
    $("#qa-list").replaceChildren(
      ...(questions.length
        ? questions.map((q) =>
            LV.act.question(
              q,
              h(
                "button",
                {
                  class: "btn sm qa-up" + (upvoted.has(q.id) ? " done" : ""),
                  type: "button",
                  disabled: upvoted.has(q.id) || !joined(),
                  "aria-label": LV.t("Upvote: {question}", { question: q.text }),
                  onclick: () => upvote(q),
                },
                "▲",
              ),
            ),
          )
        : [h("li", { class: "act-empty" }, LV.t("No questions yet — ask the first one."))]),
    );
  }

  async function upvote(q) {
    try {
      await api(`/api/events/${eventId}/questions/${q.id}/upvote`, { method: "POST" });
    } catch (err) {
      if (err.type !== "already-upvoted") return ($("#qa-error").textContent = problem(err));
    }
    upvoted.add(q.id);
    write(upvotedKey, [...upvoted]);
    loadQuestions();
  }

  $("#qa-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const text = $("#qa-text").value.trim();
    $("#qa-error").textContent = "";
    if (!text) return ($("#qa-error").textContent = LV.t("Write your question first."));
    if (!joined()) return ($("#qa-error").textContent = LV.t("Join the event first."));
    try {
      const out = await api(`/api/events/${eventId}/questions`, { method: "POST", body: { text, anonymous: $("#qa-anon").checked } });
      $("#qa-text").value = "";
      const note = out.status === "pending" ? LV.t("Sent — the host will approve it shortly.") : LV.t("Question posted.");
      $("#qa-note").textContent = note;
      announce(note);
      loadQuestions();
    } catch (err) {
      $("#qa-error").textContent = problem(err);
    }
  });
  for (const btn of document.querySelectorAll("[data-qa-sort]")) {
    btn.addEventListener("click", () => {
      sort = btn.dataset.qaSort;
      for (const b of document.querySelectorAll("[data-qa-sort]")) b.setAttribute("aria-pressed", String(b === btn));
      loadQuestions();
    });
  }

  LV.act.stream(eventId, (s) => {
    const before = state && state.live && state.live.id;
    state = s;
    render(false);
    if (s.live && s.live.id !== before) {
      announce(LV.t("New activity ({kind}): {prompt}", { kind: LV.act.KIND_LABEL[s.live.kind] || s.live.kind, prompt: s.live.prompt }));
    }
    loadQuestions();
  });
})();
