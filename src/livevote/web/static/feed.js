// livevote poll feed: sign in, page through the feed by cursor, vote, skip, see stats.
// Everything user-typed is set with textContent, never as HTML.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const KEY = "lv_feed_session";
  const LIMIT = 10;
  let session = load();
  let cursor = null;
  let filters = { q: "", tag: "" };
  let mode = "login";
  let loading = false;

  function load() {
    try { return JSON.parse(localStorage.getItem(KEY) || "null"); } catch { return null; }
  }
  function save(value) {
    session = value;
    if (value) localStorage.setItem(KEY, JSON.stringify(value)); else localStorage.removeItem(KEY);
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (session) headers.Authorization = `Bearer ${session.token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const data = res.status === 204 ? null : await res.json().catch(() => null);
    if (res.status === 401 && session) { save(null); show(); }
    if (!res.ok) {
      const err = new Error((data && (data.detail || data.title)) || `HTTP ${res.status}`);
      err.status = res.status; err.type = data && data.type;
      throw err;
    }
    return data;
  }

  let toastTimer = 0;
  function toast(text) {
    const t = $("toast");
    t.textContent = text; t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { t.hidden = true; }, 4000);
  }

  function setMode(next) {
    mode = next;
    $("tab-login").setAttribute("aria-selected", String(next === "login"));
    $("tab-register").setAttribute("aria-selected", String(next === "register"));
    $("username-field").hidden = next !== "register";
    $("auth-submit").textContent = next === "login" ? "Sign in" : "Create account";
    $("auth-error").textContent = "";
  }

  async function onAuth(event) {
    event.preventDefault();
    const f = event.target;
    const email = f.email.value.trim();
    const password = f.password.value;
    $("auth-error").textContent = "";
    $("auth-submit").disabled = true;
    try {
      if (mode === "register") {
        await api("POST", "/api/auth/register", { username: f.username.value.trim(), email, password });
      }
      const tok = await api("POST", "/api/auth/login", { email, password });
      save({ token: tok.access_token, email });
      const me = await api("GET", "/api/users/me");
      save({ token: tok.access_token, email, username: me.username });
      show();
    } catch (err) {
      $("auth-error").textContent = err.message;
    } finally {
      $("auth-submit").disabled = false;
    }
  }

  function show() {
    const signedIn = Boolean(session);
    $("auth").hidden = signedIn;
    $("app").hidden = !signedIn;
    $("who").hidden = !signedIn;
    if (signedIn) {
      $("who-name").textContent = session.username || session.email;
      reload();
    }
  }

  function reload() {
    cursor = null;
    $("feed").replaceChildren();
    $("empty").hidden = true;
    more();
  }

  async function more() {
    if (loading) return;
    loading = true;
    $("more").hidden = true;
    try {
      const params = new URLSearchParams({ limit: String(LIMIT) });
      if (cursor) params.set("cursor", cursor);
      if (filters.q) params.set("q", filters.q);
      if (filters.tag) params.set("tag", filters.tag);
      const page = await api("GET", `/api/polls?${params}`);
      page.items.forEach((poll) => $("feed").append(card(poll)));
      cursor = page.next_cursor;
      $("more").hidden = !page.has_more;
      $("empty").hidden = page.has_more || $("feed").children.length > 0;
      loading = false;
      // A page can come back short when the walk reaches its scan budget: keep going.
      if (page.has_more && page.items.length === 0) more();
    } catch (err) {
      toast(err.message);
    } finally {
      loading = false;
    }
  }

  function card(poll) {
    const li = $("card").content.firstElementChild.cloneNode(true);
    li.dataset.id = poll.id;
    li.querySelector(".title").textContent = poll.title;
    const tags = li.querySelector(".tags");
    poll.tags.forEach((tag) => {
      const b = document.createElement("button");
      b.type = "button"; b.className = "tag"; b.textContent = `#${tag}`;
      b.addEventListener("click", () => { document.forms.filters.tag.value = tag; applyFilters(); });
      tags.append(b);
    });
    const box = li.querySelector(".options");
    poll.options.forEach((text, index) => {
      const b = document.createElement("button");
      b.type = "button"; b.className = "option";
      const fill = document.createElement("span"); fill.className = "fill";
      const label = document.createElement("span"); label.className = "label"; label.textContent = text;
      const pct = document.createElement("span"); pct.className = "pct";
      b.append(fill, label, pct);
      b.addEventListener("click", () => vote(li, poll, index));
      box.append(b);
    });
    li.querySelector(".skip").addEventListener("click", () => skip(li, poll));
    return li;
  }

  function lock(li, locked) { li.querySelectorAll("button").forEach((b) => { b.disabled = locked; }); }

  async function vote(li, poll, index) {
    lock(li, true);
    try {
      const res = await api("POST", `/api/polls/${poll.id}/vote`, { optionIndex: index });
      li.classList.add("voted");
      li.querySelectorAll(".option")[index].classList.add("mine");
      li.querySelector(".status").textContent = `Voted · ${res.daily_votes_remaining} votes left today`;
      const stats = await api("GET", `/api/polls/${poll.id}/stats`);
      showStats(li, stats);
    } catch (err) {
      lock(li, false);
      if (err.status === 409) { remove(li); }
      toast(err.message);
    }
  }

  function showStats(li, stats) {
    const buttons = li.querySelectorAll(".option");
    stats.options.forEach((o) => {
      const b = buttons[o.index];
      if (!b) return;
      b.querySelector(".fill").style.width = `${o.percent}%`;
      b.querySelector(".pct").textContent = `${Math.round(o.percent)}%`;
      b.setAttribute("aria-label", `${o.text}: ${o.votes} votes, ${o.percent}%`);
    });
    const status = li.querySelector(".status");
    status.textContent = `${status.textContent} · ${stats.total} vote${stats.total === 1 ? "" : "s"}`;
  }

  function remove(li) {
    li.classList.add("leaving");
    setTimeout(() => {
      li.remove();
      if (!$("feed").children.length && $("more").hidden) $("empty").hidden = false;
    }, 250);
  }

  async function skip(li, poll) {
    lock(li, true);
    try {
      await api("POST", `/api/polls/${poll.id}/skip`);
      remove(li);
    } catch (err) {
      lock(li, false);
      if (err.status === 409) remove(li);
      toast(err.message);
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
    $("create-error").textContent = "";
    try {
      const poll = await api("POST", "/api/polls", body);
      f.reset();
      $("create").open = false;
      $("feed").prepend(card(poll));
      $("empty").hidden = true;
      toast("Poll published");
    } catch (err) {
      $("create-error").textContent = err.message;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("tab-login").addEventListener("click", () => setMode("login"));
    $("tab-register").addEventListener("click", () => setMode("register"));
    $("auth-form").addEventListener("submit", onAuth);
    $("sign-out").addEventListener("click", () => { save(null); show(); });
    $("filters").addEventListener("submit", applyFilters);
    $("create-form").addEventListener("submit", onCreate);
    $("more").addEventListener("click", more);
    show();
  });
})();
