"""Election-night tallies: elections, ballot-box reports applied exactly once (one effective
report per box, corrections), live national and per-city totals, reporter keys, time
queries, audit log, recount, and the newsroom console.

Files:
    controllers.py  /api/elections…: elections, reporter keys, report POST and pages, recount
    results.py      the public reads: totals[?at=], cities/top, timeline, reporting-order, stream
    deps.py         the route dependencies: ElectionService, ElectionReads (with the cache)
    pages.py        /elections/{id}/screen and /newsroom[/{id}]
    schemas.py      request and response structs (msgspec)
    service.py      ElectionService: the rules, the exactly-once apply step, its crash points
    batching.py     plain reports of an election written together (group commit `ballot_reports`)
    credentials.py  ReporterKeys: create, list, revoke, check (read per report, never cached)
    reads.py        ElectionReads: public reads, cached; keyset pages; time queries
    cache.py        per-process read cache keyed by the election's change counter (Redis)
    repository.py   Mongo: elections, keys, reports, shards; duplicate keys -> domain results
    queries.py      Mongo, read-only: report pages by keyset, audit by time, reporting order
    views.py        documents -> API views (pure): totals = Σ shards, snapshot, timeline
    keys.py         pure helpers: party keys p0.., shard ids, hashes, colours, cursors
    recount.py      rebuild totals from reports; `livevote recount elections [--id] [--fix]`
    reporter.py     `livevote report`: a ballot box's client, resending one report id
    stream.py       SSE channel election:<id> (the broadcaster watches election_totals)
    worker.py       finishes reports left pending (by a crash, or a crash-point hook)
    demo.py         the demo election mid-count (livevote/demo.py seeds it)

Rules, and where each lives (file; index in indexes/):
- at most settings.elections.max_cities cities and max_boxes boxes in all (422); nothing
  is created per box up front: shards appear with their first report (service.
  create_election; repository.add_first_report_of_box)
- a report_id is applied once per election; a resend with the same body gets the same
  answer, another body a 409 report-id-reused (service.submit_report;
  election_reports.report_idempotency_key)
- one plain report per ballot box: a second is a 409 box-already-reported
  (service._store_plain; election_reports.one_report_per_box)
- a city never counts more boxes than it expects: each plain report takes a city slot
  below ballot_boxes, 409 city-fully-reported (boxes.BoxSlots: slots handed out in blocks
  by a per-city allocator, election_slot_blocks; election_reports.one_box_per_city_slot)
- a report is corrected (`corrects`, older name `supersedes`) at most once, by a report of
  the same box and city, so corrections form a chain; the difference is applied once and
  audited as a correction (service._check_supersedable; election_reports.superseded_once)
- counters and the report's marker move in one single-document write per counter shard:
  no double count whatever crashes or repeats (service.apply_report,
  repository.add_first_report_of_box / replace_report_of_box; shards: election_totals._id)
- concurrent plain reports of an election are written together (deps.provide_elections: one
  `ballot_reports` group commit per app, keyed by the election; batching.ReportBatches):
  one insert_many(ordered=False), one check-and-set per shard that counts and marks every box
  of the batch in it, one audit insert, one mark-applied bulk write; a report refused by an
  index or beyond its city's allocator goes alone (service.store_plain) for its own answer;
  corrections stay one by one
- filters are written with `$eq` (infra.mongo.eq): NX-27017 scans the whole collection for
  a bare `{field: value}` (docs/GROUP_COMMIT.md)
- national totals are the sum of the city shards, never a second counter (views.sum_shards)
- one audit entry per (report, party) (repository.add_audit_entries;
  election_audit.one_entry_per_report_party); totals `at` a time and the timeline sum its
  deltas by time (queries.audit_stream; by_time)
- a stored report left pending is finished by the worker after its lease runs out
  (worker.py, repository.claim_pending; election_reports.pending_by_lease)
- only the holder of a live reporter key reports, a city key only for its city; keys are
  stored as hashes and read per report, so a revocation holds at once in every process
  (credentials.py; election_keys.by_hash)
- public reads are cached under the election's change counter, bumped after each applied
  report (cache.py, reads.py); report pages and the reporting order walk a keyset cursor,
  `page` stops at 10,000 rows deep (queries.py; election_reports.by_time_ms, by_city_time_ms)
- only the creator manages keys and recounts over HTTP; the CLI recount repairs with a
  check-and-set that a report being applied cannot race (recount.py, repository.rewrite_shard)
- elections by creator (elections.by_creator)

Why the apply step is safe to repeat without transactions: see service.py's docstring.
"""
