"""Pure parts of live events and the broadcaster: ranking, CSV safety, newest-only slots."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import msgspec
from bson import ObjectId

from livevote.events import views
from livevote.infra.broadcaster import Message, Subscription, document_id, encode_frame
from livevote.infra.recount import Difference, RecountReport
from livevote.infra.slots import CLOSING, EXPIRED, GONE, HEARTBEAT, DisconnectSignal


def event(tally: dict[str, tuple[int, int]], **extra: object) -> dict[str, object]:
    return {
        "_id": ObjectId(),
        "code": "ABC234",
        "title": "T",
        "status": "live",
        "max_score": 5,
        "results": "hidden",
        "revealed": False,
        "stage": "b",
        "voting_open": True,
        "voting_team": "b",
        "teams": {k: {"name": k.upper(), "order": i} for i, k in enumerate(tally)},
        "tally": {k: {"votes": v, "score_sum": s} for k, (v, s) in tally.items()},
        **extra,
    }


def test_ranks_break_ties_by_votes_then_share_and_skip() -> None:
    # a and b tie on average (no jury): more audience votes first; b and e tie on everything
    ev = event({"a": (2, 8), "b": (1, 4), "c": (4, 20), "d": (0, 0), "e": (1, 4)})
    rows = {r.team_id: (r.average, r.rank) for r in views.results(ev)}
    assert rows == {"c": (5.0, 1), "a": (4.0, 2), "b": (4.0, 3), "e": (4.0, 3), "d": (0.0, 5)}
    assert [r.team_id for r in views.results(ev)] == ["a", "b", "c", "d", "e"]  # team order


def test_public_view_derives_on_stage_from_the_event_document() -> None:
    view = views.public_view(event({"a": (0, 0), "b": (0, 0)}))
    assert [(t.id, t.on_stage) for t in view.teams] == [("a", False), ("b", True)]
    assert view.results_visibility == "hidden" and view.results_visible is False
    assert views.public_view(event({"a": (0, 0)}, revealed=True)).results_visibility == "revealed"
    closed = views.public_view(event({"a": (0, 0)}, voting_open=False))
    assert closed.voting_team is None and closed.stage == "b"


def test_csv_export_neutralises_formulas_and_hashes_voters() -> None:
    ev = event({"a": (1, 3)})
    ev["teams"] = {"a": {"name": "=HYPERLINK(1)", "order": 0}}
    at = datetime(2026, 1, 1, tzinfo=UTC)
    log = views.export_rows(ev, [{"team_id": "a", "attendee_id": "x1", "score": 3, "at": at}], "k")
    assert log[0]["voter"] == views.voter_hash("k", str(ev["_id"]), "x1") != "x1"
    assert views.voter_hash("k", "e1", "x1") != views.voter_hash("k", "e2", "x1")
    text = views.export_csv(views.results(ev), log)
    assert "'=HYPERLINK(1)" in text and "\n=HYPERLINK" not in text


def test_recount_report_maps_to_the_recount_view_the_api_has_always_answered() -> None:
    report = RecountReport(
        "events",
        "e1",
        consistent=False,
        fixed=True,
        differences=[
            Difference("team a", {"votes": 9, "score_sum": 1}, {"votes": 2, "score_sum": 7}),
            Difference("attendees", {"attendees": 3}, {"attendees": 2}),
            Difference("jury a", {"sheets": 2, "Pitch": 9}, {"sheets": 1, "Pitch": 4}),
        ],
    )
    assert msgspec.to_builtins(views.recount_view(report)) == {
        "event_id": "e1",
        "consistent": False,
        "fixed": True,
        "differences": [
            {
                "team_id": "a",
                "stored_votes": 9,
                "stored_score_sum": 1,
                "counted_votes": 2,
                "counted_score_sum": 7,
            }
        ],
        # the jury's, as `livevote recount events` prints them (the attendee count: CLI only)
        "jury_differences": [
            {
                "team_id": "a",
                "stored_sheets": 2,
                "counted_sheets": 1,
                "stored_sums": {"Pitch": 9},
                "counted_sums": {"Pitch": 4},
            }
        ],
    }


def test_document_id_normalises_nx_and_mongodb_forms() -> None:
    oid = ObjectId()
    assert document_id({"documentKey": {"_id": oid}}) == str(oid)
    nx = {"__neosqlite_objectid__": True, "id": str(oid)}
    assert document_id({"documentKey": {}, "fullDocument": {"_id": nx}}) == str(oid)
    assert document_id({"documentKey": {"_id": "1"}}) == "1"
    assert document_id({}) is None


async def test_subscription_keeps_only_the_newest_message() -> None:
    sub = Subscription("k")
    for i in range(1, 1001):
        sub.offer(Message("k", i, encode_frame("state", i, b"{}")))
    first = await sub.next(timeout=0.1)
    assert first is not None and first.id == 1000
    assert first.frame == b"id: 1000\nevent: state\ndata: {}\n\n"
    assert await sub.next(timeout=0.01) is None  # nothing older is queued
    waiter = asyncio.create_task(sub.next(timeout=5))
    await asyncio.sleep(0)
    sub.offer(Message("k", 1001, b""))
    got = await waiter
    assert got is not None and got.id == 1001


async def test_final_messages_stick_and_the_timer_offers_heartbeats_and_lifetimes() -> None:
    """Issue 13: a slot has no timer of its own; the per-process tick visits it."""
    sub = Subscription("k", lifetime=10.0)
    start = sub.quiet_since
    sub.tick(start + 1.0, heartbeat=2.0)
    assert await sub.next(timeout=0.01) is None  # not quiet for a heartbeat yet
    sub.tick(sub.quiet_since + 2.5, heartbeat=2.0)
    assert await sub.next(timeout=0.01) is HEARTBEAT
    sub.offer(Message("k", 1, b"x"))
    sub.tick(sub.quiet_since + 5.0, heartbeat=2.0)  # a pending snapshot is never replaced
    got = await sub.next(timeout=0.01)
    assert got is not None and got.id == 1
    sub.tick(start + 10.0, heartbeat=2.0)
    sub.offer(Message("k", 2, b"y"))  # a final message sticks
    assert await sub.next(timeout=0.01) is EXPIRED
    for final in (CLOSING, GONE):
        other = Subscription("k")
        waiter = asyncio.create_task(other.next())
        await asyncio.sleep(0)
        other.offer(final)
        other.offer(Message("k", 3, b"z"))
        assert await waiter is final


async def test_one_slot_keeps_the_newest_message_of_each_joined_channel() -> None:
    """A stream multiplexing `event:` and `activities:` frames: one slot, newest per channel,
    in arrival order; a keep-alive gives way to a snapshot; a final message ends it all."""
    sub = Subscription(("event:1", "activities:1"))
    assert sub.key == "event:1" and sub.keys == ("event:1", "activities:1")
    sub.tick(sub.quiet_since + 5.0, heartbeat=2.0)
    for i in range(1, 6):
        sub.offer(Message("event:1", i, b"s%d" % i))
        sub.offer(Message("activities:1", 100 + i, b"a%d" % i))
    got = [await sub.next(timeout=0.01) for _ in range(3)]
    assert [m.frame if m else None for m in got] == [b"s5", b"a5", None]
    sub.offer(Message("activities:1", 200, b"a"))
    sub.offer(Message("event:1", 6, b"s"))
    sub.offer(CLOSING)
    sub.offer(Message("event:1", 7, b"late"))
    assert await sub.next(timeout=0.01) is CLOSING
    assert await sub.next(timeout=0.01) is None


async def test_take_and_ready_wait_on_a_bare_future() -> None:
    sub = Subscription("event:1")
    assert sub.take() is None
    ready = sub.ready()
    assert sub.ready() is ready and not ready.done()
    sub.offer(Message("event:1", 1, b"s1"))
    await asyncio.wait_for(ready, 1)
    taken = sub.take()
    assert taken is not None and taken.frame == b"s1"
    assert sub.take() is None and sub.ready() is not ready  # a resolved future is not reused


class _Flow:
    def __init__(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True


class _Cycle:
    """The shape of uvicorn's request cycle that DisconnectSignal relies on."""

    def __init__(self) -> None:
        self.message_event: object = asyncio.Event()
        self.disconnected = False
        self.flow = _Flow()

    async def receive(self) -> dict[str, str]:
        return {"type": "http.disconnect"}


async def test_a_lost_connection_ends_the_slot_without_a_task() -> None:
    cycle, sub = _Cycle(), Subscription("event:1")
    signal = DisconnectSignal.install(cycle.receive, sub)
    assert signal is not None and cycle.message_event is signal and cycle.flow.reading
    signal.set()  # the request's end or the response's: not a disconnect
    assert sub.take() is None
    cycle.disconnected = True  # uvicorn's connection_lost: the flag, then set()
    signal.set()
    assert sub.take() is GONE
    signal.uninstall()
    assert isinstance(cycle.message_event, asyncio.Event) and cycle.message_event.is_set()


async def test_another_server_gets_the_disconnect_task() -> None:
    async def receive() -> dict[str, str]:
        return {"type": "http.disconnect"}

    assert DisconnectSignal.install(receive, Subscription("event:1")) is None
