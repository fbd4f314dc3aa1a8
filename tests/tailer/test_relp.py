"""Tests for L{logship.tailer.relp}: the RELP listener on fakes, and with the
tailer as its sink, on a L{Clock}."""

from __future__ import annotations

import random
import re
import shutil
import tempfile
from datetime import timezone
from pathlib import Path
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver, StringTransport
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from logship.core.bucket import iter_records
from logship.core.event import Event, decode, unpack_origin
from logship.core.relp import encode_frame
from logship.tailer.relp import RelpFactory, RelpProtocol
from logship.tailer.service import TailerService
from logship.tailer.syslog import SyslogListen, parse_syslog, syslog_services
from tests.core.test_relp import OPEN
from tests.tailer.test_syslog import LINE_3164, LINE_5424, T0, FakeSink

OPENED = re.compile(rb"1 rsp (\d+) 200 OK\nrelp_version=0\nrelp_software=logship,[^\n]+\ncommands=syslog\n")


def syslog(txnr: int, message: bytes) -> bytes:
    return encode_frame(txnr, b"syslog", message)


class AckAfterStore(FakeSink):
    """
    A sink that notes what its connection had written when it stored.
    """

    transport: StringTransport

    def __init__(self) -> None:
        super().__init__()
        self.written_at_store: list[bytes] = []

    def store(self, events: list[Event], durability: str, lines: int) -> None:
        self.written_at_store.append(self.transport.value())
        super().store(events, durability, lines)


class OptionTests(SynchronousTestCase):
    def test_forms(self) -> None:
        self.assertEqual(parse_syslog("relp:2514"), SyslogListen("relp", "tcp:2514", "ack2"))
        self.assertEqual(parse_syslog("ack2+fsync:relp:127.0.0.1:2514"),
                         SyslogListen("relp", "tcp:2514:interface=127.0.0.1", "ack2+fsync"))
        self.assertEqual(parse_syslog("relp:[::1]:2514"),
                         SyslogListen("relp", "tcp:2514:interface=\\:\\:1", "ack2"))

    def test_errors(self) -> None:
        for bad in ("relp:", "relp:x", "relp:host:99999", "relp:a=b:1"):
            self.assertRaises(ValueError, parse_syslog, bad)


class ProtocolTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(T0)
        self.sink = AckAfterStore()
        self.log = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)

    def connect(self, durability: str = "ack2") -> tuple[RelpProtocol, StringTransport]:
        factory = RelpFactory(
            SyslogListen("relp", "tcp:2514", durability),  # type: ignore[arg-type]
            self.sink, self.clock, b"me", timezone.utc,
        )
        protocol = factory.buildProtocol(None)
        transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.9", 5555))
        self.sink.transport = transport
        protocol.makeConnection(transport)
        return protocol, transport

    def test_messages_stored_then_acknowledged(self) -> None:
        protocol, transport = self.connect()
        stream = OPEN + syslog(2, LINE_5424) + syslog(3, LINE_3164 + b"\n")
        protocol.dataReceived(stream[:-20])
        protocol.dataReceived(stream[-20:] + syslog(4, b"")[:3])
        opened = OPENED.match(transport.value())
        assert opened is not None
        self.assertEqual(int(opened.group(1)), opened.end() - opened.end(1) - 2)
        self.assertEqual(transport.value().split(b"\n")[-3:], [b"2 rsp 6 200 OK", b"3 rsp 6 200 OK", b""])
        # the answers of a read are written after its messages are stored
        self.assertEqual([w.count(b" rsp ") for w in self.sink.written_at_store], [0, 2])
        events = [e for e, _ in self.sink.events]
        self.assertEqual([e.shn for e in events], [b"web-2", b"web-1"])
        self.assertEqual(events[1].message, b"Accepted publickey for root")
        # origins: the stream offset of each message's data
        self.assertEqual(
            [unpack_origin(e.origin)[2] for e in events],
            [stream.index(LINE_5424), stream.index(LINE_3164)],
        )
        counters = protocol.factory.counters
        self.assertEqual((counters.messages, counters.acks, counters.bytes),
                         (2, 2, len(stream) + 3))
        protocol.dataReceived(syslog(4, b"")[3:] + encode_frame(5, b"close"))
        self.assertTrue(transport.value().endswith(b"4 rsp 6 200 OK\n5 rsp 0\n"))
        self.assertTrue(transport.disconnecting)
        self.assertEqual(len(self.sink.events), 2)  # the empty message is no event

    def test_forged_frame_closes_keeping_what_came_before(self) -> None:
        protocol, transport = self.connect()
        protocol.dataReceived(OPEN + syslog(2, b"kept") + syslog(7, b"forged"))
        self.assertTrue(transport.disconnecting)
        self.assertEqual([e.message for e, _ in self.sink.events], [b"kept"])
        self.assertTrue(transport.value().endswith(b"2 rsp 6 200 OK\n"))
        self.assertEqual(protocol.factory.counters.rejected, 1)
        [event] = [e for e in self.log if "peer" in e]
        self.assertEqual(event["peer"], "127.0.0.9:5555")
        self.assertIn("txnr 7 out of sequence", event["error"])
        protocol.dataReceived(b"more garbage")  # not read: no second line
        self.assertEqual(len([e for e in self.log if "peer" in e]), 1)
        protocol.connectionLost()

    def test_garbage_closes(self) -> None:
        protocol, transport = self.connect()
        protocol.dataReceived(b"GET / HTTP/1.1\r\n")
        self.assertTrue(transport.disconnecting)
        self.assertEqual(transport.value(), b"")
        [event] = [e for e in self.log if "peer" in e]
        self.assertIn("bad txnr", event["error"])

    def test_cut_frame_is_dropped(self) -> None:
        protocol, transport = self.connect()
        protocol.dataReceived(OPEN + syslog(2, b"a whole message")[:-1])
        protocol.connectionLost()
        self.assertEqual(self.sink.events, [])
        self.assertEqual(self.sink.forgotten, [transport])

    def test_backlogged_pauses_after_answering(self) -> None:
        protocol, transport = self.connect()
        self.sink.full = True
        protocol.dataReceived(OPEN + syslog(2, b"one"))
        self.assertEqual(transport.producerState, "paused")
        self.assertEqual(self.sink.waiting, [transport])
        self.assertTrue(transport.value().endswith(b"2 rsp 6 200 OK\n"))

    def test_stopping_sends_serverclose(self) -> None:
        protocol, transport = self.connect()
        protocol.dataReceived(OPEN + syslog(2, b"one")[:5])
        protocol.factory.disconnect_all()
        self.assertTrue(transport.value().endswith(b"0 serverclose 0\n"))
        self.assertTrue(transport.disconnecting)
        protocol.connectionLost()
        self.assertEqual(self.sink.events, [])


class SinkTests(SynchronousTestCase):
    """
    The tailer as the RELP listener's sink: a message is in the spool,
    flushed, when its answer is written.
    """

    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)
        self.clock = Clock()
        self.clock.advance(T0)

    def test_answered_once_spooled(self) -> None:
        listen = parse_syslog("ack1:relp:127.0.0.1:2514")
        service = TailerService(
            sources=[], state_dir=self.tmp / "state", bucks={}, key=None, node="t",
            host=b"h", tz=timezone.utc, clock=self.clock, rng=random.Random(5),
            syslog=[listen],
        )
        service.startService()
        [listener] = syslog_services([listen], service, self.clock, b"h", timezone.utc)
        factory: Any = listener.syslog_factory  # type: ignore[attr-defined]
        protocol = factory.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        spool = self.tmp / "state" / "spool" / "ack1"

        def spooled() -> list[bytes]:
            messages = []
            for path in sorted(spool.rglob("*.b")):
                with open(path, "rb") as f:
                    messages += [decode(r).message for _, r in iter_records(f)]
            return messages

        protocol.dataReceived(OPEN + syslog(2, b"<13>first") + syslog(3, b"<13>second"))
        self.assertTrue(transport.value().endswith(b"2 rsp 6 200 OK\n3 rsp 6 200 OK\n"))
        self.assertEqual(spooled(), [b"first", b"second"])
        self.assertEqual(service.stats()["lines_read"], 2)
        self.assertEqual(listener.counters.acks, 2)
        protocol.connectionLost()
        stopped = service.stopService()
        self.clock.advance(5)
        self.successResultOf(stopped)
