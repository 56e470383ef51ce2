"""Poll feed (seed 002): polls with tags, a per-user feed, votes, skips, daily limits, stats.

    controllers.py  HTTP API (/api/polls…): parse → service → view   pages.py  the /feed page
    schemas.py      request/response structs (seed 002's field names)
    service.py      the rules (PollService; `poll_service` is its dependency)
    repository.py   the only code naming collections: polls, poll_responses, poll_batches,
                    daily_votes
    views.py        documents and results → API views (pure)
    recount.py      `livevote recount polls [--id ID] [--fix]`: counters from counted votes;
                    reports votes stored but not counted, `--fix` counts them
    extras:
    counting.py     votes counted exactly once in batches (infra/batchcount.py), and the
                    finishing of a vote a crash left uncounted
    feed.py         the per-user feed walk (keyset batches, dense runs, a scan budget)
    cache.py        Redis caches (feed pages, newest batch, dense runs, stats); never the truth

Rules and where each lives (file, and the index in indexes/ that enforces it):
- A poll has a non-blank title, 2..10 distinct options and 0..10 distinct tags (compared
  case-insensitively; tags stored lower-case): schemas.PollIn, service.create_poll.
- One response per user per poll, a vote or a skip (a second → 409 already-voted /
  already-skipped): service.cast_vote / skip_poll answer the common repeat early; the unique
  index poll_responses.one_response_per_user decides races (repository.store_votes and
  record_skip return the earlier response instead of raising).
- At most `limits.daily_votes` (100) votes per user per UTC day, skips unlimited (over →
  429 daily-vote-limit with Retry-After to midnight UTC): service.cast_vote;
  repository.take_daily_slot is the check-and-set (a filter `count < limit`) on
  daily_votes.one_counter_per_user_day (unique; old days expire by daily_votes.expire_old_days).
  A vote refused after taking its slot gives the slot back, so the count stays exact; a vote
  whose write failed gives it back unless it was stored (service._release_unless_stored),
  and the retry of a stored vote takes none.
- A vote is counted exactly once, at a flat cost: concurrent votes of a poll are written
  together (service.poll_service: one group commit per app, infra/groupcommit.py) by
  counting.VoteCounting.store_and_count: one unordered insert of the responses, each carrying
  its batch id (a duplicate fails alone → its 409), one poll_batches record of the batch's
  increments, one check-and-set on the poll's chain (`last_batch`, `batch_seq`) that `$inc`s
  `votes.<i>` and `total` (infra/batchcount.py). No per-vote data enters the poll document.
  A vote is counted ⟺ its batch is applied. A retry of a stored vote (service:
  `_refuse_second_response` and the duplicate path) and `recount --fix` finish it with
  counting.finish: apply its recorded batch, or void a batch whose record is missing and move
  the vote alone into a new batch (recorded first, then a check-and-set on the vote's
  `batch`). Votes stored before batches existed (no `batch`) were counted by the old `$inc`.
  Proofs: tests/integration/polls/test_exactly_once.py, test_vote_cost.py, and
  tests/integration/reliability/test_known_gaps.py.
- The feed is newest first and never shows a poll the user answered, filtered by tag and by
  title text: feed.py over polls.feed_order (unique key, newest first), polls.feed_by_tag and
  poll_responses.answered_by_user; a cached page is re-checked against MongoDB before use.
  One Redis round trip reads a request's caches; a walk caches the next page by cursor too.
- A `userId` sent by a client must be the caller (else 403 user-mismatch):
  service.check_user_id.
- Stats are votes per option with percentages (views.stats_view), read from the cached
  snapshot (cache.put_stats keeps the newest, by total) or else from MongoDB.
"""
