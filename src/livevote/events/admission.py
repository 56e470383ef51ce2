"""Admission: who may become an attendee, and how many times (DESIGN.md "One person, one vote").

Two modes, chosen at creation (`admission`) or by the host before voting first opens
(`PUT /api/events/{id}/admission`; 409 `admission-locked` after):

- `open` (the default): anyone with the code joins. A join that carries a valid credential
  of this event (the Bearer token, or the per-event join cookie, see controllers.join) gets
  the SAME attendee back with a fresh credential (200), never a new one. New attendees per
  client address per event are limited (`limits.joins_per_address_per_minute`, a sliding
  window in Redis shared by all workers) → 429 `join-rate`. Open mode cannot stop a
  determined person with many devices and addresses; it stops the private-window refill.
- `tickets`: a join needs a single-use ticket the host printed. The first claim of a ticket
  creates its attendee (201); every later claim (a new phone, a reload) answers the SAME
  attendee with a fresh credential (200). The binding is one check-and-set on the ticket
  document (fairness_repository.claim_ticket): of 50 racing claims one wins and the others
  read its attendee. So one ticket is one voter, and one voter votes once per team (the
  unique index of votes.py).

Tickets: 16 characters from the join-code alphabet (no 0/O, 1/I/L), 31^16 ≈ 2^79 values,
shown as four groups of four; typed in any case, with or without dashes. Only
sha-256(event id, ticket) is stored, so a stolen database holds no usable ticket and a ticket
of another event never matches. At most MAX_TICKETS_PER_CALL per request and
MAX_TICKETS_PER_EVENT per event (a reservation on the event document, made before the
tickets are written).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from bson import ObjectId

from livevote.errors import Conflict, Forbidden, RateLimited, ValidationFailed
from livevote.events import joins
from livevote.events.fairness_repository import FairnessRepository
from livevote.events.repository import EventRepository
from livevote.events.votes import new_batch_id
from livevote.infra import metrics
from livevote.infra.auth import Principal
from livevote.infra.mongo import Doc

TICKET_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # the join codes' unambiguous characters
TICKET_LENGTH = 16  # 31^16 ≈ 2^79: far beyond guessing, even at a million tries a second
MAX_TICKETS_PER_CALL = 5000
MAX_TICKETS_PER_EVENT = 20_000
MODES = ("open", "tickets")


def mode_of(event: Doc) -> str:
    """The event's admission mode (events created before modes existed are open)."""
    return str(event.get("admission") or "open")


def new_ticket() -> str:
    raw = "".join(secrets.choice(TICKET_ALPHABET) for _ in range(TICKET_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, TICKET_LENGTH, 4))


def normalise_ticket(text: str) -> str | None:
    """The ticket's 16 characters, or None when `text` cannot be a ticket."""
    raw = "".join(ch for ch in text.upper() if ch not in "- ")
    if len(raw) != TICKET_LENGTH or any(ch not in TICKET_ALPHABET for ch in raw):
        return None
    return raw


def ticket_hash(event_id: str, ticket: str) -> str:
    return hashlib.sha256(f"livevote-ticket:{event_id}:{ticket}".encode()).hexdigest()


def address_hash(secret: str, event_id: str, address: str) -> str:
    """A keyed hash of a client address, different per event: the integrity report can group
    joins by address without the database ever holding the address."""
    mac = hmac.new(secret.encode(), f"addr:{event_id}:{address}".encode(), hashlib.sha256)
    return mac.hexdigest()[:16]


@dataclass(frozen=True)
class Caller:
    """Who is joining, as the controller sees the request.

    `credential(event_id)`: the caller's valid attendee credential for that event, if any;
    `allow_new(event_id)`: the join-rate gate, None when a new attendee is allowed, else the
    seconds to wait."""

    address: str
    secret: str
    credential: Callable[[str], Principal | None]
    allow_new: Callable[[str], Awaitable[int | None]]


# Stores and counts a new attendee (name, fields) of an event: EventService's group-committed
# join batches (joins.admit); returns the attendee id.
StoreAttendee = Callable[[str, str | None, Doc], Awaitable[str]]


@dataclass(frozen=True)
class Joined:
    event: Doc
    attendee_id: str
    created: bool  # 201 for a new attendee, 200 for the same attendee again
    name: str | None


