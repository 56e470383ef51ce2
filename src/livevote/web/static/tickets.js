// The printable sheet of voter tickets (/host/events/{id}/tickets): create tickets with the
// host's token, draw each with its QR code (drawn by the server), its join link and the
// ticket in text; print (12 per A4 page, fairness.css). Tickets are never stored here.
"use strict";

(function () {
  const { h, $, api, t, announce, ApiError } = LV;
  const data = LV.data();
  const eventId = data.event_id;

  function showError(message) {
    $("#error").textContent = message || "";
  }

  function svgNode(markup) {
    // The server's own inline SVG (segno, no xmlns: the HTML parser puts it in the SVG
    // namespace); DOMParser runs no script. Only the <svg> element is taken.
    const svg = new DOMParser().parseFromString(markup, "text/html").querySelector("svg.qr");
    return svg ? document.importNode(svg, true) : h("span", {}, "");
  }

  async function loadCounts() {
    try {
      const c = await api(`/api/events/${eventId}/tickets`, { auth: true });
      const issued = LV.tn("{n} ticket issued", "{n} tickets issued", c.issued);
      $("#ticket-counts").textContent = issued + " · " + LV.tn("{n} claimed", "{n} claimed", c.claimed);
      $("#mode-note").hidden = c.admission === "tickets";
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) $("#auth-note").hidden = false;
    }
  }

  function card(ticket) {
    return h(
      "article",
      { class: "ticket-card", "aria-label": t("Ticket {ticket}", { ticket: ticket.ticket }) },
      svgNode(ticket.qr_svg || ""),
      h("p", { class: "ticket-title" }, data.title),
      h("p", { class: "ticket-hint" }, t("Scan to join and vote")),
      h("p", { class: "ticket-code" }, ticket.ticket),
      h("p", { class: "ticket-url" }, ticket.join_url),
    );
  }

  $("#tickets-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    showError("");
    const count = Number($("#ticket-count").value);
    const button = ev.target.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const out = await api(`/api/events/${eventId}/tickets?qr=true`, {
        method: "POST",
        auth: true,
        body: { count },
      });
      $("#sheet").replaceChildren(...out.tickets.map(card));
      $("#print").disabled = false;
      announce(LV.tn("{n} ticket created. Print it now: it is shown only once.", "{n} tickets created. Print them now: they are shown only once.", out.tickets.length));
      await loadCounts();
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) $("#auth-note").hidden = false;
      showError(err.message);
    } finally {
      button.disabled = false;
    }
  });

  $("#print").addEventListener("click", () => window.print());
  if (!LV.token.get()) $("#auth-note").hidden = false;
  loadCounts();
})();
