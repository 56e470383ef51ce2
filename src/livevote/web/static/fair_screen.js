// Projector screen: the public ledger's short digest and vote count, once results are visible
// (anyone can download the ledger and check it: `livevote verify ledger FILE`).
"use strict";

(function () {
  const { $, api } = LV;
  const eventId = LV.data().event_id;

  async function load() {
    try {
      const d = await api(`/api/events/${eventId}/ledger/digest`);
      $("#ledger-short").textContent = d.short_digest + " · " + LV.tn("{n} vote", "{n} votes", d.count);
      $("#ledger-stat").hidden = false;
    } catch (err) {
      $("#ledger-stat").hidden = true; // hidden results: no ledger yet
    }
  }

  load();
  setInterval(load, 10000);
})();
