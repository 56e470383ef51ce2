// livevote — shared helpers for every page (base.html loads this file before the page's own
// script, which finds them on window.LV): DOM building, API calls that understand
// problem+json, the one sign-in, a live state stream that reconnects on its own, an aria-live
// announcer. No dependencies, no bundler.
"use strict";

(function () {
  const LV = (window.LV = {});

  LV.data = function () {
    const el = document.getElementById("lv-data");
    return el ? JSON.parse(el.textContent || "{}") : {};
  };

  LV.$ = (selector, root) => (root || document).querySelector(selector);

  // ---------- languages ----------
  // The page's translations come in a JSON island (web/i18n.py js_catalogue): exactly the
  // msgids that this file and the page's script pass to LV.t / LV.tn. English pages carry
  // none: the msgids are English. Placeholders look like {name}; numbers in them are
  // formatted for the page's language.
  // The island follows this file in the page: read it on first use.
  let catalogue = null;
  function messages() {
    if (catalogue === null) {
      const el = document.getElementById("lv-i18n");
      try {
        catalogue = (el && JSON.parse(el.textContent || "{}").messages) || {};
      } catch (err) {
        catalogue = {};
      }
    }
    return catalogue;
  }
  LV.lang = document.documentElement.lang || "en";
  const pluralRules = new Intl.PluralRules(LV.lang);
  const numberFormats = new Map();

  // A number for this page's language (digits: fixed decimals, e.g. 1 -> "4,0" in French).
  LV.num = function (value, digits) {
    const key = digits === undefined ? "" : String(digits);
    if (!numberFormats.has(key)) {
      const options = digits === undefined ? {} : { minimumFractionDigits: digits, maximumFractionDigits: digits };
      numberFormats.set(key, new Intl.NumberFormat(LV.lang, options));
    }
    return numberFormats.get(key).format(value);
  };

  function fill(text, vars) {
    if (!vars) return text;
    return text.replace(/\{(\w+)\}/g, (whole, name) => {
      if (!(name in vars)) return whole;
      const value = vars[name];
      return typeof value === "number" ? LV.num(value) : String(value);
    });
  }

  LV.t = function (msgid, vars) {
    const text = messages()[msgid];
    return fill(typeof text === "string" ? text : msgid, vars);
  };

  // Plural forms: the catalogue's list, picked by the language's plural rule ({n} is n).
  LV.tn = function (singular, plural, n, vars) {
    const found = messages()[singular];
    const forms = Array.isArray(found) ? found : [singular, plural];
    const index = pluralRules.select(n) === "one" ? 0 : 1;
    return fill(forms[Math.min(index, forms.length - 1)], { n, ...(vars || {}) });
  };

  // A date and time for this page's language.
  LV.date = (value, options) =>
    new Intl.DateTimeFormat(LV.lang, options || { dateStyle: "medium", timeStyle: "short" }).format(new Date(value));

  // Build DOM without innerHTML so that names typed by users are never parsed as markup.
  LV.h = function (tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") el.className = value;
      else if (key === "text") el.textContent = value;
      else if (key === "style") el.setAttribute("style", value);
      else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
      else if (key === "dataset") Object.assign(el.dataset, value);
      else el.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  };

  // Messages announced in the same moment (a stage change and voting opening) are read
  // together, in order, rather than the last one replacing the others.
  let announceTimer = null;
  let pending = [];
  LV.announce = function (message) {
    const el = document.getElementById("announcer");
    if (!el || !message) return;
    pending.push(message);
    el.textContent = "";
    clearTimeout(announceTimer);
    // A short gap makes screen readers re-read an identical message.
    announceTimer = setTimeout(() => {
      el.textContent = pending.join(" ");
      pending = [];
    }, 60);
  };

  // The single leader of a result list (rank 1 with votes), or null (no votes, or a tie).
  LV.leader = function (rows) {
    const top = (rows || []).filter((r) => r.rank === 1 && r.votes);
    return top.length === 1 ? top[0] : null;
  };

  class ApiError extends Error {
    constructor(status, problem) {
      super(
        (problem && (problem.detail || problem.title)) ||
          (status ? LV.t("Request failed (HTTP {status})", { status: String(status) }) : LV.t("Request failed")),
      );
      this.status = status;
      this.problem = problem || {};
      this.type = String(this.problem.type || "")
        .split("/")
        .pop();
    }
  }
  LV.ApiError = ApiError;

  // What to tell a person about a failed request, in the page's language: the message for
  // its problem type when the page knows one ({type: LV.t(...)}), else the server's detail,
  // which is English (problem+json details stay English): other languages get it after a
  // translated lead-in.
  LV.problemText = function (err, known) {
    const type = (err && err.type) || "";
    if (known && Object.prototype.hasOwnProperty.call(known, type)) return known[type];
    if (type === "network" || type === "rate-limited") {
      return type === "network" ? err.message : LV.t("Too many requests — wait a moment and try again.");
    }
    if (LV.lang === "en") return err.message;
    return LV.t("Something went wrong: {detail}", { detail: err.message });
  };

  // One sign-in for every page: /host and /feed keep the account's token and profile under
  // the same keys (named for the host console, which had them first, so nobody is signed
  // out). The feed used to keep {token, email, username} under its own key: read it once,
  // when no token is stored yet, then drop it.
  const TOKEN_KEY = "lv:host-token";
  const USER_KEY = "lv:host-user";
  const OLD_FEED_KEY = "lv_feed_session";

  function readJson(key) {
    try {
      return JSON.parse(localStorage.getItem(key) || "null");
    } catch (err) {
      return null;
    }
  }

  LV.token = {
    get: () => localStorage.getItem(TOKEN_KEY),
    set: (value) => localStorage.setItem(TOKEN_KEY, value),
    clear: () => localStorage.removeItem(TOKEN_KEY),
  };

  // The signed-in account ({id, username, email}) for display; null when unknown.
  LV.user = {
    get: () => readJson(USER_KEY),
    set: (value) => localStorage.setItem(USER_KEY, JSON.stringify(value)),
    clear: () => localStorage.removeItem(USER_KEY),
  };

  (function migrateFeedSession() {
    if (localStorage.getItem(OLD_FEED_KEY) === null) return;
    const old = readJson(OLD_FEED_KEY);
    localStorage.removeItem(OLD_FEED_KEY);
    if (LV.token.get() || !old || typeof old.token !== "string") return;
    LV.token.set(old.token);
    LV.user.set({ username: old.username, email: old.email });
  })();

  // fetch() wrapper: JSON in, JSON out; errors become ApiError carrying the problem's detail.
  LV.api = async function (path, options) {
    const { method = "GET", body, auth = false, raw = false } = options || {};
    const headers = { Accept: "application/json, application/problem+json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (auth) {
      const token = LV.token.get();
      if (token) headers.Authorization = "Bearer " + token;
    }
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "same-origin",
        cache: "no-store",
      });
    } catch (err) {
      throw new ApiError(0, {
        type: "network",
        detail: LV.t("Can't reach the server. Check your connection and try again."),
      });
    }
    if (raw && response.ok) return response;
    const type = response.headers.get("content-type") || "";
    let payload = null;
    if (type.includes("json")) {
      try {
        payload = await response.json();
      } catch (err) {
        payload = null;
      }
    }
    if (!response.ok) throw new ApiError(response.status, payload || {});
    return payload;
  };

  // Sign in with email and password: the token is stored for every page, then the profile
  // (cosmetic: a failure to read it leaves the account signed in). Returns the profile.
  LV.signIn = async function (email, password) {
    const out = await LV.api("/api/auth/login", { method: "POST", body: { email, password } });
    LV.token.set(out.access_token);
    LV.user.set({ email });
    return (await LV.loadUser()) || LV.user.get();
  };

  // Read the signed-in account's profile into LV.user (null if it can't be read).
  LV.loadUser = async function () {
    try {
      const me = await LV.api("/api/users/me", { auth: true });
      const user = { id: me.id, username: me.username, email: me.email };
      LV.user.set(user);
      return user;
    } catch (err) {
      return null;
    }
  };

  LV.register = async function (username, email, password) {
    await LV.api("/api/auth/register", { method: "POST", body: { username, email, password } });
    return LV.signIn(email, password);
  };

  LV.signOut = function () {
    LV.token.clear();
    LV.user.clear();
  };

  // Results come as a list of {team_id, name, votes, score_sum, average, rank}; accept the
  // list bare or wrapped ({results: [...]}, {items: [...]}, {teams: [...]}).
  LV.resultList = function (value) {
    if (!value) return null;
    if (Array.isArray(value)) return value;
    for (const key of ["results", "items", "teams"]) {
      if (Array.isArray(value[key])) return value[key];
    }
    return null;
  };

  // A state snapshot is either the flat public view ({id, code, ..., results?}) or
  // {event: {...}, results: ...}: pages always work on the flat form.
  LV.normalizeState = function (raw) {
    if (raw && raw.event && typeof raw.event === "object" && !Array.isArray(raw.event)) {
      const { event, ...rest } = raw;
      return { ...rest, ...event, results: rest.results !== undefined ? rest.results : event.results };
    }
    return raw;
  };

  LV.average = function (row) {
    if (typeof row.average === "number") return row.average;
    return row.votes ? (row.score_sum || 0) / row.votes : 0;
  };

  LV.fmtAvg = (value) => LV.num(Math.round(value * 10) / 10, 1);
  LV.plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

  LV.isEnded = (state) => ["ended", "closed", "finished", "archived"].includes(state && state.status);

  // One live stream per URL, shared by every script of the page: EventSource reconnects by
  // itself after a dropped connection; when the browser gives up (server answered an error
  // while restarting), reconnect with backoff. The event stream carries `state` frames
  // (onState) and `activities` frames (onActivities) on the one connection; each caller
  // names the frames it wants. onStatus("live" | "reconnecting") drives a visible indicator;
  // onReconnect lets a page re-fetch the current state while the stream is down.
  const FRAMES = { state: "onState", activities: "onActivities" };
  const streams = new Map(); // url -> { listeners: Set, close() }

  LV.live = function (url, listener) {
    let shared = streams.get(url);
    if (!shared) {
      shared = open(url);
      streams.set(url, shared);
    }
    shared.listeners.add(listener);
    // A script that subscribes after the stream opened gets the newest frames it wants.
    for (const [callback, state] of shared.last) {
      if (listener[callback]) setTimeout(() => shared.listeners.has(listener) && listener[callback](state), 0);
    }
    return {
      close() {
        shared.listeners.delete(listener);
        if (shared.listeners.size === 0) {
          streams.delete(url);
          shared.close();
        }
      },
    };
  };

  function open(url) {
    const listeners = new Set();
    const last = new Map(); // callback name -> the newest frame of its kind
    let source = null;
    let timer = null;
    let attempt = 0;
    let stopped = false;
    const each = (name, ...args) => {
      for (const l of listeners) if (l[name]) l[name](...args);
    };

    function handler(callback) {
      return (event) => {
        let state;
        try {
          state = LV.normalizeState(JSON.parse(event.data));
        } catch (err) {
          return;
        }
        attempt = 0;
        last.set(callback, state);
        each("onStatus", "live");
        each(callback, state);
      };
    }

    function connect() {
      if (stopped) return;
      source = new EventSource(url, { withCredentials: true });
      source.addEventListener("open", () => {
        attempt = 0;
        each("onStatus", "live");
      });
      for (const [frame, callback] of Object.entries(FRAMES)) source.addEventListener(frame, handler(callback));
      source.addEventListener("error", () => {
        if (stopped) return;
        each("onStatus", "reconnecting");
        if (source.readyState === EventSource.CLOSED) {
          source.close();
          schedule();
        } else {
          each("onReconnect");
        }
      });
    }

    function schedule() {
      clearTimeout(timer);
      const delay = Math.min(10000, 500 * 2 ** attempt) + Math.random() * 400;
      attempt += 1;
      timer = setTimeout(() => {
        each("onReconnect");
        connect();
      }, delay);
    }

    // Connect once the page's scripts ran: each one adds its listener first.
    setTimeout(connect, 0);
    return {
      listeners,
      last,
      close() {
        stopped = true;
        clearTimeout(timer);
        if (source) source.close();
      },
    };
  }

  LV.connIndicator = function (el) {
    return function (status) {
      if (!el) return;
      const live = status === "live";
      el.classList.toggle("live", live);
      el.classList.toggle("down", !live);
      el.dataset.status = status;
      el.querySelector(".label").textContent = live ? LV.t("Live") : LV.t("Reconnecting…");
    };
  };

  // Copy text to the clipboard, with a fallback for plain-http pages.
  LV.copy = async function (text) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch (err) {
      const area = LV.h("textarea", { style: "position:fixed;opacity:0" }, text);
      document.body.append(area);
      area.select();
      const ok = document.execCommand("copy");
      area.remove();
      return ok;
    }
  };
})();
