"""Activities and audience Q&A: polls, word clouds, ratings, open questions, rankings and
quizzes run one at a time during a live event, plus questions from the audience.

Files (controller → service → repository → MongoDB, never a hop skipped):
    controllers.py   the JSON API under /api/events/{id}/activities|activity
    qa_controllers.py  the JSON API under /api/events/{id}/questions|qa
    auth.py          who calls: an attendee, anyone (route dependencies; the host's
                     event is the events domain's HOST_EVENT)
    service.py       ActivityService: host rules, one live activity, answering, results
    kinds.py         the six kinds: definitions, answer checks, counters, word
                     normalisation, quiz points (pure)
    counting.py      an answer's path: group commit → one batch → exactly-once count
    qa.py            QuestionService: asking, upvoting, moderation
    repository.py    the only Mongo code: named operations, duplicate keys as domain results
    schemas.py       msgspec structs in (strict) and out
    views.py         documents → views, results, leaderboard, export (pure)
    stream.py        SSE: the channels `activities:<event id>` / `...:host` and their state,
                     sent as `event: activities` frames on the event's own stream
                     (GET /api/events/{id}/stream), beside its `event: state` frames
    demo.py          the demo event's activities (one of each kind) and questions
    recount.py       `livevote recount activities`: counters rebuilt from the responses
Pages: web/templates/_activities_{attendee,attendee_qa,screen,screen_side,host}.html, included
by the event pages;
web/static/activities.js (shared), activities-phone.js, activities-screen.js,
activities-host.js, activities.css (phone, Q&A), activities-results.css, activities-stage.css
(screen, console).

Rules and where each lives:
- Only the event's host prepares, orders, switches, reveals, moderates and exports: the
  host routes take the event from the events domain's HOST_EVENT dependency
  (EventService.load_as_host, 403).
- One live activity per event: the presence field `live` under the unique index
  `one_live_activity_per_event` (indexes/activities.json), switched by
  service.ActivityService.make_live (reasoning in service.py's docstring).
- One answer per attendee per activity: unique index `one_response_per_attendee`
  (indexes/activity_responses.json) → 409 already-answered (counting.py).
- An answer counts only while its activity is live, exactly once: a batch check-and-set on
  the activity document guarded by `live` + `live_gen` (counting.py, infra/batchcount.py)
  → 409 activity-closed otherwise; a quiz answer after its time limit → 409 activity-closed.
- Answers are checked against their kind before anything is written (kinds.answer → 422):
  options in range, ≤ 3 words, ≤ 280 characters, a full ranking, a rating on the scale.
  Text is stored as typed (markup included) and always shown as text (pages use
  textContent; never innerHTML).
- Open answers reach the screen only once approved (repository.texts; results for
  non-hosts list `approved` only).
- Results are hidden from non-hosts until shown (403 results-hidden); a quiz's correct
  option and the points stay hidden until the host reveals them.
- Quiz points: kinds.score (500 for a right answer + up to 500 for speed); the leaderboard
  sums the revealed questions' points by nickname (the attendee's join name).
- Q&A rules: qa.py docstring (moderation, one upvote each: `one_upvote_per_attendee` in
  indexes/question_votes.json, no upvote of a hidden question).
- Once the event has ended, creating, making live, answering, asking and upvoting are
  refused (409 event-ended, ActivityService.refuse_if_ended, called by the controllers on
  the loaded event); reading, results, exports and closing the live activity still work.
- Every counter is rebuildable: recount.py.
Indexes: indexes/activities.json, activity_responses.json, activity_batches.json,
activity_words.json, questions.json, question_votes.json.
"""
