// The reveal ceremony on the projector screen and the phones: each place the host reveals
// arrives in the state (`reveal`), last place first. The newest one takes the stage in
// large type with its score; first place gets confetti (none when the viewer prefers
// reduced motion). Fed by the page's stream through the "lv:state" events it dispatches.
"use strict";

(function () {
  const { h, $, t } = LV;
  const root = $("#reveal");
  if (!root) return;
  const reduced = window.matchMedia("(prefers-reduced-motion: reduce)");
  let shownStep = 0;

  const ordinal = (n) => {
    if (document.documentElement.lang !== "en") return t("Place {n}", { n });
    const s = ["th", "st", "nd", "rd"];
    const v = n % 100;
    return n + (s[(v - 20) % 10] || s[v] || s[0]);
  };
  const placeLabel = (n) => (document.documentElement.lang !== "en" ? t("Place {n}", { n }) : `${ordinal(n)} place`);
  const fmt = (x) => (Math.round(x * 100) / 100).toFixed(2);

  function parts(place) {
    const bits = [];
    if (place.jury && place.jury.jurors) bits.push(t("Jury {score}", { score: fmt(place.jury.average) }));
    const audience = fmt(place.audience ? place.audience.average : place.average);
    bits.push(t("Audience {score}", { score: audience }) + " · " + LV.tn("{n} vote", "{n} votes", place.votes));
    return bits.join("  ·  ");
  }

  function countUp(el, target) {
    if (reduced.matches) {
      el.textContent = fmt(target);
      return;
    }
    const start = performance.now();
    const run = (now) => {
      const t = Math.min(1, (now - start) / 1200);
      el.textContent = fmt(target * (1 - (1 - t) ** 3));
      if (t < 1) requestAnimationFrame(run);
    };
    requestAnimationFrame(run);
  }

  function confetti() {
    const box = $("#confetti");
    box.replaceChildren();
    if (reduced.matches) return;
    const colours = ["#fde047", "#f59e0b", "#a5b4fc", "#22d3ee", "#f472b6", "#ffffff"];
    for (let i = 0; i < 120; i += 1) {
      box.append(
        h("span", {
          style: `left:${Math.random() * 100}%;background:${colours[i % colours.length]};` +
            `animation-delay:${(Math.random() * 2.5).toFixed(2)}s;animation-duration:${(3.5 + Math.random() * 2.5).toFixed(2)}s;` +
            `--drift:${(Math.random() * 30 - 15).toFixed(1)}vw;--spin:${Math.round(Math.random() * 720 - 360)}deg`,
        }),
      );
    }
    setTimeout(() => box.replaceChildren(), 9000);
  }

  function render(reveal) {
    document.body.classList.toggle("revealing", Boolean(reveal));
    root.hidden = !reveal;
    if (!reveal) {
      shownStep = 0;
      return;
    }
    const places = reveal.places || [];
    const newest = places[places.length - 1];
    const fresh = reveal.step !== shownStep;
    if (fresh && newest) {
      const score = h("span", { class: "reveal-score" }, fmt(newest.final));
      const card = h(
        "div",
        { class: "reveal-card place-" + newest.place + (reduced.matches ? "" : " enter") },
        h("span", { class: "reveal-place" }, newest.place === 1 ? t("Winner") : placeLabel(newest.place)),
        h("span", { class: "reveal-team" }, newest.name),
        score,
        h("span", { class: "reveal-parts" }, parts(newest)),
      );
      $("#reveal-current").replaceChildren(card);
      if (shownStep) countUp(score, newest.final);
      if (newest.place === 1) confetti();
      $("#reveal-title").textContent = reveal.complete ? t("The winner is…") : t("And the results are…");
    }
    const earlier = places.slice(0, -1).reverse();
    $("#reveal-places").replaceChildren(
      ...earlier.map((p) =>
        h(
          "li",
          { class: "reveal-row" },
          h("span", { class: "p" }, ordinal(p.place)),
          h("span", { class: "n" }, p.name),
          h("span", { class: "s" }, fmt(p.final)),
        ),
      ),
    );
    shownStep = reveal.step;
  }

  const first = (LV.data().event || {}).reveal || null;
  render(first);
  if (first) shownStep = first.step;
  document.addEventListener("lv:state", (ev) => {
    if ("reveal" in ev.detail) render(ev.detail.reveal);
  });
})();
