"""Tests of the live tail on the real reactor, over real TCP on 127.0.0.1.

Real Autobahn clients against a L{LiveFactory} in this process: 200
WebSockets at once, and a client that stops reading (its TCP transport
stops reading, so the buck's socket buffer and then its transport fill).
Waiting is polling with a deadline (L{wait_until}), never a fixed sleep.
"""

from __future__ import annotations

import json
from typing import Any

import pytest_twisted
from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.internet import reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP4ServerEndpoint
from twisted.internet.interfaces import IListeningPort

from logship.buck.live.factory import LiveFactory
from logship.buck.live.messages import CLOSE_STALLED
from logship.buck.live.stream import MAX_PENDING_BYTES
from logship.buck.pubsub import Channel
from logship.core.event import Event, decode
from tests.buck import make_event
from tests.integration.waiting import wait_until

TIMEOUT = 20.0


class Client(WebSocketClientProtocol):
    """
    Sends its filter on open, keeps what it gets.
    """

    filter: dict[str, Any] = {"type": "filter"}

    def __init__(self) -> None:
        super().__init__()
        self.hello = False
        self.events: list[dict[str, Any]] = []
        self.skipped = 0
        self.closed = False
        self.close_code: int | None = None

    def onOpen(self) -> None:
        self.sendMessage(json.dumps(self.filter).encode(), isBinary=False)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        message = json.loads(payload)
        if message["type"] == "hello":
            self.hello = True
        elif message["type"] == "events":
            self.events.extend(message["events"])
        elif message["type"] == "skipped":
            self.skipped += message["count"]

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        self.closed = True
        self.close_code = code


async def listen(factory: LiveFactory) -> IListeningPort:
    port = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(factory)
    return port


async def connect(port: int, filter: dict[str, Any] | None = None) -> Client:
    factory = WebSocketClientFactory(f"ws://127.0.0.1:{port}/live", reactor=reactor)
    factory.protocol = Client
    if filter is not None:
        factory.protocol = type("FilteredClient", (Client,), {"filter": filter})
    protocol = await TCP4ClientEndpoint(reactor, "127.0.0.1", port).connect(factory)
    assert isinstance(protocol, Client)
    return protocol


def batch(start: int, count: int, size: int = 20) -> list[Event]:
    return [decode(make_event(i, size=size)) for i in range(start, start + count)]


@pytest_twisted.ensureDeferred
async def test_200_websockets() -> None:
    """
    200 WebSockets from one client to one buck (allowed that many from
    one address): every one gets every event; closing them frees every
    subscription.
    """
    channel = Channel(reactor)
    factory = LiveFactory(channel, node="buck-r", clock=reactor, max_per_address=200)
    port = await listen(factory)
    clients: list[Client] = []
    try:
        number = port.getHost().port
        clients = [await connect(number) for _ in range(200)]
        await wait_until(lambda: len(channel.subscriptions) == 200, TIMEOUT)
        assert all(c.hello for c in clients)
        channel.publish(batch(0, 100))
        await wait_until(lambda: all(len(c.events) == 100 for c in clients), TIMEOUT)
        ids = {tuple(e["id"] for e in c.events) for c in clients}
        assert len(ids) == 1 and len(set(next(iter(ids)))) == 100
        assert all(c.skipped == 0 for c in clients)
        assert factory.encoder.encoded == 100
        for client in clients:
            client.sendClose(1000)
        await wait_until(lambda: not channel.subscriptions and not factory.clients, TIMEOUT)
        await wait_until(lambda: all(c.closed for c in clients), TIMEOUT)
    finally:
        for client in clients:
            client.dropConnection(abort=True)
        await port.stopListening()


def buffered(transport: Any) -> int:
    """
    Bytes a Twisted TCP transport holds, not yet written to its socket.
    """
    return len(transport.dataBuffer) - transport.offset + transport._tempDataLen


@pytest_twisted.ensureDeferred
async def test_stalled_client() -> None:
    """
    A client that stops reading: the buck's transport fills and pauses the
    stream, the buck keeps publishing and its memory for that client stays
    bounded (subscription bound + one batch), another client still gets
    everything, and after the stall timeout the slow one is closed.
    """
    channel = Channel(reactor)
    factory = LiveFactory(channel, node="buck-r", clock=reactor, stall_timeout=3.0)
    port = await listen(factory)
    number = port.getHost().port
    slow = await connect(number, {"type": "filter", "rate": 5000})
    fast = await connect(number, {"type": "filter", "rate": 5000, "substring": "event 1"})
    try:
        await wait_until(lambda: len(channel.subscriptions) == 2, TIMEOUT)
        slow.transport.pauseProducing()  # stop reading from the socket
        [server] = [c for c in factory.clients if c.client.endswith(str(slow.transport.getHost().port))]
        stream = server.stream
        assert stream is not None
        published = 0
        most = 0

        def publish_until_paused() -> bool:
            # 10,000 events of ~250 bytes a look (far more than a client
            # may take: it is over its rate too)
            nonlocal published, most
            most = max(most, buffered(server.transport))
            subscription = stream.subscription
            if subscription is not None:
                assert subscription.pending_bytes <= MAX_PENDING_BYTES
            if stream.paused and published >= 200_000:
                return True
            channel.publish(batch(published, 10_000, size=200))
            published += 10_000
            return False

        await wait_until(publish_until_paused, TIMEOUT, "the stream paused")
        assert stream.paused
        assert stream.skipped > 0
        # One batch at most beyond the transport's 64 KiB (512 KiB) and
        # what the kernel took.
        assert most <= 64 * 1024 + 600 * 1024, most
        await wait_until(lambda: slow.closed or server.stream.subscription is None, TIMEOUT)
        await wait_until(lambda: len(channel.subscriptions) == 1, TIMEOUT)
        assert fast.events and not fast.closed
        assert all("event 1" in e["message"] for e in fast.events)
        slow.transport.resumeProducing()
        await wait_until(lambda: slow.closed, TIMEOUT)
        assert slow.close_code in (CLOSE_STALLED, 1006)
        await wait_until(lambda: server not in factory.clients, TIMEOUT)
    finally:
        for client in (slow, fast):
            client.dropConnection(abort=True)
        await port.stopListening()
