"""Accounts (seed 002's API): register, login, profile.

    controllers.py  HTTP API (/api/auth/register, /api/auth/login, /api/users/me)
    schemas.py      request/response structs (patterns: infra/validation.py)
    service.py      the rules (below)
    repository.py   the only code naming `users`: add_user -> Doc | Taken, taken, by_email
    views.py        user document -> UserOut (never the password hash)
    lockout.py      login failures per (account, address), reserved atomically in Redis

Rules and where they live:
- an e-mail (stored lower-case) and a username (compared case-insensitively, field
  `username_lower`) belong to one account: unique indexes in indexes/users.json;
  service.register checks first so a duplicate costs no hash; races end in `Taken` (409).
- usernames and e-mails match their patterns as whole strings ("alice\\n" is refused):
  infra/validation.py.
- argon2id hashing runs in a bounded per-process pool (infra/auth.PasswordPool): beyond a
  short wait, 503 + Retry-After.
- per-address limits on registrations and on every login attempt: infra/ratelimit.limit,
  settings limits.register_per_address_per_minute / login_per_address_per_minute.
- a burst of wrong guesses reaches password verification at most
  limits.login_failures_per_account times per (account, address) and window; lockouts back
  off and never lock the owner out from another address: lockout.py.
"""
