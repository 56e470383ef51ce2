"""Election-night tallies (seed 001): elections, ballot-box reports applied exactly once,
live national and per-city totals, corrections, audit and recount.

    controllers.py  HTTP API (/api/elections…)      pages.py    /elections/{id}/screen
    schemas.py      request/response structs        stream.py   SSE channel election:<id>
    service.py      rules + the exactly-once apply  queries.py  totals, snapshot, log, top
    repository.py   the only code naming collections
    worker.py       finishes reports left pending   faults.py   named crash points (hook)
    recount.py      rebuild totals from reports     commands.py `livevote recount elections`

Why the apply step is safe to repeat without transactions: see service.py's docstring.
"""
