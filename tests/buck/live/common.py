"""The live tail's test harness: real Autobahn clients against a L{LiveFactory}, in memory.

Server and client are real Autobahn protocols connected by
C{twisted.test.iosim} pumps, on a L{Clock}; a transport that pauses its
producer when its buffer holds more than a few KiB stands for a slow
client's TCP connection.
"""

from __future__ import annotations

import json
from typing import Any

from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.test import iosim
from twisted.trial.unittest import SynchronousTestCase

from logship.buck.live.factory import ClockTimer, LiveFactory
from logship.buck.pubsub import Channel
from logship.core.event import Event, decode
from tests.buck import make_event


def events(start: int, count: int, *, host: bytes = b"web-1", app: bytes = b"nginx",
           size: int = 20, second: int = 0) -> list[Event]:
    return [
        decode(make_event(i, second=second, host=host, app=app, size=size))
        for i in range(start, start + count)
    ]


class PausingTransport(iosim.FakeTransport):
    """
    An iosim transport with a bounded buffer, like a TCP transport: it
    pauses its streaming producer when more than C{limit} bytes wait, and
    resumes it once they were taken.
    """

    limit = 4096

    def write(self, data: bytes) -> None:
        super().write(data)
        if (
            self.producer is not None
            and self.streamingProducer
            and self.buffered() > self.limit
            and not getattr(self, "_paused", False)
        ):
            self._paused = True
            self.producer.pauseProducing()

    def buffered(self) -> int:
        return sum(len(d) for d in self.stream)

    def getOutBuffer(self) -> bytes:
        data = super().getOutBuffer()
        if getattr(self, "_paused", False) and self.producer is not None:
            self._paused = False
            self.producer.resumeProducing()
        return data


class Client(WebSocketClientProtocol):
    """
    A client that keeps every message and how it was closed.
    """

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[dict[str, Any]] = []
        self.sizes: list[int] = []
        self.opened = False
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.closed = False

    def onOpen(self) -> None:
        self.opened = True

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        assert not isBinary
        self.messages.append(json.loads(payload))
        self.sizes.append(len(payload))

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        self.closed = True
        self.close_code = code
        self.close_reason = reason

    def send_json(self, obj: Any) -> None:
        self.sendMessage(json.dumps(obj).encode(), isBinary=False)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == kind]

    def events(self) -> list[dict[str, Any]]:
        return [e for m in self.of_type("events") for e in m["events"]]


class LiveTestCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.channel = Channel(self.clock)
        self.factory = self.make_factory()
        self.pumps: list[iosim.IOPump] = []
        self.log = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)

    def make_factory(self, **kwargs: Any) -> LiveFactory:
        kwargs.setdefault("node", "buck-1")
        kwargs.setdefault("auto_ping_interval", 0)
        return LiveFactory(self.channel, clock=self.clock, **kwargs)

    def tearDown(self) -> None:
        for pump in self.pumps:
            pump.client.transport.loseConnection()
            pump.flush()
        self.clock.advance(10)
        self.assertEqual(self.channel.subscriptions, [])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def connect(
        self,
        path: str = "/live",
        *,
        factory: LiveFactory | None = None,
        headers: dict[str, str] | None = None,
        transport: type[iosim.FakeTransport] = iosim.FakeTransport,
        address: str = "127.0.0.1",
    ) -> tuple[Client, iosim.IOPump]:
        factory = factory or self.factory
        client_factory = WebSocketClientFactory(
            f"ws://127.0.0.1:4480{path}", reactor=self.clock, headers=headers or {}
        )
        client_factory._batched_timer = ClockTimer(self.clock)
        client_factory.setProtocolOptions(
            openHandshakeTimeout=0, closeHandshakeTimeout=0, serverConnectionDropTimeout=0,
            autoPingInterval=0,
        )
        client_factory.protocol = Client
        peer = IPv4Address("TCP", address, 50000 + len(self.pumps))
        server = factory.buildProtocol(peer)
        client = client_factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 4480))
        server_io = transport(server, isServer=True, peerAddress=peer)
        client_io = iosim.FakeTransport(client, isServer=False)
        pump = iosim.connect(server, server_io, client, client_io, clock=self.clock)
        self.pumps.append(pump)
        assert isinstance(client, Client)
        return client, pump

    def open(self, **filter: Any) -> tuple[Client, iosim.IOPump]:
        """
        A connected client that sent C{filter}.
        """
        client, pump = self.connect()
        self.assertTrue(client.opened)
        client.send_json({"type": "filter", **filter})
        pump.flush()
        return client, pump

    def publish(self, batch: list[Event], pump: iosim.IOPump | None = None,
                advance: float = 0.1) -> None:
        self.channel.publish(batch)
        self.clock.advance(0)
        self.clock.advance(advance)
        for p in [pump] if pump is not None else self.pumps:
            p.flush()
