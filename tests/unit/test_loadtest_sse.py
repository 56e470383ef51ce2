"""The SSE load client's vote-to-screen matching (loadtest/lib/sse.py) on a synthetic
sequence of frames: each vote is matched to the first state that counts it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from loadtest.lib.sse import Stream, match_latencies, state_votes


def state(votes: list[int], event_id: str = "e1") -> bytes:
    """A `state` frame as the server sends it: every result row carries its own `votes` and
    the nested `audience.votes` (the same number)."""
    rows: list[dict[str, Any]] = [
        {
            "team_id": f"t{i}",
            "votes": v,
            "score_sum": 3 * v,
            "average": 3.0,
            "rank": i + 1,
            "audience": {"votes": v, "average": 3.0},
            "jury": {"jurors": 0, "average": 0.0},
            "final": 3.0,
        }
        for i, v in enumerate(votes)
    ]
    data = json.dumps({"id": event_id, "title": "t", "results": rows, "reveal": None})
    return f"event: state\nid: 7\ndata: {data}".encode()


def test_state_votes_counts_each_row_once() -> None:
    assert state_votes(state([2, 3])) == 5
    assert state_votes(b": heartbeat") is None
    assert state_votes(b"retry: 2000") is None
    hidden = b'event: state\ndata: {"id": "e1", "results": null}'
    assert state_votes(hidden) is None


def test_each_vote_matches_the_first_state_that_counts_it() -> None:
    s = Stream()
    s.on_frame(state([0, 0]), now=9.0)  # the snapshot on connect
    assert s.seen_votes == 0
    sent = {1: 10.0, 2: 11.0, 3: 12.0, 4: 13.0}
    s.on_frame(state([1, 0]), now=10.05)
    s.on_frame(b": heartbeat", now=10.5)
    s.on_frame(state([1, 0]), now=10.6)  # a repeat (e.g. a join) adds nothing
    s.on_frame(state([2, 1]), now=12.2)  # votes 2 and 3 coalesced into one state
    latencies, missed = match_latencies(sent, s.arrivals)
    assert latencies == pytest.approx([0.05, 1.2, 0.2])
    assert missed == 1  # vote 4 never shown
    assert all(x >= 0 for x in latencies)


def test_a_state_showing_fewer_votes_does_not_move_arrivals() -> None:
    s = Stream()
    s.on_frame(state([5]), now=0.0)
    s.on_frame(state([6]), now=1.0)
    s.on_frame(state([4]), now=2.0)  # out of order / recount: ignored
    s.on_frame(state([7]), now=3.0)
    assert s.arrivals == {6: 1.0, 7: 3.0}


async def test_the_stream_protocol_parses_frames_split_anywhere() -> None:
    """The raw-socket client parses a chunked SSE body in `data_received`: a response cut into
    pieces at every possible place (head, chunk sizes, frames) gives the same states."""
    from loadtest.lib.sse import _StreamProtocol

    frames = [state([1, 0]), b"event: activities\nid: 8\ndata: {}", state([1, 1])]
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(f) + 2, f + b"\n\n") for f in frames)
    response = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks
    for step in (1, 7, 64, len(response)):
        s = Stream()
        proto = _StreamProtocol(s, b"")
        for i in range(0, len(response), step):
            proto.data_received(response[i : i + step])
        assert (s.frames, s.seen_votes) == (2, 2), step
        assert s.ready.is_set() and not s.error
