// Host console, one person, one vote: the admission mode, ticket counts, the integrity panel
// (shares per hashed address, bursts, flagged attendees, voids) and the ledger digest.
"use strict";

(function () {
  const { h, $, api, announce, ApiError } = LV;
  const data = LV.data();
  const eventId = data.event_id;
  let admission = (data.event && data.event.admission) || "open";

  function showError(message) {
    $("#error").textContent = message || "";
  }

  function failed(err) {
    if (err instanceof ApiError && err.status === 401) return; // host.js signs out
    showError(err.message);
  }

  function renderAdmission() {
    const tickets = admission === "tickets";
    $("#admission-chip").textContent = tickets ? "Tickets" : "Open";
    $("#admission-chip").className = "chip " + (tickets ? "ok" : "muted");
    $("#admission-toggle").textContent = tickets ? "Let anyone join" : "Require tickets";
    $("#admission-note").textContent = tickets
      ? "Only ticket holders vote: one ticket is one voter, on any number of phones."
      : "Anyone with the code joins. A phone that joined stays the same attendee; new attendees per address are rate-limited. Many devices can still vote many times — use tickets when it matters.";
  }

  async function loadTickets() {
    try {
      const c = await api(`/api/events/${eventId}/tickets`, { auth: true });
      $("#tickets-counts").textContent = `${c.issued} tickets issued · ${c.claimed} claimed`;
    } catch (err) {
      /* not signed in as the host: host.js shows the note */
    }
  }

  $("#admission-toggle").addEventListener("click", async () => {
    showError("");
    const next = admission === "tickets" ? "open" : "tickets";
    try {
      const view = await api(`/api/events/${eventId}/admission`, {
        method: "PUT",
        auth: true,
        body: { admission: next },
      });
      admission = view.admission;
      renderAdmission();
      announce(admission === "tickets" ? "Tickets are now required." : "Anyone with the code can join.");
    } catch (err) {
      failed(err);
    }
  });

  function voidButton(f) {
    return h(
      "button",
      {
        class: "btn sm stop",
        type: "button",
        "aria-label": `Void the votes of ${f.name || "attendee " + f.attendee_id.slice(-6)}`,
        onclick: async () => {
          const reason = window.prompt("Why are these votes void? (kept in the audit trail)");
          if (!reason || !reason.trim()) return;
          try {
            const out = await api(`/api/events/${eventId}/attendees/${f.attendee_id}/void`, {
              method: "POST",
              auth: true,
              body: { reason: reason.trim() },
            });
            announce(`Voided: ${out.votes_removed} votes left the results.`);
            loadIntegrity();
          } catch (err) {
            failed(err);
          }
        },
      },
      "Void",
    );
  }

  async function loadIntegrity() {
    let report;
    try {
      report = await api(`/api/events/${eventId}/integrity`, { auth: true });
    } catch (err) {
      return;
    }
    $("#integrity-summary").textContent =
      `${LV.plural(report.attendees, "attendee", "attendees")}, ${LV.plural(report.votes, "vote", "votes")} from ` +
      `${LV.plural(report.address_count, "address", "addresses")}; largest share ${Math.round(report.largest_share * 100)}%.`;
    $("#integrity-addresses").replaceChildren(
      ...report.addresses.map((a) =>
        h("tr", {}, h("td", {}, h("code", {}, a.address)), h("td", { class: "n" }, a.joins), h("td", { class: "n" }, a.votes), h("td", { class: "n" }, `${Math.round(a.share * 100)}%`)),
      ),
    );
    $("#integrity-bursts").replaceChildren(
      ...(report.bursts.length
        ? report.bursts.map((b) => h("li", {}, h("code", {}, b.address), h("span", {}, `${b.joins} joins in ${b.seconds}s, ${b.voters} voted at once (${b.votes} votes)`)))
        : [h("li", { class: "muted" }, "No bursts.")]),
    );
    $("#integrity-flagged").replaceChildren(
      ...(report.flagged.length
        ? report.flagged.map((f) =>
            h(
              "li",
              { dataset: { attendeeId: f.attendee_id } },
              h("span", {}, f.name || "(no name)", " · ", h("code", {}, f.address), ` · ${LV.plural(f.votes, "vote", "votes")}`),
              f.voided ? h("span", { class: "chip muted" }, `Voided: ${f.void_reason || ""}`) : voidButton(f),
            ),
          )
        : [h("li", { class: "muted" }, "Nobody flagged.")]),
    );
  }

  async function loadDigest() {
    try {
      const d = await api(`/api/events/${eventId}/ledger/digest`, { auth: true });
      $("#ledger-digest").textContent = d.short_digest;
      $("#ledger-digest").title = d.digest;
      $("#ledger-count").textContent = LV.plural(d.count, "vote", "votes");
    } catch (err) {
      /* hidden from others, and the host is not signed in */
    }
  }

  $("#ledger-download").addEventListener("click", async () => {
    try {
      const response = await api(`/api/events/${eventId}/ledger`, { auth: true, raw: true });
      const url = URL.createObjectURL(await response.blob());
      const link = h("a", { href: url, download: `livevote-ledger-${data.event.code}.json` });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (err) {
      failed(err);
    }
  });

  function refresh() {
    loadTickets();
    loadIntegrity();
    loadDigest();
  }
  $("#integrity-refresh").addEventListener("click", refresh);
  renderAdmission();
  refresh();
  setInterval(() => {
    if (document.visibilityState === "visible") refresh();
  }, 15000);

  // The panel follows the console's live counts (host.js sends each stream state as
  // `lv:state`): a new attendee or vote re-reads it, at most every 3 s, so it never says
  // "0 attendees" beside "3 joined".
  let counted = "";
  let timer = null;
  let lastRead = 0;
  document.addEventListener("lv:state", (event) => {
    const state = event.detail || {};
    const votes = (LV.resultList(state.results) || []).reduce((n, r) => n + (r.votes || 0), 0);
    const now = `${state.attendees || 0}/${votes}`;
    if (now === counted || timer) return;
    counted = now;
    const wait = Math.max(0, lastRead + 3000 - Date.now());
    timer = setTimeout(() => {
      timer = null;
      lastRead = Date.now();
      loadIntegrity();
    }, wait);
  });
})();
