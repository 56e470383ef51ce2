// Host console: the event's language (PUT /api/events/{id}/language). The attendee, screen,
// juror and ticket pages speak it whatever each browser prefers; a link's ?lang= (the
// "Language of these links" control, host.js) still wins.
"use strict";

(function () {
  const { $, api, announce, ApiError } = LV;
  const eventId = LV.data().event_id;
  const select = $("#event-lang");
  if (!select) return;
  let saved = select.value;

  select.addEventListener("change", async () => {
    $("#error").textContent = "";
    const language = select.value || null;
    select.disabled = true;
    try {
      const event = await api(`/api/events/${eventId}/language`, {
        method: "PUT",
        auth: true,
        body: { language },
      });
      saved = event.language || "";
      announce(
        saved
          ? `The event's pages now speak ${select.selectedOptions[0].textContent}.`
          : "The event's pages follow each browser's language.",
      );
    } catch (err) {
      select.value = saved;
      if (!(err instanceof ApiError && err.status === 401)) $("#error").textContent = err.message;
    } finally {
      select.disabled = false;
      select.focus();
    }
  });
})();
