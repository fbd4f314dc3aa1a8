"""Tests for L{logship.wire.protocol}, over in-memory connections."""

from __future__ import annotations

import random
import struct
import zlib
from collections import Counter
from typing import Any

import msgpack
from twisted.internet.interfaces import IPullProducer
from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver, StringTransport
from twisted.logger import LogLevel, globalLogPublisher
from twisted.test.iosim import FakeTransport, connect
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from logship.wire.framing import MAX_FRAME, encode_frame
from logship.wire.messages import (
    PROTOCOL_VERSION,
    Ack,
    Batch,
    BucketAck,
    BucketPut,
    Error,
    Hello,
    decode_message,
    encode_message,
    prepare_message,
)
from logship.wire.protocol import (
    CLOSE_TIMEOUT,
    FRAME_TIMEOUT,
    HANDSHAKE_TIMEOUT,
    HandshakeFailed,
    IPeerConnection,
    IWireHandler,
    WireServerFactory,
)
from logship.wire.seal import open_handshake, seal_handshake
from tests.wire.common import (
    KEY,
    OTHER_KEY,
    ManualClient,
    Pair,
    RawPeer,
    RecordingHandler,
    address,
    client_factory,
    connect_pair,
    describe,
    events,
    handshake_by_hand,
    server_factory,
    zlib_bomb,
)


class _WireTestCase(SynchronousTestCase):
    """
    A server factory (a buck) with one correct client (a tailer) connected,
    a clock and a log observer.
    """

    server_key: bytes | None = KEY

    def setUp(self) -> None:
        self.clock = Clock()
        self.observer = EventLoggingObserver.createWithCleanup(
            self, globalLogPublisher  # type: ignore[arg-type]  # any TestCase works
        )
        self.server_handler = RecordingHandler()
        self.server = server_factory(
            self.clock, self.server_handler, key=self.server_key
        )
        self.good_handler = RecordingHandler()
        self.good = connect_pair(
            self.server,
            client_factory(self.clock, self.good_handler, key=self.server_key),
            self.clock,
        )
        [self.good_peer] = self.good_handler.connected_peers
        self.next_batch_id = 1
        self.addCleanup(self.assertNoTimers)

    def assertNoTimers(self) -> None:
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def assertGoodClientWorks(self) -> None:
        """
        The correct client delivers a batch and gets its ack.
        """
        batch_id = self.next_batch_id
        self.next_batch_id += 1
        self.assertTrue(self.good_peer.send(Batch(batch_id, "ack2", events(100))))
        self.good.flush()
        self.assertEqual(self.good_handler.messages[-1][1], Ack(batch_id, 100))
        received = self.server_handler.messages_from(self.good.client_address)
        self.assertEqual(received[-1], Batch(batch_id, "ack2", events(100)))
        self.assertFalse(self.good.lost)

    def rejections(self, side: str = "server") -> list[dict[str, Any]]:
        return [
            e
            for e in self.observer
            if e.get("log_format", "").startswith("Rejected") and e.get("side") == side
        ]

    def assertRejected(self, pair: Pair, code: str, detail: str = "") -> dict[str, Any]:
        """
        The server rejected the peer of C{pair} for C{code}: logged with the
        peer's address, counted, closed; the handler got nothing from it;
        the good client still works.
        """
        pair.flush()
        [event] = self.rejections()
        self.assertEqual(event["reason"], code)
        self.assertEqual(event["address"], describe(pair.client_address))
        self.assertEqual(event["log_level"], LogLevel.warn)
        self.assertIn(detail, event["detail"])
        self.assertEqual(self.server.stats.rejected, Counter({code: 1}))
        self.assertEqual(self.server_handler.messages_from(pair.client_address), [])
        self.assertTrue(pair.lost)
        self.assertGoodClientWorks()
        self.assertNewClientWorks()
        return event

    def assertNewClientWorks(self) -> None:
        """
        A correct client connecting now is served.
        """
        handler = RecordingHandler()
        key = self.server_key
        pair = connect_pair(
            self.server, client_factory(self.clock, handler, key=key), self.clock
        )
        [peer] = handler.connected_peers
        peer.send(Batch(999, "ack1", events(3)))
        pair.flush()
        self.assertEqual(handler.messages, [(peer, Ack(999, 3))])
        pair.client_transport.loseConnection()
        pair.flush()


