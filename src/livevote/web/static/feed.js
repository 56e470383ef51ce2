// livevote poll feed: sign in (the same sign-in as the host console), page through the feed
// by cursor, vote, skip, see stats. Built on livevote.js (LV); user-typed text goes in with
// textContent through LV.h, never as HTML.
"use strict";

(function () {
  const { h, $, t, tn } = LV;
  const LIMIT = 10;
  const percent = new Intl.NumberFormat(LV.lang, { style: "percent", maximumFractionDigits: 1 });
  let cursor = null;
  let filters = { q: "", tag: "" };
  let mode = "login";
  let loading = false;

  // Every feed call carries the shared token; a 401 means it expired: back to the sign-in.
  async function api(path, options) {
    try {
      return await LV.api(path, { auth: true, ...options });
    } catch (err) {
      if (err.status === 401 && LV.token.get()) {
        LV.signOut();
        show();
      }
      throw err;
    }
  }

  function problem(err) {
    return LV.problemText(err, {
      "already-voted": t("You already voted on this poll."),
      "already-skipped": t("You already skipped this poll."),
      "daily-vote-limit": t("You've used all your votes for today. Come back tomorrow!"),
      "invalid-credentials": t("Wrong email or password."),
      "login-locked": t("Too many attempts to sign in. Wait a moment and try again."),
      "email-taken": t("This email is already registered."),
      "username-taken": t("This username is already taken."),
    });
  }

  let toastTimer = 0;
  function toast(text) {
    const t = $("#toast");
    t.textContent = text;
    t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => {
      t.hidden = true;
    }, 4000);
  }

  function setMode(next) {
    mode = next;
    $("#tab-login").setAttribute("aria-selected", String(next === "login"));
    $("#tab-register").setAttribute("aria-selected", String(next === "register"));
    $("#username-field").hidden = next !== "register";
    $("#auth-submit").textContent = next === "login" ? t("Sign in") : t("Create account");
    $("#auth-error").textContent = "";
  }

  async function onAuth(event) {
    event.preventDefault();
    const f = event.target;
    const email = f.email.value.trim();
    const password = f.password.value;
    $("#auth-error").textContent = "";
    $("#auth-submit").disabled = true;
    try {
      if (mode === "register") await LV.register(f.username.value.trim(), email, password);
      else await LV.signIn(email, password);
      show();
    } catch (err) {
      $("#auth-error").textContent = problem(err);
    } finally {
      $("#auth-submit").disabled = false;
    }
  }

  function showUser(user) {
    $("#who-name").textContent = (user && (user.username || user.email)) || "";
  }

  function show() {
    const signedIn = Boolean(LV.token.get());
    $("#auth").hidden = signedIn;
    $("#app").hidden = !signedIn;
    $("#who").hidden = !signedIn;
    if (signedIn) {
      const user = LV.user.get();
      showUser(user);
      if (!user || !user.username) LV.loadUser().then((u) => u && showUser(u));
      reload();
    }
  }

  function reload() {
    cursor = null;
    $("#feed").replaceChildren();
    $("#empty").hidden = true;
    more();
  }

  async function more() {
    if (loading) return;
    loading = true;
    $("#more").hidden = true;
    try {
      const params = new URLSearchParams({ limit: String(LIMIT) });
      if (cursor) params.set("cursor", cursor);
      if (filters.q) params.set("q", filters.q);
      if (filters.tag) params.set("tag", filters.tag);
      const page = await api(`/api/polls?${params}`);
      page.items.forEach((poll) => $("#feed").append(card(poll)));
      cursor = page.next_cursor;
      $("#more").hidden = !page.has_more;
      $("#empty").hidden = page.has_more || $("#feed").children.length > 0;
      loading = false;
      // A page can come back short when the walk reaches its scan budget: keep going.
      if (page.has_more && page.items.length === 0) more();
    } catch (err) {
      toast(problem(err));
    } finally {
      loading = false;
    }
  }

  function card(poll) {
    const li = h(
      "li",
      { class: "card", dataset: { id: poll.id } },
      h(
        "div",
        { class: "tags" },
        poll.tags.map((tag) =>
          h("button", {
            type: "button",
            class: "tag",
            text: `#${tag}`,
            onclick: () => {
              document.forms.filters.tag.value = tag;
              applyFilters();
            },
          }),
        ),
      ),
      h("h3", { class: "title", text: poll.title }),
      h(
        "div",
        { class: "options" },
        poll.options.map((text, index) =>
          h(
            "button",
            { type: "button", class: "option", onclick: () => vote(li, poll, index) },
            h("span", { class: "fill" }),
            h("span", { class: "label", text }),
            h("span", { class: "pct", "aria-hidden": "true" }),
            h("span", { class: "share sr-only" }),
          ),
        ),
      ),
      h(
        "div",
        { class: "foot" },
        h("button", { type: "button", class: "link skip", text: t("Skip"), onclick: () => skip(li, poll) }),
        h("span", { class: "status muted" }),
      ),
    );
    return li;
  }

  function lock(li, locked) {
    li.querySelectorAll("button").forEach((b) => {
      b.disabled = locked;
    });
  }

  async function vote(li, poll, index) {
    lock(li, true);
    try {
      const res = await api(`/api/polls/${poll.id}/vote`, { method: "POST", body: { optionIndex: index } });
      li.classList.add("voted");
      const mine = li.querySelectorAll(".option")[index];
      mine.classList.add("mine");
      // Not by colour alone: a visible mark, and words for screen readers.
      mine.querySelector(".label").prepend(h("span", { class: "mine-mark", "aria-hidden": "true" }, "✓ "));
      mine.querySelector(".label").append(h("span", { class: "sr-only" }, " (" + t("your vote") + ")"));
      li.querySelector(".status").textContent = t("Voted") + " · " + tn("{n} vote left today", "{n} votes left today", res.daily_votes_remaining);
      showStats(li, await api(`/api/polls/${poll.id}/stats`));
    } catch (err) {
      lock(li, false);
      if (err.status === 409) remove(li);
      toast(problem(err));
    }
  }

  function showStats(li, stats) {
    const buttons = li.querySelectorAll(".option");
    stats.options.forEach((o) => {
      const b = buttons[o.index];
      if (!b) return;
      b.querySelector(".fill").style.width = `${o.percent}%`;
      b.querySelector(".pct").textContent = percent.format(Math.round(o.percent) / 100);
      b.querySelector(".share").textContent = " " + tn("{n} vote", "{n} votes", o.votes) + ", " + percent.format(o.percent / 100);
    });
    const status = li.querySelector(".status");
    status.textContent = status.textContent + " · " + tn("{n} vote", "{n} votes", stats.total);
  }

  function remove(li) {
    li.classList.add("leaving");
    setTimeout(() => {
      li.remove();
      if (!$("#feed").children.length && $("#more").hidden) $("#empty").hidden = false;
    }, 250);
  }

  async function skip(li, poll) {
    lock(li, true);
    try {
      await api(`/api/polls/${poll.id}/skip`, { method: "POST" });
      remove(li);
    } catch (err) {
      lock(li, false);
      if (err.status === 409) remove(li);
      toast(problem(err));
    }
  }

  function applyFilters(event) {
    if (event) event.preventDefault();
    const f = document.forms.filters;
    filters = { q: f.q.value.trim(), tag: f.tag.value.trim().replace(/^#/, "").toLowerCase() };
    reload();
  }

  async function onCreate(event) {
    event.preventDefault();
    const f = event.target;
    const body = {
      title: f.title.value.trim(),
      options: f.options.value.split("\n").map((s) => s.trim()).filter(Boolean),
      tags: f.tags.value.split(",").map((s) => s.trim().replace(/^#/, "")).filter(Boolean),
    };
    $("#create-error").textContent = "";
    try {
      const poll = await api("/api/polls", { method: "POST", body });
      f.reset();
      $("#create").open = false;
      $("#feed").prepend(card(poll));
      $("#empty").hidden = true;
      toast(t("Poll published"));
    } catch (err) {
      $("#create-error").textContent = problem(err);
    }
  }

  $("#tab-login").addEventListener("click", () => setMode("login"));
  $("#tab-register").addEventListener("click", () => setMode("register"));
  $("#auth-form").addEventListener("submit", onAuth);
  $("#sign-out").addEventListener("click", () => {
    LV.signOut();
    show();
  });
  $("#filters").addEventListener("submit", applyFilters);
  $("#create-form").addEventListener("submit", onCreate);
  $("#more").addEventListener("click", more);
  show();
})();
