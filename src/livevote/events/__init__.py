"""Live events: a host runs a pitch night, attendees join by code and score the team on stage.

Files (controller → service → repository → MongoDB, never a hop skipped):
    controllers.py   the JSON API under /api/events: parse, call EventService, answer
    pages.py         the HTML pages (/, /e/{code}, /screen/{code}, /host, /host/events/{id})
    service.py       EventService: the rules (host only, stage, voting window, ending, joining)
    votes.py         casting a vote: admitted once, counted exactly once in a batch, only
                     while its voting window is open; `settle` finishes a stored vote
    joins.py         joining: attendees stored and counted in batches on the same chain
    recount.py       rebuild tallies from the stored votes: `livevote recount events`, and
                     the host's POST /api/events/{id}/recount
    repository.py    the only Mongo code: named operations, duplicate keys as domain results
    schemas.py       msgspec structs in (strict) and out
    views.py         event document → public view, results, recount view, export (pure)
    stream.py        SSE: the channels `event:<id>` / `event:<id>:host` and their state
  The pitch competition (criteria, jury, reveal, report — DESIGN.md "The pitch competition"):
    jury.py          JuryService: criteria, jurors, score sheets, the lock, duplicate
    jury_controllers.py  its API (criteria, jurors, jury, reveal/next, duplicate, report)
                     and the juror page /jury/{id}
    jury_repository.py   jurors, jury_sheets and the jury fields of the event document
    jury_rules.py    pure checks: criteria, complete in-range sheets, the token hash
    jury_schemas.py  its bodies and answers
    jury_recount.py  the jury tally rebuilt from the sheets (part of every events recount)
    standings.py     results: audience + jury → final, rank and the tie-breaks (pure)
    reveal.py        the reveal ceremony, one place at a time, last to first
    report.py        the printable report page (podium, table, SVG chart, criteria)
  One person, one vote (DESIGN.md; kept apart from the vote and join write paths):
    admission.py     admission modes, tickets (issue, claim, revoke), returning credentials,
                     the join rate
    integrity.py     the integrity report (shares per hashed address, bursts) and voids
    ledger.py        receipts, the public ledger, its canonical form and digest, verify
                     (`livevote verify ledger FILE`)
    fairness.py      FairnessService: the host's side over fairness_repository.py
    fairness_repository.py  the Mongo code of the three above (tickets, audit, voids)
    fairness_controllers.py the API: admission, tickets, integrity, void, ledger
    http.py          request helpers: who calls, the host's event (HOST_EVENT: the host
                     routes' dependency), the attendee cookies (one per event for the join
                     endpoint)

Rules and where each lives:
- Only the host changes an event: service.EventService.load_as_host (403), which every host
  route on an event runs as its `event` dependency (http.HOST_EVENT).
- One team on stage, at most: the event document's single `stage` field, switched with the
  voting window closed in one atomic write (repository.switch_stage; why this and not a
  mirror under a unique index: service.py docstring).
- Voting opens only for the team on stage right now: check-and-set on (stage, stage_gen)
  (repository.open_voting).
- One vote per attendee per team: unique index `one_vote_per_attendee_per_team`
  (indexes/event_votes.json); a second vote → 409 already-voted (votes.cast_vote).
- A vote counts only while voting is open for its team, exactly once, at a flat cost:
  votes are counted in batches through infra/batchcount.py, the event document being the
  counter (tallies, `vote_seq`, `attendees`, the chain's `last_batch`/`batch_seq`) and the
  batch records living in `event_batches` (indexes/event_batches.json); a vote names its
  batch (indexes/event_votes.json `event_votes_by_batch`). A vote batch applies only under
  `{voting_open, voting_team: T, voting_gen: G}` (repository.voting_guard); `voting_gen` is
  bumped by every open/close/switch/end in the same write, so a refused batch is refused for
  ever: voided, its votes deleted → 409 voting-closed (votes.py docstring). A retry, or
  `recount --fix`, finishes a stored vote exactly once (votes.settle).
- Concurrent votes and joins of one event are written together (infra/groupcommit.py,
  wired in service.EventService): one insert_many, one batch record, one apply per batch;
  a duplicate fails alone (409 already-voted, after settling the stored vote).
- The attendee count is exact: joins are counted in batches on the same chain (joins.py
  says why); attendees index `attendees_by_batch`.
- Join codes are unique: unique index `event_code_unique` (indexes/events.json); creation
  retries on a collision, a chosen code that is taken → 409 code-taken (service).
- Join codes cannot be enumerated: unknown codes looked up (by-code, join, /e, /screen) spend
  the address's `code_misses_per_address_per_minute`, then 429 `code-lookups` for every
  lookup from it (http.code_lookups over infra/ratelimit.MissBudget); existing codes are free.
- Nothing changes once an event has ended (409 event-ended): every write filters on
  `status != "ended"` (repository).
- Hidden results are for the host only until revealed (403 results-hidden):
  service.EventService.check_results_access, views.results_visible.
- Tallies and the attendee count are rebuildable from the stored facts (those whose batch
  is applied) and a fix never races a vote: recount.py (a correcting batch through the
  chain, guarded by the chain's position). Events stored with the old per-vote
  `counted.<id>` markers keep counting; `livevote recount events --fix` drops the markers.
- Export never leaks attendee ids (views.voter_hash) nor starts a cell with a formula
  (views._cell).
- Criteria change only before anyone scored: check-and-set in jury_repository.set_criteria
  (409 criteria-locked).
- One sheet per juror per team, replaced whole: unique index `one_sheet_per_juror_per_team`
  (indexes/jury_sheets.json), jury_repository.put_sheet.
- No sheet after the lock (409 jury-locked): every slot flagged, the sheet write matches only
  an unflagged slot (jury_repository.lock_slots / put_sheet).
- Juror tokens are stored as SHA-256 hashes only: unique `juror_token_unique`
  (indexes/jurors.json), jury_rules.token_hash.
- Final score and ties: standings.py (final, then jury average, then audience votes, then a
  shared rank).
- One ticket, one attendee: check-and-set on the ticket document
  (fairness_repository.claim_ticket); a later claim answers the same attendee.
- A join with a credential of the event is the same attendee (admission.admit); new
  attendees per address per event are limited in Redis (http.join_caller) → 429 join-rate.
- The admission mode is fixed once voting has opened (`voting_opened`, set by
  repository.open_voting; fairness_repository.set_admission) → 409 admission-locked.
- A voided attendee votes no more and their votes leave the tallies: the event's
  `voided.<id>` flag (votes.cast_vote pre-check; recount._snapshot leaves their votes out,
  the fix's correcting batch takes them off).
- The ledger lists what the tallies hold at one instant (the applied batches up to
  `batch_seq`), in counting order (batch sequence), with no link to a person (ledger.py).
Indexes: indexes/events.json, teams.json, attendees.json, event_votes.json,
event_batches.json, event_tickets.json, event_audit.json, jurors.json, jury_sheets.json.
"""

from livevote.events.http import HOST_EVENT
from livevote.events.service import EventService, provide_events

# The domain's public API for other domains (activities shares attendees and hosts, and the
# host's event as a route dependency): everything else in this package is internal.
__all__ = ["HOST_EVENT", "EventService", "provide_events"]
