"""Tests for the wire's pings (L{logship.wire.protocol}, step 8): a silent
peer is dropped, a live one never is."""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from logship.wire.messages import Ack, Batch, Ping, Pong
from logship.wire.protocol import PING_INTERVAL, PING_TIMEOUT, buck_factory
from tests.wire.common import (
    KEY,
    RecordingHandler,
    client_factory,
    connect_pair,
    events,
    server_factory,
)


class PingTests(SynchronousTestCase):
    """
    A client pinging after 15 s of silence, dropping its peer 15 s later;
    a buck-like server that answers (and does not ping itself).
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.server_handler = RecordingHandler()
        self.server = server_factory(self.clock, self.server_handler)
        self.handler = RecordingHandler()
        self.client = client_factory(
            self.clock, self.handler, ping_interval=15.0, ping_timeout=15.0
        )
        self.pair = connect_pair(self.server, self.client, self.clock)
        self.addCleanup(self.close)

    def close(self) -> None:
        self.pair.client_transport.loseConnection()
        self.pair.flush()
        self.clock.advance(10)  # a closing connection's abort timer
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def advance(self, seconds: float, flush: bool = True) -> None:
        self.clock.advance(seconds)
        if flush:
            self.pair.flush()

    def test_idle_peer_answers(self) -> None:
        """
        An idle connection is pinged every 15 s of silence, answered, and
        stays up; pings and pongs never reach the handlers.
        """
        for _ in range(20):
            self.advance(5)
        self.assertFalse(self.pair.lost)
        self.assertEqual(self.client.stats.rejected, {})
        pings = self.client.stats.messages_sent
        self.assertGreaterEqual(pings, 6)
        self.assertEqual(self.server.stats.messages_sent, pings, "a pong for each ping")
        self.assertEqual(self.handler.messages, [])
        self.assertEqual(self.server_handler.messages, [])

    def test_busy_connection_never_pings(self) -> None:
        """
        Messages from the peer (acks) are enough: no ping is sent.
        """
        [peer] = self.handler.connected_peers
        for batch_id in range(10):
            peer.send(Batch(batch_id, "ack2", events(1)))
            self.advance(10)
        self.assertEqual(self.client.stats.messages_sent, 10)
        self.assertEqual([m for _, m in self.handler.messages], [Ack(i, 1) for i in range(10)])

    def test_silent_peer_is_dropped(self) -> None:
        """
        A peer that stops answering (a dead host, a hung process) is
        dropped 15 s after the ping: rejected as peer-timeout, aborted,
        the handler told at once.
        """
        self.pair.server.dataReceived = lambda data: None  # type: ignore[method-assign]
        self.advance(15)
        self.assertEqual(self.client.stats.messages_sent, 1, "the ping")
        self.advance(14.9)
        self.assertEqual(self.handler.disconnections, [])
        self.advance(0.1)
        [(_, reason)] = self.handler.disconnections
        self.assertEqual(reason.code, "peer-timeout")
        self.assertEqual(self.client.stats.rejected, {"peer-timeout": 1})

    def test_stalled_process_reads_before_judging(self) -> None:
        """
        A check that runs late (this process was stalled past the timeout)
        reads the input that waited first: the pong counts.
        """
        self.advance(15, flush=False)  # the ping is sent
        self.pair.pump.pump()  # it reaches the server; its pong waits
        self.clock.advance(30)  # the check due at 30 s runs at 45 s
        self.pair.flush()  # the pong is read
        self.clock.advance(1)
        self.assertEqual(self.handler.disconnections, [])
        self.assertFalse(self.pair.lost)

    def test_defaults(self) -> None:
        """
        Connections to bucks ping (a dead buck is noticed within 30 s);
        other factories do not unless told.
        """
        factory = buck_factory(
            key=KEY, node="web-1", role="tailer", handler=RecordingHandler(), clock=Clock()
        )
        self.assertEqual(
            (factory.settings.ping_interval, factory.settings.ping_timeout),
            (PING_INTERVAL, PING_TIMEOUT),
        )
        self.assertLessEqual(PING_INTERVAL + PING_TIMEOUT, 30.0)
        self.assertIsNone(self.server.settings.ping_interval)
        self.assertEqual((Ping().TYPE, Pong().TYPE), ("ping", "pong"))
