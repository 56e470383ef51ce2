// Phone page, one person, one vote (loaded before attendee.js, which calls LV.fair):
// - the ticket: typed in the join form, or taken from a scanned ticket link (?ticket=...),
//   then removed from the address bar;
// - receipts: every accepted vote answers one; this phone keeps them (localStorage);
// - "check my vote": finds each receipt's sha-256 in the public ledger.
"use strict";

(function () {
  const { h, $, api, t, ApiError } = LV;
  const data = LV.data();
  const eventId = data.event_id;
  const receiptsKey = `lv:receipts:${eventId}`;
  const params = new URLSearchParams(window.location.search);
  let urlTicket = params.get("ticket");

  function readReceipts() {
    try {
      return JSON.parse(localStorage.getItem(receiptsKey) || "[]");
    } catch (err) {
      return [];
    }
  }

  function renderReceipts() {
    const list = readReceipts();
    $("#check-vote").hidden = list.length === 0;
    $("#receipts").replaceChildren(
      ...list.map((r) =>
        h("li", { dataset: { receipt: r.receipt } }, h("span", {}, `${r.team}: ${r.score}`), h("code", { class: "receipt" }, r.receipt)),
      ),
    );
  }

  // SHA-256 of a string as hex: SubtleCrypto where the page is a secure context, else a
  // small implementation (venues often serve plain http on a local address).
  async function sha256(text) {
    const bytes = new TextEncoder().encode(text);
    if (window.crypto && crypto.subtle) {
      const digest = await crypto.subtle.digest("SHA-256", bytes);
      return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
    }
    return sha256Fallback(bytes);
  }

  function sha256Fallback(bytes) {
    const K = [];
    const H = [];
    let n = 2;
    for (let found = 0; found < 64; n += 1) {
      let prime = true;
      for (let d = 2; d * d <= n; d += 1) if (n % d === 0) prime = false;
      if (!prime) continue;
      if (found < 8) H[found] = (Math.pow(n, 1 / 2) * 2 ** 32) | 0;
      K[found] = (Math.pow(n, 1 / 3) * 2 ** 32) | 0;
      found += 1;
    }
    const len = bytes.length;
    const words = new Uint32Array(((len + 9 + 63) >> 6) << 4);
    for (let i = 0; i < len; i += 1) words[i >> 2] |= bytes[i] << (24 - (i % 4) * 8);
    words[len >> 2] |= 0x80 << (24 - (len % 4) * 8);
    words[words.length - 1] = len * 8;
    const w = new Uint32Array(64);
    const rotr = (x, r) => (x >>> r) | (x << (32 - r));
    for (let block = 0; block < words.length; block += 16) {
      for (let i = 0; i < 64; i += 1) {
        if (i < 16) w[i] = words[block + i];
        else {
          const s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
          const s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
          w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
        }
      }
      let [a, b, c, d, e, f, g, hh] = H;
      for (let i = 0; i < 64; i += 1) {
        const t1 = (hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i]) | 0;
        const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
        hh = g;
        g = f;
        f = e;
        e = (d + t1) | 0;
        d = c;
        c = b;
        b = a;
        a = (t1 + t2) | 0;
      }
      [a, b, c, d, e, f, g, hh].forEach((v, i) => (H[i] = (H[i] + v) | 0));
    }
    return H.map((v) => (v >>> 0).toString(16).padStart(8, "0")).join("");
  }

  async function checkMyVote() {
    const out = $("#check-vote-result");
    out.textContent = t("Looking in the public ledger…");
    let ledger;
    try {
      ledger = await api(`/api/events/${eventId}/ledger`);
    } catch (err) {
      out.textContent =
        err instanceof ApiError && err.status === 403
          ? t("The ledger is published when the results are. Check again after the reveal.")
          : err.message;
      return;
    }
    const bySeq = new Map(ledger.entries.map((e) => [e.receipt_hash, e]));
    let found = 0;
    for (const r of readReceipts()) {
      const entry = bySeq.get(await sha256(r.receipt.replace(/[-\s]/g, "").toUpperCase()));
      const li = document.querySelector(`#receipts li[data-receipt="${r.receipt}"]`);
      if (!li) continue;
      li.querySelector(".found, .not-found")?.remove();
      if (entry) {
        found += 1;
        const at = { seq: String(entry.seq), score: entry.score };
        const text = entry.voided
          ? t("Found: vote #{seq}, score {score} (voided by the host)", at)
          : t("Found: vote #{seq}, score {score}", at);
        li.append(h("span", { class: "found" }, text));
      } else {
        li.append(h("span", { class: "not-found" }, t("Not in the ledger")));
      }
    }
    const total = readReceipts().length;
    out.textContent = LV.tn(
      "{found} of {n} vote found in the ledger (digest {digest}).",
      "{found} of {n} votes found in the ledger (digest {digest}).",
      total,
      { found, digest: ledger.short_digest },
    );
  }

  LV.fair = {
    // The ticket to join with: the form field, else the scanned link's.
    ticket() {
      const input = $("#join-ticket");
      const typed = input && input.value.trim();
      return typed || urlTicket || null;
    },
    // A scanned ticket link joins by itself once (attendee.js asks after restoring).
    pendingTicket() {
      return urlTicket;
    },
    // Joined: the ticket leaves the address bar (and the history), it is a credential.
    joined() {
      if (!urlTicket) return;
      urlTicket = null;
      params.delete("ticket");
      const rest = params.toString();
      window.history.replaceState(null, "", window.location.pathname + (rest ? `?${rest}` : ""));
    },
    keepReceipt(team, score, receipt) {
      if (!receipt) return;
      const list = readReceipts().filter((r) => r.team_id !== team.id);
      list.push({ team_id: team.id, team: team.name, score, receipt });
      try {
        localStorage.setItem(receiptsKey, JSON.stringify(list));
      } catch (err) {
        /* private mode: the receipt was still shown in the answer */
      }
      renderReceipts();
    },
    sha256,
  };

  const field = $("#join-ticket");
  if (field && urlTicket) field.value = urlTicket;
  $("#check-vote-button").addEventListener("click", checkMyVote);
  renderReceipts();
})();
