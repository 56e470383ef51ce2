// Activities and Q&A — shared pieces for the phone, screen and host pages (LV.act): result
// visualisations (bars, an SVG word cloud, a rating distribution, a Borda ranking, moderated
// texts, a quiz leaderboard) and the activities stream. Text typed by people only ever goes
// in through textContent (LV.h), never as markup.
"use strict";

(function () {
  const { h } = LV;
  const SVG = "http://www.w3.org/2000/svg";
  const KIND_LABEL = {
    choice: "Poll",
    wordcloud: "Word cloud",
    rating: "Rating",
    open: "Open question",
    ranking: "Ranking",
    quiz: "Quiz",
  };
  const PALETTE = ["#818cf8", "#22d3ee", "#f472b6", "#facc15", "#34d399", "#fb923c", "#a78bfa", "#60a5fa"];

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
        bar(o.text, `${o.count} · ${Math.round(o.percent)}%`, o.count / max, {
          mark: correct === null || correct === undefined ? "" : o.index === correct ? "right" : "wrong",
          badge: correct === o.index ? "✓ correct" : null,
        }),
      ),
    );
  }

  function rating(results) {
    const max = Math.max(1, ...results.distribution.map((d) => d.count));
    const avg = results.average === null || results.average === undefined ? "–" : results.average.toFixed(1);
    const top = results.distribution.length;
    return h(
      "div",
      { class: "act-rating" },
      h("p", { class: "act-average" }, h("b", {}, avg), h("span", {}, ` / ${top} average`)),
      h(
        "ol",
        { class: "act-columns", "aria-label": "Distribution" },
        results.distribution.map((d) =>
          h(
            "li",
            { "aria-label": `${d.value}: ${d.count}` },
            h("span", { class: "act-col-n" }, d.count),
            h("span", { class: "act-col" }, h("span", { class: "act-col-fill", dataset: { h: ((d.count / max) * 100).toFixed(1) } })),
            h("span", { class: "act-col-label" }, d.value),
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
      results.ranking.map((r) => bar(`${r.rank}. ${r.text}`, `${r.points} pts`, r.points / max, { mark: r.rank === 1 && r.points ? "right" : "" })),
    );
  }

  // A word cloud laid out on an Archimedean spiral: the biggest word in the middle, each next
  // one at the first place where its box overlaps none placed before. Deterministic.
  function wordcloud(results) {
    const W = 960;
    const H = 520;
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "act-cloud", role: "img" });
    const words = results.words || [];
    root.setAttribute("aria-label", words.length ? "Word cloud: " + words.slice(0, 10).map((w) => `${w.word} ${w.count}`).join(", ") : "No words yet");
    if (!words.length) return root;
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
          { x: x + bw / 2, y: y + bh * 0.78, "font-size": size, fill: PALETTE[i % PALETTE.length], "text-anchor": "middle" },
          w.word,
        );
        const title = svg("title", {}, `${w.word}: ${w.count}`);
        text.append(title);
        root.append(text);
        break;
      }
    });
    return root;
  }

  function texts(results, host, onModerate) {
    if (!results.texts.length) return h("p", { class: "act-empty" }, host ? "No answers yet." : "Answers appear here once approved.");
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
                h("span", { class: "chip muted" }, t.status),
                t.status !== "approved" ? h("button", { class: "btn sm go", type: "button", onclick: () => onModerate(t, "approved") }, "Approve") : null,
                t.status !== "hidden" ? h("button", { class: "btn sm", type: "button", onclick: () => onModerate(t, "hidden") }, "Hide") : null,
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
    if (!res) return h("p", { class: "act-hidden" }, "Results are hidden — the host will show them");
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
    return h(
      "section",
      { class: "act-leaders", "aria-label": title || "Leaderboard" },
      h("h3", {}, title || "Leaderboard"),
      rows.length
        ? h(
            "ol",
            {},
            rows.map((r) =>
              h("li", { class: r.rank === 1 ? "first" : "" }, h("span", { class: "act-rank" }, r.rank), h("span", { class: "act-nick" }, r.nickname), h("b", {}, `${r.points}`)),
            ),
          )
        : h("p", { class: "act-empty" }, "No points yet."),
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
      h("div", { class: "qa-votes", "aria-label": LV.plural(q.votes, "vote", "votes") }, h("b", {}, q.votes), h("span", {}, q.votes === 1 ? "vote" : "votes")),
      h(
        "div",
        { class: "qa-body" },
        h("p", { class: "qa-text" }, q.text),
        h(
          "p",
          { class: "qa-meta" },
          q.pinned ? h("span", { class: "chip live" }, "Pinned") : null,
          q.status === "answered" ? h("span", { class: "chip ok" }, "Answered") : null,
          q.status === "pending" ? h("span", { class: "chip muted" }, "Waiting for approval") : null,
          q.status === "hidden" ? h("span", { class: "chip muted" }, "Hidden") : null,
          h("span", {}, q.name || "Anonymous"),
        ),
      ),
      actions || null,
    );
  }

  function stream(eventId, onState, indicator) {
    return LV.live(`/api/events/${eventId}/activities/stream`, { onState, onStatus: indicator });
  }

  LV.act = { KIND_LABEL, results, leaderboard, secondsLeft, question, stream, svg, wordcloud };
})();