class ExchangeTests(_WireTestCase):
    def test_hellos_batch_ack(self) -> None:
        """
        After the hellos both handlers know their peer; a batch reaches the
        server's handler and its ack comes back.
        """
        [server_peer] = self.server_handler.connected_peers
        verifyObject(IPeerConnection, server_peer)
        self.assertEqual(
            (server_peer.peer_node, server_peer.peer_role), ("web-1", "tailer")
        )
        self.assertEqual(server_peer.address, self.good.client_address)
        self.assertEqual(
            (self.good_peer.peer_node, self.good_peer.peer_role), ("buck-1", "buck")
        )
        self.assertFalse(self.good_peer.insecure)
        batch = Batch(41, "ack2", events(1000))
        self.assertTrue(self.good_peer.send(batch))
        self.good.flush()
        self.assertEqual(self.server_handler.messages, [(server_peer, batch)])
        self.assertEqual(self.good_handler.messages, [(self.good_peer, Ack(41, 1000))])
        self.assertEqual(self.server.stats.handshakes, 1)
        self.assertEqual(self.server.stats.messages_received, 1)
        self.assertEqual(self.server.stats.messages_sent, 1)
        self.assertEqual(self.server.stats.rejected, Counter())
        connected = [
            e for e in self.observer if e.get("log_format", "").startswith("Connected")
        ]
        self.assertEqual({e["peer_node"] for e in connected}, {"web-1", "buck-1"})

    def test_pull_producer(self) -> None:
        """
        A registered producer is asked for one message each time the
        connection's write buffer is empty, until it unregisters; the
        messages arrive in order.
        """
        sent = [Batch(i, "ack2", events(10)) for i in range(1, 6)]
        asked = []
        peer = self.good_peer

        @implementer(IPullProducer)
        class Producer:
            def resumeProducing(self) -> None:
                asked.append(len(asked))
                peer.send(sent[len(asked) - 1])
                if len(asked) == len(sent):
                    peer.unregister_producer()

            def stopProducing(self) -> None:
                raise AssertionError("not stopped: it finished")

        self.assertTrue(peer.register_producer(Producer()))
        self.assertEqual(asked, [0], "asked at once")
        self.assertFalse(peer.register_producer(Producer()), "one at a time")
        self.good.flush()
        self.assertEqual(len(asked), len(sent))
        self.assertEqual([m for _, m in self.server_handler.messages], sent)
        self.assertIsNone(self.good.client_transport.producer)

    def test_closing_stops_the_producer(self) -> None:
        """
        A connection closed while a producer is registered stops it and
        forgets it (else the transport would wait for it to finish).
        """
        stopped = []

        @implementer(IPullProducer)
        class Producer:
            def resumeProducing(self) -> None:
                pass

            def stopProducing(self) -> None:
                stopped.append(True)

        self.assertTrue(self.good_peer.register_producer(Producer()))
        self.good_peer.close("done")
        self.assertEqual(stopped, [True])
        self.assertIsNone(self.good.client_transport.producer)
        self.good.flush()
        self.assertTrue(self.good.lost)
        self.assertFalse(self.good_peer.register_producer(Producer()), "closed")

    def test_every_message_type(self) -> None:
        [server_peer] = self.server_handler.connected_peers
        put = BucketPut(5, 1795685820, 60, 0, b"records" * 1000, True, bytes(32))
        self.good_peer.send(put)
        self.good_peer.send(Batch(1, "live", events(3)))
        self.good.flush()
        server_peer.send(BucketAck(5, 1795685820, 10, 4))
        self.good.flush()
        self.assertEqual(
            [m for _, m in self.server_handler.messages],
            [put, Batch(1, "live", events(3))],
        )
        self.assertEqual(
            [m for _, m in self.good_handler.messages],
            [BucketAck(5, 1795685820, 10, 4)],
        )

    def test_sealed_on_the_wire(self) -> None:
        """
        Neither the hellos' contents nor the events appear in clear on the
        wire, in either direction.
        """
        clock = Clock()
        handler = RecordingHandler()
        client_handler = RecordingHandler()
        wire: list[bytes] = []
        pair = connect_pair(
            server_factory(clock, handler),
            client_factory(clock, client_handler, node="secret-node-name"),
            clock,
            tap=wire,
        )
        [peer] = client_handler.connected_peers
        peer.send(Batch(1, "ack2", [b"password=hunter2 " * 10]))
        pair.flush()
        self.assertEqual(len(handler.messages), 1)
        seen = b"".join(wire)
        self.assertIn(b"LOGSHIP\x01", seen)
        for secret in (b"hunter2", b"secret-node-name", b"buck-1", b"tailer", b"ack2"):
            self.assertNotIn(secret, seen)

    def test_byte_at_a_time(self) -> None:
        """
        The protocol copes with any chunking: hello and two batches arrive
        one byte at a time.
        """
        manual = ManualClient()
        peer = RawPeer()
        pair = connect_pair(self.server, peer, self.clock)
        data = manual.hello_frame()
        for i in range(len(data)):
            pair.server.dataReceived(data[i : i + 1])
        pair.flush()
        [frame] = peer.frames()
        manual.server_hello(frame)
        data = b"".join(
            manual.session_frame(encode_message(Batch(n, "ack1", events(5))))
            for n in (1, 2)
        )
        for i in range(len(data)):
            pair.server.dataReceived(data[i : i + 1])
        got = self.server_handler.messages_from(pair.client_address)
        self.assertEqual(
            got, [Batch(1, "ack1", events(5)), Batch(2, "ack1", events(5))]
        )

    def test_frames_in_one_chunk(self) -> None:
        """
        A hello and batches written at once are all handled, in order.
        """
        manual = ManualClient()
        peer = RawPeer(manual.hello_frame())
        pair = connect_pair(self.server, peer, self.clock)
        [frame] = peer.frames()
        manual.server_hello(frame)
        pair.server.dataReceived(
            b"".join(
                manual.session_frame(encode_message(Batch(n, "ack1", events(2))))
                for n in range(5)
            )
        )
        got = self.server_handler.messages_from(pair.client_address)
        self.assertEqual([m.batch_id for m in got], [0, 1, 2, 3, 4])  # type: ignore[union-attr]

    def test_deliberate_close(self) -> None:
        """
        C{close} sends an L{Error} with the reason; the other side's handler
        gets it, then both see the disconnection.
        """
        [server_peer] = self.server_handler.connected_peers
        server_peer.close("disk full", batch_id=7)
        self.assertFalse(server_peer.is_open)
        self.assertFalse(server_peer.send(Ack(1, 1)))
        self.good.flush()
        self.assertEqual(
            self.good_handler.messages, [(self.good_peer, Error("disk full", 7))]
        )
        [(_, theirs)] = self.good_handler.disconnections
        self.assertEqual((theirs.code, theirs.detail), ("peer-error", "disk full"))
        [(_, ours)] = self.server_handler.disconnections
        self.assertEqual((ours.code, ours.detail), ("closed", "disk full"))
        self.assertEqual(self.good_peer.send(Ack(1, 1)), False)
        self.assertEqual(self.server.stats.rejected, Counter())

    def test_prepared_message(self) -> None:
        """
        A batch encoded once goes to two servers (as a tailer sends to R
        bucks), each connection sealing it with its own keys.
        """
        other_handler = RecordingHandler()
        other_server = server_factory(self.clock, other_handler)
        client_handler = RecordingHandler()
        other = connect_pair(
            other_server, client_factory(self.clock, client_handler), self.clock
        )
        batch = Batch(8, "ack2", events(50))
        prepared = prepare_message(batch)
        peers = [self.good_peer, *client_handler.connected_peers]
        for peer in peers:
            self.assertTrue(peer.send(prepared))
        self.good.flush()
        other.flush()
        self.assertEqual(self.server_handler.messages[-1][1], batch)
        self.assertEqual(other_handler.messages[-1][1], batch)
        self.assertEqual(client_handler.messages[-1][1], Ack(8, 50))
        self.assertRaises(ValueError, self.good_peer.send, prepare_message(Error("x")))

    def test_send_refuses_hello_and_error(self) -> None:
        self.assertRaises(ValueError, self.good_peer.send, Error("no"))
        self.assertRaises(
            ValueError, self.good_peer.send, Hello(1, "tailer", "x", bytes(32), False)
        )

    def test_handler_failure_closes(self) -> None:
        """
        A handler that raises closes that connection only, with a logged
        failure.
        """

        def boom(peer: object, message: object) -> None:
            raise RuntimeError("handler bug")

        self.server_handler.message_received = boom  # type: ignore[method-assign]
        self.good_peer.send(Batch(1, "ack2", events(1)))
        self.good.flush()
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertTrue(self.good.lost)
        self.assertEqual(self.server.stats.internal_errors, 1)
        [(_, reason)] = self.good_handler.disconnections
        self.assertEqual((reason.code, reason.detail), ("peer-error", "internal error"))

    def test_when_connected(self) -> None:
        connected = self.successResultOf(self.good.wire_client.when_connected())
        self.assertIs(connected, self.good_peer)
        peer = RawPeer()
        pair = connect_pair(self.server, peer, self.clock)
        waiting = pair.server.when_connected()
        self.assertNoResult(waiting)
        pair.client_transport.loseConnection()
        pair.flush()
        failure = self.failureResultOf(waiting, HandshakeFailed)
        self.assertEqual(failure.value.reason.code, "connection-lost")
        self.failureResultOf(pair.server.when_connected(), HandshakeFailed)

    def test_insecure_pair(self) -> None:
        clock = Clock()
        handler = RecordingHandler()
        client_handler = RecordingHandler()
        pair = connect_pair(
            server_factory(clock, handler, key=None),
            client_factory(clock, client_handler, key=None),
            clock,
        )
        [peer] = client_handler.connected_peers
        self.assertTrue(peer.insecure)
        peer.send(Batch(1, "ack2", [b"plain"]))
        pair.flush()
        self.assertEqual(client_handler.messages, [(peer, Ack(1, 1))])
        [event] = [
            e
            for e in self.observer
            if e.get("peer_node") == "web-1" and e.get("insecure")
        ]
        self.assertIn("insecure", event["insecure_note"])

    def test_role_refused(self) -> None:
        """
        A server only accepts the roles it is told to; the client reads why.
        """
        server = server_factory(
            self.clock, self.server_handler, accept_roles=["tailer"]
        )
        porter_handler = RecordingHandler()
        pair = connect_pair(
            server,
            client_factory(self.clock, porter_handler, role="porter"),
            self.clock,
        )
        self.assertEqual(server.stats.rejected, Counter({"bad-role": 1}))
        self.assertTrue(pair.lost)
        self.assertEqual(porter_handler.connected_peers, [])
        failure = self.failureResultOf(
            pair.wire_client.when_connected(), HandshakeFailed
        )
        self.assertEqual(failure.value.reason.code, "peer-error")
        self.assertIn("a porter may not connect here", failure.value.reason.detail)

    def test_client_checks_server_role(self) -> None:
        handler = RecordingHandler()
        factory = client_factory(self.clock, handler, accept_roles=["porter"])
        pair = connect_pair(self.server, factory, self.clock)
        self.assertEqual(factory.stats.rejected, Counter({"bad-role": 1}))
        self.assertTrue(pair.lost)
        self.assertEqual(handler.connected_peers, [])
        # The server had completed its side; it sees a deliberate close.
        [(_, reason)] = [d for d in self.server_handler.disconnections]
        self.assertEqual(reason.code, "peer-error")

    def test_client_handshake_timeout(self) -> None:
        """
        A client whose server never answers gives up after the handshake
        timeout, and C{when_connected} fails.
        """
        factory = client_factory(self.clock, RecordingHandler())
        client = factory.buildProtocol(address())
        silent = RawPeer()
        server_transport = FakeTransport(silent, isServer=True)
        client_transport = FakeTransport(client, isServer=False, peerAddress=address())
        pump = connect(
            silent, server_transport, client, client_transport, clock=self.clock
        )
        waiting = client.when_connected()
        self.clock.advance(HANDSHAKE_TIMEOUT)
        pump.flush()
        self.assertEqual(factory.stats.rejected, Counter({"handshake-timeout": 1}))
        self.assertEqual(
            self.failureResultOf(waiting, HandshakeFailed).value.reason.code,
            "handshake-timeout",
        )
        self.assertTrue(silent.lost)

    def test_abort_when_peer_does_not_read(self) -> None:
        """
        A rejected peer that never lets the connection close is aborted
        after the close timeout.
        """
        transport = StringTransport(peerAddress=address())
        aborted = []
        transport.abortConnection = lambda: aborted.append(True)  # type: ignore[method-assign]
        protocol = self.server.buildProtocol(transport.getPeer())
        protocol.makeConnection(transport)
        protocol.dataReceived(b"\xff" * 4)
        self.assertTrue(transport.disconnecting)
        self.clock.advance(CLOSE_TIMEOUT)
        self.assertEqual(aborted, [True])
        protocol.connectionLost()

    def test_factory_checks(self) -> None:
        handler = RecordingHandler()
        verifyObject(IWireHandler, handler)
        bad_settings: list[dict[str, Any]] = [
            dict(key=b"short"),
            dict(node=""),
            dict(node="a\nb"),
            dict(role="king"),
            dict(accept_roles=["king"]),
            dict(accept_roles=[]),
        ]
        for bad in bad_settings:
            kwargs: dict[str, Any] = dict(
                key=KEY, node="n", role="buck", handler=handler, clock=self.clock
            )
            kwargs.update(bad)
            self.assertRaises(ValueError, WireServerFactory, **kwargs)
        self.assertRaises(
            TypeError,
            WireServerFactory,
            key=KEY,
            node="n",
            role="buck",
            handler=object(),
            clock=self.clock,
        )


