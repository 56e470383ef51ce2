// Activities and Q&A — shared pieces for the phone, screen and host pages (LV.act): result
// visualisations (bars, an SVG word cloud, a rating distribution, a Borda ranking, moderated
// texts, a quiz leaderboard) and the activities stream. Text typed by people only ever goes
// in through textContent (LV.h), never as markup. Every word shown goes through LV.t / LV.tn
// (the page's catalogue) and every number through LV.num (Intl, the page's language).
"use strict";

(function () {
  const { h } = LV;
  const SVG = "http://www.w3.org/2000/svg";
  const KIND_LABEL = {
    choice: LV.t("Poll"),
    wordcloud: LV.t("Word cloud"),
    rating: LV.t("Rating"),
    open: LV.t("Open question"),
    ranking: LV.t("Ranking"),
    quiz: LV.t("Quiz"),
  };
  // The word cloud's colours are classes (w0..w7): the stylesheet picks shades that keep their
  // contrast on the phone's light page and on the screen's dark one.
  const COLOURS = 8;
  const STATUS = {
    draft: LV.t("Draft"),
    live: LV.t("Live"),
    closed: LV.t("Closed"),
    pending: LV.t("Waiting for approval"),
    approved: LV.t("Approved"),
    hidden: LV.t("Hidden"),
    answered: LV.t("Answered"),
  };
  const percent = new Intl.NumberFormat(LV.lang, { style: "percent", maximumFractionDigits: 0 });

  function svg(tag, attrs, text) {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
    if (text !== undefined) el.textContent = text;
    return el;
  }

  // Bars whose width is set after insertion (CSS transitions animate the growth).
  function bar(label, value, fraction, opts) {
    const o = opts || {};
    const li = h(
      "li",
      { class: "act-bar" + (o.mark ? " " + o.mark : "") },
      h("span", { class: "act-bar-label" }, label, o.badge ? h("span", { class: "act-badge" }, o.badge) : null),
      h("span", { class: "act-bar-value" }, value),
      h("span", { class: "act-track", "aria-hidden": "true" }, h("span", { class: "act-fill", dataset: { w: (Math.max(0, Math.min(1, fraction)) * 100).toFixed(1) } })),
    );
    return li;
  }

  function grow(root) {
    requestAnimationFrame(() => {
      for (const fill of root.querySelectorAll(".act-fill")) fill.style.width = fill.dataset.w + "%";
    });
  }

  function optionBars(results, activity) {
    const max = Math.max(1, ...results.options.map((o) => o.count));
    const correct = results.correct;
    return h(
      "ol",
      { class: "act-bars" },
      results.options.map((o) =>
        bar(o.text, `${LV.num(o.count)} · ${percent.format(Math.round(o.percent) / 100)}`, o.count / max, {
          mark: correct === null || correct === undefined ? "" : o.index === correct ? "right" : "wrong",
          // The right answer is told in words and a tick, never by colour alone.
          badge: correct === o.index ? [h("span", { "aria-hidden": "true" }, "✓ "), LV.t("Correct answer")] : null,
        }),
      ),
    );
  }

  function rating(results) {
    const max = Math.max(1, ...results.distribution.map((d) => d.count));
    const avg = results.average === null || results.average === undefined ? "–" : LV.num(results.average, 1);
    const top = results.distribution.length;
    return h(
      "div",
      { class: "act-rating" },
      h("p", { class: "act-average" }, h("b", {}, avg), " ", h("span", {}, LV.t("average out of {max}", { max: top }))),
      h(
        "ol",
        { class: "act-columns", "aria-label": LV.t("Answers per rating") },
        results.distribution.map((d) =>
          h(
            "li",
            {},
            h("span", { class: "sr-only" }, LV.tn("{value}: {n} answer", "{value}: {n} answers", d.count, { value: d.value })),
            h("span", { class: "act-col-n", "aria-hidden": "true" }, LV.num(d.count)),
            h("span", { class: "act-col", "aria-hidden": "true" }, h("span", { class: "act-col-fill", dataset: { h: ((d.count / max) * 100).toFixed(1) } })),
            h("span", { class: "act-col-label", "aria-hidden": "true" }, LV.num(d.value)),
          ),
        ),
      ),
    );
  }

  function ranking(results) {
    const max = Math.max(1, ...results.ranking.map((r) => r.points));
    return h(
      "ol",
      { class: "act-bars ranked" },
      results.ranking.map((r) =>
        bar(`${LV.num(r.rank)}. ${r.text}`, LV.tn("{n} pt", "{n} pts", r.points), r.points / max, { mark: r.rank === 1 && r.points ? "right" : "" }),
      ),
    );
  }

  // A word cloud laid out on an Archimedean spiral: the biggest word in the middle, each next
  // one at the first place where its box overlaps none placed before. Deterministic. Screen
  // readers get the words as a list, most frequent first, with their counts (the picture
  // itself is hidden from them: its sizes say nothing a list doesn't).
  function wordcloud(results) {
    const words = results.words || [];
    if (!words.length) return h("p", { class: "act-empty" }, LV.t("No words yet."));
    return h(
      "figure",
      { class: "act-cloud-wrap" },
      cloud(words),
      h(
        "ul",
        { class: "act-cloud-words sr-only", "aria-label": LV.t("Most frequent words") },
        words.slice(0, 20).map((w) => h("li", {}, LV.tn("{word}: {n} mention", "{word}: {n} mentions", w.count, { word: w.word }))),
      ),
    );
  }

  function cloud(words) {
    const W = 960;
    const H = 520;
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "act-cloud", "aria-hidden": "true", focusable: "false" });
    const max = Math.max(...words.map((w) => w.count));
    const placed = [];
    words.forEach((w, i) => {
      const size = Math.round(18 + 70 * Math.sqrt(w.count / max));
      const bw = size * 0.56 * w.word.length + 8;
      const bh = size * 1.05;
      for (let t = 0; t < 1400; t += 1) {
        const angle = 0.35 * t;
        const r = 2.2 * angle;
        const x = W / 2 + r * Math.cos(angle) * 1.6 - bw / 2;
        const y = H / 2 + r * Math.sin(angle) - bh / 2;
        if (x < 4 || y < 4 || x + bw > W - 4 || y + bh > H - 4) continue;
        const box = { x, y, w: bw, h: bh };
        if (placed.some((p) => x < p.x + p.w && x + bw > p.x && y < p.y + p.h && y + bh > p.y)) continue;
        placed.push(box);
        const text = svg(
          "text",
          { x: x + bw / 2, y: y + bh * 0.78, "font-size": size, class: `w${i % COLOURS}`, "text-anchor": "middle" },
          w.word,
        );
        const title = svg("title", {}, `${w.word}: ${LV.num(w.count)}`);
        text.append(title);
        root.append(text);
        break;
      }
    });
    return root;
  }

  function texts(results, host, onModerate) {
    if (!results.texts.length) return h("p", { class: "act-empty" }, host ? LV.t("No answers yet.") : LV.t("Answers appear here once approved."));
    return h(
      "ul",
      { class: "act-texts" },
      results.texts.map((t) =>
        h(
          "li",
          { class: "act-text " + t.status },
          h("span", { class: "act-text-body" }, t.text),
          host && onModerate
            ? h(
                "span",
                { class: "act-text-actions" },
                h("span", { class: "chip muted" }, STATUS[t.status] || t.status),
                t.status !== "approved" ? h("button", { class: "btn sm go", type: "button", onclick: () => onModerate(t, "approved") }, LV.t("Approve")) : null,
                t.status !== "hidden" ? h("button", { class: "btn sm", type: "button", onclick: () => onModerate(t, "hidden") }, LV.t("Hide")) : null,
              )
            : null,
        ),
      ),
    );
  }

  // The visualisation of one activity's results (null results: hidden).
  function results(activity, res, opts) {
    const o = opts || {};
    if (!res && activity && activity.kind === "quiz") return quizTiles(activity);
    if (!res) return h("p", { class: "act-hidden" }, LV.t("Results are hidden — the host will reveal them"));
    let body;
    if (res.kind === "choice" || res.kind === "quiz") body = optionBars(res, activity);
    else if (res.kind === "rating") body = rating(res);
    else if (res.kind === "ranking") body = ranking(res);
    else if (res.kind === "wordcloud") body = wordcloud(res);
    else body = texts(res, o.host, o.onModerate);
    const wrap = h("div", { class: "act-results kind-" + res.kind }, body);
    requestAnimationFrame(() => {
      for (const fill of wrap.querySelectorAll(".act-col-fill")) fill.style.height = fill.dataset.h + "%";
    });
    grow(wrap);
    return wrap;
  }

  // A quiz before its reveal: the options as the phones show them, no counts.
  function quizTiles(activity) {
    return h(
      "ol",
      { class: "act-quiz-tiles" },
      activity.options.map((text, i) => h("li", { class: `c${i % 4}` }, h("span", { class: "act-shape", "aria-hidden": "true" }, "▲◆●■"[i % 4]), text)),
    );
  }

  function leaderboard(rows, title) {
    const name = title || LV.t("Leaderboard");
    return h(
      "section",
      { class: "act-leaders", "aria-label": name },
      h("h3", {}, name),
      rows.length
        ? h(
            "ol",
            {},
            rows.map((r) =>
              h(
                "li",
                { class: r.rank === 1 ? "first" : "" },
                h("span", { class: "act-rank" }, h("span", { class: "sr-only" }, LV.t("Rank {rank}", { rank: r.rank }) + ": "), h("span", { "aria-hidden": "true" }, LV.num(r.rank))),
                h("span", { class: "act-nick" }, r.nickname),
                h("b", {}, LV.tn("{n} point", "{n} points", r.points)),
              ),
            ),
          )
        : h("p", { class: "act-empty" }, LV.t("No points yet.")),
    );
  }

  // Seconds left of a live quiz (null for anything else).
  function secondsLeft(activity) {
    if (!activity || activity.kind !== "quiz" || !activity.opened_at || !activity.live) return null;
    const end = Date.parse(activity.opened_at) + activity.time_limit_s * 1000;
    return Math.max(0, Math.ceil((end - Date.now()) / 1000));
  }

  function question(q, actions) {
    return h(
      "li",
      { class: "qa-item" + (q.pinned ? " pinned" : "") + (q.status === "answered" ? " answered" : ""), dataset: { id: q.id } },
      h("div", { class: "qa-votes" }, h("b", {}, LV.num(q.votes)), " ", h("span", {}, LV.tn("vote", "votes", q.votes))),
      h(
        "div",
        { class: "qa-body" },
        h("p", { class: "qa-text" }, q.text),
        h(
          "p",
          { class: "qa-meta" },
          q.pinned ? h("span", { class: "chip live" }, LV.t("Pinned")) : null,
          q.status === "answered" ? h("span", { class: "chip ok" }, STATUS.answered) : null,
          q.status === "pending" ? h("span", { class: "chip muted" }, STATUS.pending) : null,
          q.status === "hidden" ? h("span", { class: "chip muted" }, STATUS.hidden) : null,
          h("span", {}, q.name || LV.t("Anonymous")),
        ),
      ),
      actions || null,
    );
  }

  // The activities/Q&A snapshots come as `activities` frames on the event's own stream (the
  // page's other script shares the connection: LV.live).
  function stream(eventId, onActivities, indicator) {
    return LV.live(`/api/events/${eventId}/stream`, { onActivities, onStatus: indicator });
  }

  // What a screen reader hears when an activity's results appear (or a quiz answer is revealed).
  function revealedText(activity, res) {
    if (activity.kind === "quiz" && res && res.correct !== null && res.correct !== undefined) {
      return LV.t("The right answer: {answer}.", { answer: activity.options[res.correct] });
    }
    return LV.t("Results are shown: {prompt}", { prompt: activity.prompt });
  }

  LV.act = { KIND_LABEL, STATUS, results, leaderboard, secondsLeft, question, stream, svg, wordcloud, revealedText };
})();
