"""Election-night tallies (seed 001): elections, ballot-box reports applied exactly once,
live national and per-city totals, corrections, audit and recount.

Layout: controllers (HTTP) → service (rules, the apply step) → repository (collections).
`worker.py` finishes reports left pending; `faults.py` is the crash-point hook;
`recount.py` rebuilds every total from the stored reports.
"""