class RejectionTests(_WireTestCase):
    """
    Each bad peer is rejected with a logged, counted reason, its connection
    closes, the handler gets nothing from it, and the good client goes on.
    """

    def test_wrong_key(self) -> None:
        bad_handler = RecordingHandler()
        bad_factory = client_factory(
            self.clock, bad_handler, key=OTHER_KEY, node="web-2"
        )
        pair = connect_pair(self.server, bad_factory, self.clock)
        self.assertRejected(pair, "bad-seal", "cluster key")
        # The client cannot open the server's sealed answer: it says so too.
        [event] = self.rejections("client")
        self.assertEqual(event["reason"], "bad-seal")
        self.assertEqual(bad_factory.stats.rejected, Counter({"bad-seal": 1}))
        self.assertEqual(bad_handler.connected_peers, [])
        bad = [
            p
            for p in self.server_handler.connected_peers
            if p.address == pair.client_address
        ]
        self.assertEqual(bad, [])

    def test_flipped_bit_in_hello(self) -> None:
        manual = ManualClient()
        hello = bytearray(manual.hello_frame())
        hello[40] ^= 0x10
        pair = connect_pair(self.server, RawPeer(bytes(hello)), self.clock)
        self.assertRejected(pair, "bad-seal")

    def test_flipped_bit_in_batch(self) -> None:
        """
        A bit flipped on the wire in a batch frame: the frames before it
        were delivered, it and those after are not.
        """
        bad_handler = RecordingHandler()
        pair = connect_pair(
            self.server,
            client_factory(self.clock, bad_handler, node="web-2"),
            self.clock,
        )
        [peer] = bad_handler.connected_peers
        peer.send(Batch(1, "ack2", events(10)))
        pair.flush()
        self.assertEqual(bad_handler.messages, [(peer, Ack(1, 10))])
        peer.send(Batch(2, "ack2", events(10)))
        peer.send(Batch(3, "ack2", events(10)))
        wire = bytearray(b"".join(pair.client_transport.stream))
        wire[30] ^= 0x01  # inside the ciphertext of batch 2
        pair.client_transport.stream = [bytes(wire)]
        pair.flush()
        [event] = self.rejections()
        self.assertEqual(event["reason"], "bad-seal")
        self.assertEqual(event["peer_node"], "web-2")
        self.assertEqual(self.server.stats.rejected, Counter({"bad-seal": 1}))
        self.assertEqual(
            self.server_handler.messages_from(pair.client_address),
            [Batch(1, "ack2", events(10))],
        )
        self.assertTrue(pair.lost)
        # The client could read the server's reason.
        [(_, reason)] = bad_handler.disconnections
        self.assertEqual(reason.code, "peer-error")
        self.assertIn("does not open", reason.detail)
        self.assertGoodClientWorks()

    def test_replayed_frame(self) -> None:
        bad_handler = RecordingHandler()
        pair = connect_pair(
            self.server,
            client_factory(self.clock, bad_handler, node="web-2"),
            self.clock,
        )
        [peer] = bad_handler.connected_peers
        peer.send(Batch(1, "ack2", events(10)))
        frame = b"".join(pair.client_transport.stream)
        pair.flush()
        pair.client_transport.write(frame)
        pair.flush()
        [event] = self.rejections()
        self.assertEqual(event["reason"], "bad-counter")
        self.assertIn("counter 0, expected 1", event["detail"])
        self.assertEqual(len(self.server_handler.messages_from(pair.client_address)), 1)
        self.assertGoodClientWorks()

    def test_frame_from_another_connection(self) -> None:
        """
        A frame captured on one connection does not open on another (same
        key, same counter): the session keys differ.
        """
        self.good_peer.send(Batch(100, "ack2", events(3)))
        captured = b"".join(self.good.client_transport.stream)
        self.good.flush()
        manual = ManualClient()
        pair, peer = handshake_by_hand(self.server, self.clock, manual)
        peer.send_raw(captured)
        self.assertRejected(pair, "bad-seal")

    def test_garbage_bytes(self) -> None:
        """
        Bytes that are not a frame of ours: an HTTP request is an oversize
        length prefix.
        """
        pair = connect_pair(
            self.server, RawPeer(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), self.clock
        )
        self.assertRejected(pair, "frame-too-large")

    def test_garbage_frame(self) -> None:
        pair = connect_pair(
            self.server, RawPeer(encode_frame(b"hello, logship?")), self.clock
        )
        self.assertRejected(pair, "not-logship")

    def test_garbage_after_handshake(self) -> None:
        manual = ManualClient()
        pair, peer = handshake_by_hand(self.server, self.clock, manual)
        peer.send_raw(encode_frame(b"\x00" * 100))
        self.assertRejected(pair, "bad-seal")

    def test_garbage_sealed(self) -> None:
        """
        A peer with the key that sends a sealed body that is not a message.
        """
        manual = ManualClient()
        pair, peer = handshake_by_hand(self.server, self.clock, manual)
        peer.send_raw(manual.session_frame(b"\x93\x01\x02"))
        self.assertRejected(pair, "malformed")
        # The error came back sealed with the session key.
        [frame] = peer.frames()
        assert manual.opener is not None
        error = decode_message(manual.opener.open(frame))
        self.assertIsInstance(error, Error)

    def test_oversize_frame_in_handshake(self) -> None:
        pair = connect_pair(
            self.server, RawPeer(struct.pack(">I", MAX_FRAME + 1)), self.clock
        )
        self.assertRejected(pair, "frame-too-large", str(MAX_FRAME + 1))

    def test_oversize_frame_after_handshake(self) -> None:
        """
        Refused from the length prefix alone; the peer reads why.
        """
        manual = ManualClient()
        pair, peer = handshake_by_hand(self.server, self.clock, manual)
        peer.send_raw(struct.pack(">I", 100 * MAX_FRAME) + b"x" * 1000)
        self.assertRejected(pair, "frame-too-large")
        [frame] = peer.frames()
        assert manual.opener is not None
        error = decode_message(manual.opener.open(frame))
        assert isinstance(error, Error)
        self.assertIn("exceeds the limit", error.reason)

    def test_zlib_bomb(self) -> None:
        manual = ManualClient()
        pair, peer = handshake_by_hand(self.server, self.clock, manual)
        header = {"type": "batch", "batch_id": 1, "durability": "ack2", "events": 1000}
        peer.send_raw(
            manual.session_frame(
                msgpack.packb([header, zlib_bomb()], use_bin_type=True)
            )
        )
        self.assertRejected(pair, "malformed", "decompression bomb")

    def test_torn_batch(self) -> None:
        """
        A batch whose last record is cut short is refused whole.
        """
        manual = ManualClient()
        pair, peer = handshake_by_hand(self.server, self.clock, manual)
        header, payload = msgpack.unpackb(encode_message(Batch(1, "ack2", events(10))))
        records = zlib.decompress(payload)[:-5]
        torn = msgpack.packb([header, zlib.compress(records)], use_bin_type=True)
        peer.send_raw(manual.session_frame(torn))
        self.assertRejected(pair, "malformed", "torn record")

    def test_bad_version(self) -> None:
        """
        A hello of another version is refused with an error naming both.
        """
        manual = ManualClient(version=PROTOCOL_VERSION + 1)
        peer = RawPeer(manual.hello_frame())
        pair = connect_pair(self.server, peer, self.clock)
        pair.flush()
        [frame] = peer.frames()
        error = decode_message(open_handshake(KEY, frame))
        assert isinstance(error, Error)
        self.assertIn(f"version {PROTOCOL_VERSION + 1}", error.reason)
        self.assertIn(f"speaks version {PROTOCOL_VERSION}", error.reason)
        self.assertRejected(pair, "bad-version", f"version {PROTOCOL_VERSION + 1}")

    def test_client_refuses_bad_version(self) -> None:
        """
        The client checks the server's version too.
        """
        factory = client_factory(self.clock, RecordingHandler())
        client = factory.buildProtocol(address())
        fake_server = RawPeer()
        server_transport = FakeTransport(fake_server, isServer=True)
        client_transport = FakeTransport(client, isServer=False, peerAddress=address())
        pump = connect(
            fake_server, server_transport, client, client_transport, clock=self.clock
        )
        hello = Hello(PROTOCOL_VERSION + 1, "buck", "future", bytes(range(32)), False)
        fake_server.send_raw(encode_frame(seal_handshake(KEY, encode_message(hello))))
        pump.flush()
        self.assertEqual(factory.stats.rejected, Counter({"bad-version": 1}))
        self.assertTrue(fake_server.lost)

    def test_message_before_handshake(self) -> None:
        batch = encode_message(Batch(1, "ack2", events(1)))
        pair = connect_pair(
            self.server, RawPeer(encode_frame(seal_handshake(KEY, batch))), self.clock
        )
        self.assertRejected(pair, "unexpected-message", "before the handshake")

    def test_hello_after_handshake(self) -> None:
        manual = ManualClient()
        pair, peer = handshake_by_hand(self.server, self.clock, manual)
        hello = Hello(PROTOCOL_VERSION, "tailer", "again", bytes(32), False)
        peer.send_raw(manual.session_frame(encode_message(hello)))
        self.assertRejected(pair, "unexpected-message", "hello after")

    def test_insecure_client(self) -> None:
        """
        An insecure client meets a sealed server: both name the mismatch.
        """
        bad_factory = client_factory(
            self.clock, RecordingHandler(), key=None, node="lab-1"
        )
        pair = connect_pair(self.server, bad_factory, self.clock)
        self.assertRejected(pair, "insecure-mismatch", "the peer is insecure")
        [event] = self.rejections("client")
        self.assertEqual(event["reason"], "insecure-mismatch")
        self.assertIn("this node is insecure", event["detail"])

    def test_half_a_frame_then_silence(self) -> None:
        """
        A peer that stops in the middle of a frame is dropped once it has
        sent nothing for the frame timeout; progress restarts the timer.
        """
        manual = ManualClient()
        pair, peer = handshake_by_hand(self.server, self.clock, manual)
        frame = manual.session_frame(encode_message(Batch(1, "ack2", events(10))))
        peer.send_raw(frame[:100])
        pair.flush()
        self.clock.advance(FRAME_TIMEOUT - 1)
        peer.send_raw(frame[100:101])
        pair.flush()
        self.clock.advance(FRAME_TIMEOUT - 1)
        pair.flush()
        self.assertFalse(pair.lost)
        self.clock.advance(1)
        event = self.assertRejected(pair, "frame-timeout")
        self.assertIn(f"{FRAME_TIMEOUT:g} seconds", event["detail"])

    def test_complete_frames_stop_the_timer(self) -> None:
        manual = ManualClient()
        pair, peer = handshake_by_hand(self.server, self.clock, manual)
        frame = manual.session_frame(encode_message(Batch(1, "ack2", events(10))))
        peer.send_raw(frame[:10])
        pair.flush()
        peer.send_raw(frame[10:])
        pair.flush()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        pair.client_transport.loseConnection()
        pair.flush()

    def test_handshake_timeout(self) -> None:
        pair = connect_pair(self.server, RawPeer(), self.clock)
        self.clock.advance(HANDSHAKE_TIMEOUT - 0.5)
        pair.flush()
        self.assertFalse(pair.lost)
        self.clock.advance(0.5)
        self.assertRejected(pair, "handshake-timeout")

    def test_half_a_hello(self) -> None:
        """
        Half a hello then silence is caught by the handshake timeout.
        """
        pair = connect_pair(
            self.server, RawPeer(ManualClient().hello_frame()[:20]), self.clock
        )
        self.clock.advance(HANDSHAKE_TIMEOUT)
        self.assertRejected(pair, "handshake-timeout")

    def test_random_garbage(self) -> None:
        """
        Random bytes in random chunks, after a valid hello or not, never
        raise out of the protocol nor reach the handler.
        """
        rng = random.Random(1)
        for attempt in range(200):
            handler = RecordingHandler()
            server = server_factory(self.clock, handler)
            transport = StringTransport(peerAddress=address())
            protocol = server.buildProtocol(transport.getPeer())
            protocol.makeConnection(transport)
            data = rng.randbytes(rng.randrange(1, 300))
            if attempt % 2:
                data = ManualClient().hello_frame() + data
            elif attempt % 3 == 0:
                data = struct.pack(">I", len(data)) + data
            while data:
                cut = rng.randrange(1, 50)
                protocol.dataReceived(data[:cut])
                data = data[cut:]
            self.assertEqual(handler.messages, [])
            protocol.connectionLost()
        self.assertGoodClientWorks()


class InsecureServerTests(_WireTestCase):
    server_key = None

    def test_secure_client(self) -> None:
        """
        A sealed client meets an insecure server: both name the mismatch,
        and the insecure clients go on.
        """
        bad_factory = client_factory(
            self.clock, RecordingHandler(), key=KEY, node="web-2"
        )
        pair = connect_pair(self.server, bad_factory, self.clock)
        self.assertRejected(pair, "insecure-mismatch", "this node is insecure")
        [event] = self.rejections("client")
        self.assertEqual(event["reason"], "insecure-mismatch")
        self.assertIn("the peer is insecure", event["detail"])
        self.assertEqual(bad_factory.stats.rejected, Counter({"insecure-mismatch": 1}))