async def admit(
    repo: EventRepository,
    fair: FairnessRepository,
    event: Doc,
    *,
    name: str | None,
    ticket: str | None,
    caller: Caller,
    now: datetime,
    store: StoreAttendee,
) -> Joined:
    """Admit the caller to `event` under its mode (see the module docstring)."""
    event_id = str(event["_id"])
    addr = address_hash(caller.secret, event_id, caller.address)
    if mode_of(event) == "tickets":
        return await _claim(repo, fair, event, name=name, ticket=ticket, addr=addr, now=now)
    returning = caller.credential(event_id)
    if returning is not None:
        known = await fair.attendee(event_id, returning.subject)
        if known is not None:
            metrics.business("event_join", "returning")
            return Joined(event, returning.subject, False, known.get("name"))
    retry_after = await caller.allow_new(event_id)
    if retry_after is not None:
        metrics.business("event_join", "join_rate")
        raise RateLimited(
            "too many new attendees from this address for this event; "
            f"retry in {retry_after}s (this phone keeps its place once joined)",
            retry_after=retry_after,
            type="join-rate",
        )
    attendee_id = await store(event_id, name, {"addr": addr})
    metrics.business("event_join")
    return Joined(event, attendee_id, True, name)


def _invalid() -> Forbidden:
    return Forbidden("this ticket is not valid for this event", type="ticket-invalid")


async def _claim(
    repo: EventRepository,
    fair: FairnessRepository,
    event: Doc,
    *,
    name: str | None,
    ticket: str | None,
    addr: str,
    now: datetime,
) -> Joined:
    event_id = str(event["_id"])
    if not ticket:
        raise Forbidden("this event admits voters with a ticket only", type="ticket-required")
    raw = normalise_ticket(ticket)
    if raw is None:
        raise _invalid()
    key = ticket_hash(event_id, raw)
    doc = await fair.ticket(event_id, key)
    if doc is None or doc.get("revoked"):
        metrics.business("event_join", "ticket_invalid")
        raise _invalid()
    created = False
    attendee_id = str(doc.get("attendee_id") or "")
    if not attendee_id:
        candidate = str(ObjectId())
        created = await fair.claim_ticket(event_id, key, candidate, now)
        if created:
            attendee_id = candidate
        else:  # another claim won the race (or the ticket was revoked meanwhile)
            doc = await fair.ticket(event_id, key)
            if doc is None or doc.get("revoked") or not doc.get("attendee_id"):
                raise _invalid()
            attendee_id = str(doc["attendee_id"])
    known = await fair.attendee(event_id, attendee_id)
    if known is None:
        # The winner stores its attendee right after the claim; a later claim finishes that
        # if the winner died in between: the attendee's unique `_id` lets one store win, and
        # only the store that wrote it counts it (a join batch of its own, joins.py).
        batch = new_batch_id()
        fields = {"addr": addr, "ticket": True}
        if await fair.insert_attendee(event_id, attendee_id, batch, name, now, fields):
            await joins.count_attendees(repo, event_id, batch, 1)
    metrics.business("event_join", "ticket_claimed" if created else "ticket_returning")
    shown = name if known is None else known.get("name")
    return Joined(event, attendee_id, created, shown)


async def issue_tickets(
    fair: FairnessRepository, event: Doc, count: int, now: datetime
) -> list[str]:
    """Issue `count` new tickets (1..MAX_TICKETS_PER_CALL) and return them: the only time
    they exist in clear."""
    if not 1 <= count <= MAX_TICKETS_PER_CALL:
        raise ValidationFailed(f"count must be between 1 and {MAX_TICKETS_PER_CALL}")
    event_id = str(event["_id"])
    if event.get("status") == "ended":
        raise Conflict("the event has ended", type="event-ended")
    if not await fair.reserve_tickets(event_id, count, MAX_TICKETS_PER_EVENT):
        if await fair.has_ended(event_id):
            raise Conflict("the event has ended", type="event-ended")
        raise Conflict(f"an event has at most {MAX_TICKETS_PER_EVENT} tickets", type="ticket-cap")
    tickets = [new_ticket() for _ in range(count)]
    try:
        await fair.insert_tickets(
            event_id, [ticket_hash(event_id, normalise_ticket(t) or "") for t in tickets], now
        )
    except BaseException:
        await fair.release_tickets(event_id, count)
        raise
    metrics.business("tickets_issue")
    return tickets


async def revoke_tickets(fair: FairnessRepository, event: Doc, tickets: list[str]) -> int:
    event_id = str(event["_id"])
    hashes = [ticket_hash(event_id, raw) for t in tickets if (raw := normalise_ticket(t))]
    return await fair.revoke_tickets(event_id, hashes) if hashes else 0


async def set_mode(fair: FairnessRepository, event: Doc, mode: str, now: datetime) -> Doc:
    if mode not in MODES:
        raise ValidationFailed(f"admission must be one of {', '.join(MODES)}")
    updated = await fair.set_admission(str(event["_id"]), mode, now)
    if updated is None:
        if event.get("status") == "ended":
            raise Conflict("the event has ended", type="event-ended")
        raise Conflict(
            "the admission mode is fixed once voting has opened", type="admission-locked"
        )
    return updated
