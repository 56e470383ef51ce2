// Attendee phone: answer the live activity, see its results when shown, ask and upvote
// questions. The attendee credential is the events page's cookie; joining happens there.
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

  async function send(activity, body) {
    error("");
    try {
      await api(`/api/events/${eventId}/activities/${activity.id}/responses`, { method: "POST", body });
      answered[activity.id] = true;
      announce("Answer received");
    } catch (err) {
      if (err.type === "already-answered") answered[activity.id] = true;
      else return error(err.message);
    }
    write(answeredKey, answered);
    render(true);
  }

  function submitRow(label) {
    return h("button", { class: "btn primary big", type: "submit" }, label || "Send my answer");
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
      a.multiple ? h("p", { class: "muted small" }, "Pick one or more.") : null,
      submitRow(),
    );
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const picked = [...form.querySelectorAll("input:checked")].map((el) => Number(el.value));
      if (!picked.length) return error("Pick an answer first.");
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
      buttons.push(h("button", { class: "act-rate", type: "button", "aria-label": `${v} out of ${a.scale}`, onclick: () => send(a, { value: v }) }, v));
    }
    return h("div", {}, h("div", { class: "act-rate-grid" }, buttons), h("div", { class: "score-scale" }, h("span", {}, "1 = low"), h("span", {}, `${a.scale} = high`)));
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
            h("span", { class: "act-rank" }, pos + 1),
            h("span", { class: "act-rank-text" }, a.options[i]),
            h("button", { class: "btn sm", type: "button", "aria-label": `Move ${a.options[i]} up`, disabled: pos === 0, onclick: () => move(pos, -1) }, "↑"),
            h("button", { class: "btn sm", type: "button", "aria-label": `Move ${a.options[i]} down`, disabled: pos === order.length - 1, onclick: () => move(pos, 1) }, "↓"),
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
    const form = h("form", { class: "act-form" }, h("p", { class: "muted small" }, "Best at the top."), list, submitRow("Send my ranking"));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      send(a, { order });
    });
    return form;
  }

  function wordsForm(a) {
    const inputs = [0, 1, 2].map((i) => h("input", { type: "text", maxlength: 40, "aria-label": `Word ${i + 1}`, placeholder: i ? "Optional" : "A word" }));
    const form = h("form", { class: "act-form" }, h("div", { class: "act-words" }, inputs), h("p", { class: "muted small" }, "Up to 3 words."), submitRow());
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const words = inputs.map((el) => el.value.trim()).filter(Boolean);
      if (!words.length) return error("Write at least one word.");
      send(a, { words });
    });
    return form;
  }

  function textForm(a) {
    const area = h("textarea", { maxlength: 280, rows: 4, "aria-label": "Your answer" });
    const count = h("span", { class: "muted small" }, "0 / 280");
    area.addEventListener("input", () => (count.textContent = `${area.value.length} / 280`));
    const form = h("form", { class: "act-form" }, area, count, h("p", { class: "muted small" }, "The host approves answers before they reach the screen."), submitRow());
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      if (!area.value.trim()) return error("Write something first.");
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
      return;
    }
    const done = Boolean(answered[a.id]);
    const key = `${a.id}:${done}:${joined()}:${a.revealed}`;
    if (key !== renderedKey || force) {
      renderedKey = key;
      $("#act-kind").textContent = LV.act.KIND_LABEL[a.kind] || a.kind;
      $("#act-prompt").textContent = a.prompt;
      const body = !joined()
        ? h("p", { class: "muted" }, "Join above to take part.")
        : done
          ? h("div", { class: "act-done" }, h("div", { class: "state-icon ok", "aria-hidden": "true" }, "✓"), h("p", { class: "state-title" }, "Answer received"))
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
    tick();
  }

  async function revealMine(a) {
    try {
      const mine = await api(`/api/events/${eventId}/activities/${a.id}/response`);
      if (mine.correct !== null && mine.correct !== undefined) {
        $("#act-input").replaceChildren(
          h("p", { class: "state-title" }, mine.correct ? `Correct! +${mine.points} points` : "Not this time — 0 points"),
        );
      }
    } catch (err) {
      /* ignore */
    }
  }

  function tick() {
    const timer = $("#act-timer");
    const left = LV.act.secondsLeft(state && state.live);
    if (timer && left !== null) timer.textContent = left > 0 ? `${left}s left` : "Time is up";
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
                  "aria-label": `Upvote: ${q.text}`,
                  onclick: () => upvote(q),
                },
                "▲",
              ),
            ),
          )
        : [h("li", { class: "act-empty" }, "No questions yet — ask the first one.")]),
    );
  }

  async function upvote(q) {
    try {
      await api(`/api/events/${eventId}/questions/${q.id}/upvote`, { method: "POST" });
    } catch (err) {
      if (err.type !== "already-upvoted") return ($("#qa-error").textContent = err.message);
    }
    upvoted.add(q.id);
    write(upvotedKey, [...upvoted]);
    loadQuestions();
  }

  $("#qa-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const text = $("#qa-text").value.trim();
    $("#qa-error").textContent = "";
    if (!text) return ($("#qa-error").textContent = "Write your question first.");
    if (!joined()) return ($("#qa-error").textContent = "Join the event first.");
    try {
      const out = await api(`/api/events/${eventId}/questions`, { method: "POST", body: { text, anonymous: $("#qa-anon").checked } });
      $("#qa-text").value = "";
      const note = out.status === "pending" ? "Sent — the host will approve it shortly." : "Question posted.";
      $("#qa-note").textContent = note;
      announce(note);
      loadQuestions();
    } catch (err) {
      $("#qa-error").textContent = err.message;
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
    if (s.live && s.live.id !== before) announce(`New ${LV.act.KIND_LABEL[s.live.kind] || "activity"}: ${s.live.prompt}`);
    loadQuestions();
  });
})();
