"""Issue 13, 10k streams per process: the broadcaster's fan-out writes each frame straight to
the connection (the slot's sink) in one synchronous loop, yields to the event loop between
chunks of subscribers, and leaves a client that is behind (transport paused) to its stream's
task. The sink here is `DisconnectSignal` on a real asyncio socket transport with the shape
of uvicorn's httptools request cycle."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from livevote.infra import channels
from livevote.infra.channels import Channel, ChannelKind
from livevote.infra.slots import CLOSING, HEARTBEAT, DisconnectSignal, Message, Subscription


class _Flow:
    def __init__(self) -> None:
        self.write_paused = False

    def resume_reading(self) -> None:
        pass


class _Cycle:
    """The attributes of uvicorn's httptools RequestResponseCycle that the sink reads."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.flow = _Flow()
        self.message_event: object = asyncio.Event()
        self.disconnected = False
        self.response_complete = False
        self.chunked_encoding: bool | None = True

    async def receive(self) -> dict[str, str]:
        return {"type": "http.disconnect"}


class _Peer(asyncio.Protocol):
    def __init__(self) -> None:
        self.data = bytearray()
        self.arrived = asyncio.Event()

    def data_received(self, data: bytes) -> None:
        self.data += data
        self.arrived.set()

    async def read(self, n: int) -> bytes:
        while len(self.data) < n:
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), 2)
        return bytes(self.data)


@pytest.fixture
async def wire() -> AsyncIterator[tuple[_Cycle, _Peer]]:
    """A connected socket pair: the server side's transport in a cycle, the client's reader."""
    loop = asyncio.get_running_loop()
    peer = _Peer()
    server = await loop.create_server(lambda: peer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
    try:
        yield _Cycle(transport), peer
    finally:
        transport.close()
        server.close()


def _attached(cycle: _Cycle) -> tuple[Subscription, DisconnectSignal]:
    sub = Subscription("event:1")
    signal = DisconnectSignal.install(cycle.receive, sub)
    assert signal is not None and signal.writable()
    sub.sink = signal
    return sub, signal


async def test_a_frame_goes_to_the_connection_without_waking_the_stream(
    wire: tuple[_Cycle, _Peer],
) -> None:
    cycle, peer = wire
    sub, _signal = _attached(cycle)
    ready = sub.ready()
    first, second = Message("event:1", 1, b"id: 1\n\n"), Message("event:1", 2, b"id: 2\n\n")
    sub.offer(first)
    sub.offer(second, 123.0)
    sub.offer(HEARTBEAT, 124.0)
    expected = b"7\r\nid: 1\n\n\r\n7\r\nid: 2\n\n\r\ne\r\n: keep-alive\n\n\r\n"  # HTTP chunks
    assert await peer.read(len(expected)) == expected
    assert not ready.done() and sub.take() is None  # the stream's task was not involved
    assert sub.quiet_since == 124.0


async def test_a_paused_transport_leaves_the_newest_frame_to_the_stream_task(
    wire: tuple[_Cycle, _Peer],
) -> None:
    cycle, peer = wire
    sub, signal = _attached(cycle)
    cycle.flow.write_paused = True  # the transport passed its high-water mark
    ready = sub.ready()
    sub.offer(Message("event:1", 1, b"old"))
    sub.offer(Message("event:1", 2, b"new"))
    assert ready.done() and sub.sink is None  # the task writes through uvicorn's send
    taken = sub.take()
    assert taken is not None and taken.frame == b"new" and sub.take() is None
    await asyncio.sleep(0.05)
    assert peer.data == b""
    cycle.flow.write_paused = False
    assert signal.writable()  # the task re-attaches the sink once its slot is empty


async def test_a_final_message_detaches_the_sink_and_sticks(wire: tuple[_Cycle, _Peer]) -> None:
    cycle, peer = wire
    sub, signal = _attached(cycle)
    sub.offer(CLOSING)
    sub.offer(Message("event:1", 3, b"late"))
    assert sub.sink is None and sub.take() is CLOSING and sub.take() is None
    cycle.disconnected = True
    assert not signal.writable() and not signal.write(Message("event:1", 4, b"x"))
    signal.uninstall()
    await asyncio.sleep(0.05)
    assert peer.data == b""


async def test_no_direct_writes_without_a_chunked_open_response(
    wire: tuple[_Cycle, _Peer],
) -> None:
    cycle, _peer = wire
    sub = Subscription("event:1")
    signal = DisconnectSignal.install(cycle.receive, sub)
    assert signal is not None
    cycle.chunked_encoding = None  # HEAD, or a response without chunked framing
    assert not signal.writable()
    cycle.chunked_encoding = True
    cycle.transport.close()
    assert not signal.writable() and not signal.write(Message("event:1", 1, b"x"))


class _Recorder:
    """A sink recording the order of writes over all subscribers."""

    def __init__(self, log: list[int], n: int) -> None:
        self.log, self.n = log, n

    def write(self, message: Message) -> bool:
        self.log.append(self.n)
        return True


async def _builder(_key: str) -> Any:
    return {}


async def test_the_fan_out_yields_to_the_loop_between_chunks() -> None:
    channel = Channel("event:1", ChannelKind("event:", _builder))
    written: list[int] = []
    n = 3 * channels.FANOUT_CHUNK + 1
    subs = []
    for i in range(n):
        sub = Subscription("event:1")
        sub.sink = _Recorder(written, i)
        channel.subscribers.add(sub)
        subs.append(sub)
    seen_by_others: list[int] = []

    async def other_request() -> None:  # a vote's answer, say
        while len(seen_by_others) < 10 and len(written) < n:
            seen_by_others.append(len(written))
            await asyncio.sleep(0)

    other = asyncio.create_task(other_request())
    await asyncio.sleep(0)
    await channel.fan_out(Message("event:1", 1, b"f"), lambda: False)
    await other
    assert sorted(written) == list(range(n))  # each subscriber exactly once
    assert all(sub.take() is None for sub in subs)  # written, never queued
    # the other task ran between the chunks, not only before or after the whole fan-out
    assert any(0 < k < n for k in seen_by_others), seen_by_others


async def test_updates_during_a_fan_out_coalesce_into_one_build(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(channels, "FANOUT_CHUNK", 10)  # 25 chunks: 24 yields per fan-out
    builds: list[int] = []

    async def build(_key: str) -> Any:
        builds.append(len(builds))
        return {"n": len(builds)}

    channel = Channel("event:1", ChannelKind("event:", build))
    written: list[int] = []
    for i in range(250):
        sub = Subscription("event:1")
        sub.sink = _Recorder(written, i)
        channel.subscribers.add(sub)

    async def votes() -> None:  # 20 updates land while the first fan-out runs
        for _ in range(10_000):  # until the first fan-out began
            if written:
                break
            await asyncio.sleep(0)
        for _ in range(20):
            channel.dirty.set()
            await asyncio.sleep(0)

    voter = asyncio.create_task(votes())
    channel.dirty.set()
    pump = asyncio.create_task(channel.pump(0.0, lambda _key: len(builds), lambda: False))
    await voter
    for _ in range(50):
        await asyncio.sleep(0.01)
    pump.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pump
    assert len(builds) == 2, builds  # the first state, then ONE with all 20 updates
    assert channel.latest is not None and channel.latest.frame.endswith(
        b'{"n":%d}\n\n' % len(builds)
    )
