"""Tests for L{logship.plumbing.graphite}: the plaintext lines, and the pusher on a L{Clock}."""

from __future__ import annotations

import math

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IProtocolFactory, IStreamClientEndpoint
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver, StringTransport
from twisted.logger import globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from logship.plumbing.graphite import GraphitePusher, graphite_lines, path_part
from logship.plumbing.metrics import counter, gauge, new_registry


@implementer(IStreamClientEndpoint)
class FakeEndpoint:
    """
    An endpoint whose connection attempts the test answers.
    """

    def __init__(self) -> None:
        self.attempts: list[tuple[IProtocolFactory, Deferred[Protocol]]] = []

    def connect(self, factory: IProtocolFactory) -> Deferred[Protocol]:
        d: Deferred[Protocol] = Deferred()
        self.attempts.append((factory, d))
        return d

    def accept(self) -> tuple[Protocol, StringTransport]:
        factory, d = self.attempts[-1]
        protocol = factory.buildProtocol(None)
        assert protocol is not None
        transport = StringTransport()
        protocol.makeConnection(transport)
        d.callback(protocol)
        return protocol, transport  # type: ignore[return-value]

    def refuse(self) -> None:
        self.attempts[-1][1].errback(Failure(ConnectionRefusedError("refused")))


class Things:
    def __init__(self) -> None:
        self.count = 0

    def collect(self) -> list:  # type: ignore[type-arg]
        return [
            counter("logship_buck_events_written", "Events.", self.count),
            gauge("logship_buck_level", "Level.", {("a.b c",): 2.5}, ["which"]),
        ]


class LinesTests(SynchronousTestCase):
    def test_lines(self) -> None:
        families = [
            counter("logship_buck_events_written", "Events.", 7),
            gauge("logship_buck_level", "Level.", {("a.b c",): 2.5, ("x",): math.nan}, ["which"]),
        ]
        self.assertEqual(
            graphite_lines(families, "logship.b1", 1700000000).decode().splitlines(),
            [
                "logship.b1.buck_events_written_total 7.0 1700000000",
                "logship.b1.buck_level.which.a_b_c 2.5 1700000000",
            ],
        )

    def test_path_part(self) -> None:
        self.assertEqual(path_part("127.0.0.1:4401"), "127_0_0_1_4401")
        self.assertEqual(path_part(""), "_")


class PusherTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1700000000)
        self.endpoint = FakeEndpoint()
        self.registry = new_registry()
        self.things = Things()
        self.registry.register(self.things)
        self.pusher = GraphitePusher(
            self.registry, self.endpoint, self.clock, prefix="logship.b1.", interval=10
        )
        self.log = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        self.pusher.startService()

    def tearDown(self) -> None:
        self.pusher.stopService()
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def lines(self, transport: StringTransport) -> list[str]:
        return transport.value().decode().splitlines()

    def test_pushes_every_interval(self) -> None:
        _, transport = self.endpoint.accept()
        self.assertEqual(transport.value(), b"")  # the first push waits an interval
        self.things.count = 3
        self.clock.advance(10)
        self.assertIn("logship.b1.buck_events_written_total 3.0 1700000010", self.lines(transport))
        self.assertIn(
            "logship.b1.graphite_pushes_total.result.sent 0.0 1700000010", self.lines(transport)
        )
        transport.clear()
        self.clock.advance(10)
        self.assertIn(
            "logship.b1.graphite_pushes_total.result.sent 1.0 1700000020", self.lines(transport)
        )
        self.assertEqual((self.pusher.sent, self.pusher.skipped), (2, 0))

    def test_down_skips_and_reconnects(self) -> None:
        """
        Graphite refusing: pushes are skipped (said once), nothing queued;
        once it is back (the client retries on the clock), the next push
        goes out with the counters of then.
        """
        self.endpoint.refuse()
        self.clock.advance(10)
        self.clock.advance(10)
        self.assertEqual((self.pusher.sent, self.pusher.skipped), (0, 2))
        warned = [e for e in self.log if "not reachable" in e.get("log_format", "")]
        self.assertEqual(len(warned), 1)
        while len(self.endpoint.attempts) < 2:
            self.clock.advance(1)
        _, transport = self.endpoint.accept()
        self.clock.advance(10)
        self.assertEqual(self.pusher.sent, 1)
        self.assertIn(
            "logship.b1.graphite_pushes_total.result.skipped 2.0", transport.value().decode()
        )

    def test_full_buffer_skips(self) -> None:
        """
        While the transport has paused its producer (graphite does not
        read), pushes are skipped: the buffer does not grow.
        """
        _, transport = self.endpoint.accept()
        self.assertTrue(transport.streaming)
        transport.producer.pauseProducing()
        self.clock.advance(10)
        self.assertEqual(transport.value(), b"")
        transport.producer.resumeProducing()
        self.clock.advance(10)
        self.assertEqual((self.pusher.sent, self.pusher.skipped), (1, 1))
        self.assertNotEqual(transport.value(), b"")

    def test_connection_lost(self) -> None:
        protocol, _ = self.endpoint.accept()
        protocol.connectionLost(Failure(ConnectionResetError("reset")))
        self.clock.advance(10)
        self.assertEqual(self.pusher.skipped, 1)
        while len(self.endpoint.attempts) < 2:
            self.clock.advance(1)
        self.endpoint.accept()
        self.clock.advance(10)
        self.assertEqual(self.pusher.sent, 1)
