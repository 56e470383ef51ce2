"""Live events: a host runs a pitch night, attendees join by code and score the team on stage.

Files (controller → service → repository → MongoDB, never a hop skipped):
    controllers.py   the JSON API under /api/events: parse, call EventService, answer
    pages.py         the HTML pages (/, /e/{code}, /screen/{code}, /host, /host/events/{id})
    service.py       EventService: the rules (host only, stage, voting window, ending, joining)
    votes.py         casting a vote: admitted once, counted exactly once, only while open
    recount.py       rebuild tallies from the stored votes: `livevote recount events`, and
                     the host's POST /api/events/{id}/recount
    repository.py    the only Mongo code: named operations, duplicate keys as domain results
    schemas.py       msgspec structs in (strict) and out
    views.py         event document → public view, results, recount view, export (pure)
    stream.py        SSE: the channels `event:<id>` / `event:<id>:host` and their state
  One person, one vote (DESIGN.md; kept apart from the vote and join write paths):
    admission.py     admission modes, tickets (issue, claim, revoke), returning credentials,
                     the join rate
    integrity.py     the integrity report (shares per hashed address, bursts) and voids
    ledger.py        receipts, the public ledger, its canonical form and digest, verify
                     (`livevote verify ledger FILE`)
    fairness.py      FairnessService: the host's side over fairness_repository.py
    fairness_repository.py  the Mongo code of the three above (tickets, audit, voids)
    fairness_controllers.py the API: admission, tickets, integrity, void, ledger
    http.py          request helpers: who calls, the attendee cookies (one per event for
                     the join endpoint)

Rules and where each lives:
- Only the host changes an event: service.EventService.load_as_host (403).
- One team on stage, at most: the event document's single `stage` field, switched with the
  voting window closed in one atomic write (repository.switch_stage; why this and not a
  mirror under a unique index: service.py docstring).
- Voting opens only for the team on stage right now: check-and-set on (stage, stage_gen)
  (repository.open_voting).
- One vote per attendee per team: unique index `one_vote_per_attendee_per_team`
  (indexes/event_votes.json); a second vote → 409 already-voted (votes.cast_vote).
- A vote counts only while voting is open for its team, exactly once: one check-and-set on
  the event document with a per-vote `counted.<id>` marker (repository.count_vote_if_open,
  reasoning in votes.cast_vote); a retry finishes counting a stored vote.
- Join codes are unique: unique index `event_code_unique` (indexes/events.json); creation
  retries on a collision, a chosen code that is taken → 409 code-taken (service).
- Nothing changes once an event has ended (409 event-ended): every write filters on
  `status != "ended"` (repository).
- Hidden results are for the host only until revealed (403 results-hidden):
  service.EventService.check_results_access, views.results_visible.
- Tallies are rebuildable from the votes and a fix never loses a concurrent vote:
  recount.recount_event (guarded by `vote_seq`).
- Export never leaks attendee ids (views.voter_hash) nor starts a cell with a formula
  (views._cell).
- One ticket, one attendee: check-and-set on the ticket document
  (fairness_repository.claim_ticket); a later claim answers the same attendee.
- A join with a credential of the event is the same attendee (admission.admit); new
  attendees per address per event are limited in Redis (http.join_caller) → 429 join-rate.
- The admission mode is fixed once voting has opened (`voting_opened`, set by
  repository.open_voting; fairness_repository.set_admission) → 409 admission-locked.
- A voided attendee votes no more and their votes leave the tallies: the event's
  `voided.<id>` flag (votes.cast_vote pre-check, recount.recount_event exclusion).
- The ledger lists what the tallies hold at one instant, in counting order, with no link to
  a person (ledger.py).
Indexes: indexes/events.json, teams.json, attendees.json, event_votes.json,
event_tickets.json, event_audit.json.
"""
