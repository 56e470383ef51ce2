"""Election-night tallies: elections, ballot-box reports applied exactly once, live national
and per-city totals, corrections, audit log and recount.

Files:
    controllers.py  /api/elections…: parse -> ElectionService -> answer (views)
    pages.py        /elections/{id}/screen, through the service
    schemas.py      request and response structs (msgspec)
    service.py      ElectionService: the rules, the exactly-once apply step, its crash points
    deps.py         the `elections` dependency (an ElectionService) for controllers and pages
    repository.py   the only Mongo code: named operations, duplicate keys -> domain results
    views.py        documents -> API views (pure): totals = Σ shards, snapshot, recount answer
    keys.py         pure naming helpers: party keys p0.., shard ids, hashes, epoch ms
    recount.py      rebuild totals from reports; `livevote recount elections [--id] [--fix]`
    stream.py       SSE channel election:<id> (the broadcaster watches election_totals)
    worker.py       finishes reports left pending (by a crash, or a crash-point hook)

Rules, and where each lives (file; index in indexes/):
- a report_id is applied once per election; a resend with the same body gets the same
  answer, another body a 409 report-id-reused (service.submit_report;
  election_reports.report_idempotency_key)
- a report is superseded at most once, by a correction of the same box and city, so
  corrections form a chain (service._check_supersedable; election_reports.superseded_once)
- counters and the report's marker move in one single-document write per counter shard:
  no double count whatever crashes or repeats (service.apply_report,
  repository.add_*_report_of_box; shards: election_totals._id, shards_by_city)
- national totals are the sum of the city shards, never a second counter (views.sum_shards)
- one audit entry per (report, party) (repository.add_audit_entries;
  election_audit.one_entry_per_report_party); top cities read it by time (by_time)
- a stored report left pending is finished by the worker after its lease runs out
  (worker.py, repository.claim_pending; election_reports.pending_by_lease)
- only the holder of the reporter key reports; it is stored as a hash
  (service._check_reporter_key; elections)
- only the creator recounts over HTTP; the CLI recount repairs with a check-and-set that a
  report being applied cannot race (recount.py, repository.rewrite_shard)
- report log pages by time and city (repository.list_reports; election_reports.by_time,
  by_city_time); elections by creator (elections.by_creator)

Why the apply step is safe to repeat without transactions: see service.py's docstring.
"""
