"""Tests for L{logship.tailer.syslog}: listeners' options, connections and
datagrams on fakes, and the tailer as their sink, on a L{Clock}."""

from __future__ import annotations

import json
import random
import shutil
import tempfile
from datetime import timezone
from pathlib import Path
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.defer import succeed
from twisted.internet.error import CannotListenError
from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver, MemoryReactorClock, StringTransport
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from logship.core.bucket import iter_records
from logship.core.event import Event, decode, unpack_origin
from logship.tailer.service import TailerService
from tests.tailer.test_service import FakeBuck
from logship.tailer.syslog import (
    STREAMS_PER_TAG,
    StreamNumbers,
    SyslogListen,
    SyslogTCPFactory,
    SyslogUDPProtocol,
    parse_syslog,
    syslog_services,
)

T0 = 1795685820.0
LINE_3164 = b"<34>Dec  5 00:40:01 web-1 sshd[42]: Accepted publickey for root"
LINE_5424 = b"<165>1 2026-12-05T00:40:01.5Z web-2 app 7 ID47 [x@1 a=\"b\"] hello"


class FakeSink:
    """
    An L{ISyslogSink} that keeps what it is given.
    """

    def __init__(self) -> None:
        self.events: list[tuple[Event, str]] = []
        self.lines = 0
        self.streams = StreamNumbers(1234)
        self.full = False
        self.waiting: list[Any] = []
        self.forgotten: list[Any] = []

    def open_stream(self, key: str) -> tuple[int, int]:
        return self.streams.next(random.Random(0))

    def store(self, events: list[Event], durability: str, lines: int) -> None:
        self.events += [(e, durability) for e in events]
        self.lines += lines

    def backlogged(self) -> bool:
        return self.full

    def wait_for_room(self, producer: Any) -> None:
        self.waiting.append(producer)

    def forget(self, producer: Any) -> None:
        self.forgotten.append(producer)


class OptionTests(SynchronousTestCase):
    def test_forms(self) -> None:
        self.assertEqual(parse_syslog("6514"),
                         SyslogListen("tcp", "tcp:6514:interface=127.0.0.1", "ack2"))
        self.assertEqual(parse_syslog("tcp:6514"), SyslogListen("tcp", "tcp:6514", "ack2"))
        self.assertEqual(parse_syslog("ack2+fsync:udp:514:interface=127.0.0.1"),
                         SyslogListen("udp", "udp:514:interface=127.0.0.1", "ack2+fsync"))
        self.assertEqual(parse_syslog("live:udp:514"), SyslogListen("udp", "udp:514", "live"))

    def test_errors(self) -> None:
        for bad in ("udp:x", "udp:514:bind=1", "udp:99999", "nosuch:1", "tcp:notaport"):
            self.assertRaises(ValueError, parse_syslog, bad)

    def test_stream_numbers_wrap_to_a_new_tag(self) -> None:
        numbers = StreamNumbers(7, STREAMS_PER_TAG - 1)
        self.assertEqual(numbers.next(random.Random(1)), (7, STREAMS_PER_TAG - 1))
        source, number = numbers.next(random.Random(1))
        self.assertEqual(number, 0)
        self.assertNotEqual(source, 7)
        saved = numbers.to_json()
        self.assertEqual(StreamNumbers.from_json(saved, random.Random(2)), numbers)
        self.assertNotEqual(StreamNumbers.from_json({"source": -1}, random.Random(2)).source, -1)


class ProtocolTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(T0)
        self.sink = FakeSink()
        self.log = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)

    def connect(self, durability: str = "ack2") -> tuple[Any, StringTransport]:
        factory = SyslogTCPFactory(
            SyslogListen("tcp", "tcp:6514", durability),  # type: ignore[arg-type]
            self.sink, self.clock, b"me", timezone.utc,
        )
        protocol = factory.buildProtocol(None)
        transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.9", 5555))
        protocol.makeConnection(transport)
        return protocol, transport

    def test_messages_become_events_with_origins(self) -> None:
        protocol, transport = self.connect("ack1")
        frame = b"%d %s" % (len(LINE_5424), LINE_5424)
        protocol.dataReceived(frame + LINE_3164[:10])
        protocol.dataReceived(LINE_3164[10:] + b"\r\nno header at all\n")
        events = [e for e, _ in self.sink.events]
        self.assertEqual([d for _, d in self.sink.events], ["ack1"] * 3)
        self.assertEqual([e.shn for e in events], [b"web-2", b"web-1", b"me"])
        self.assertEqual([e.app for e in events], [b"app", b"sshd", b""])
        self.assertEqual(events[1].message, b"Accepted publickey for root")
        self.assertEqual(
            [unpack_origin(e.origin) for e in events],
            [(1234, 0, len(frame) - len(LINE_5424)), (1234, 0, len(frame)),
             (1234, 0, len(frame) + len(LINE_3164) + 2)],
        )
        self.assertEqual(self.sink.lines, 3)
        # the next connection is the next stream
        self.connect()[0].dataReceived(b"x\n")
        self.assertEqual(unpack_origin(self.sink.events[-1][0].origin), (1234, 1, 0))

    def test_backlogged_pauses(self) -> None:
        protocol, transport = self.connect()
        self.sink.full = True
        protocol.dataReceived(b"one\n")
        self.assertEqual(transport.producerState, "paused")
        self.assertEqual(self.sink.waiting, [transport])
        self.assertEqual(len(self.sink.events), 1)  # stored before pausing

    def test_bad_count_closes_keeping_what_came_before(self) -> None:
        protocol, transport = self.connect()
        protocol.dataReceived(b"3 abc0 tail\n")
        self.assertTrue(transport.disconnecting)
        self.assertEqual([e.message for e, _ in self.sink.events], [b"abc"])
        self.assertEqual(protocol.factory.counters.rejected, 1)
        [event] = [e for e in self.log if "peer" in e]
        self.assertEqual(event["peer"], "127.0.0.9:5555")
        self.assertIn("bad octet count", event["error"])
        protocol.connectionLost()
        self.assertEqual(len(self.sink.events), 1)

    def test_connection_lost_hands_on_the_last_line(self) -> None:
        protocol, transport = self.connect()
        protocol.dataReceived(b"last line without LF")
        self.assertEqual(self.sink.events, [])
        protocol.connectionLost()
        self.assertEqual([e.message for e, _ in self.sink.events], [b"last line without LF"])
        self.assertEqual(self.sink.forgotten, [transport])

    def test_stopping_stores_the_unended_message_and_closes(self) -> None:
        protocol, transport = self.connect()
        protocol.dataReceived(b"5 ab")
        protocol.factory.disconnect_all()
        self.assertTrue(transport.disconnecting)
        self.assertEqual([e.message for e, _ in self.sink.events], [b"ab"])
        protocol.connectionLost()
        self.assertEqual(len(self.sink.events), 1)

    def test_datagrams(self) -> None:
        udp = SyslogUDPProtocol(
            SyslogListen("udp", "udp:514", "ack2"), self.sink, self.clock, b"me", timezone.utc
        )
        udp.datagramReceived(LINE_3164 + b"\n", ("127.0.0.1", 1))
        udp.datagramReceived(b"", ("127.0.0.1", 1))
        udp.datagramReceived(LINE_5424, ("127.0.0.1", 1))
        events = [e for e, _ in self.sink.events]
        self.assertEqual([e.shn for e in events], [b"web-1", b"web-2"])
        self.assertEqual([unpack_origin(e.origin) for e in events],
                         [(1234, 0, 0), (1234, 0, len(LINE_3164) + 1)])


class SinkTests(SynchronousTestCase):
    """
    The tailer as the listeners' sink: spool, checkpoint, backpressure.
    """

    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)
        self.clock = Clock()
        self.clock.advance(T0)

    def service(self, backlog: int = 1 << 20) -> TailerService:
        service = TailerService(
            sources=[], state_dir=self.tmp / "state", bucks={}, key=None, node="t",
            host=b"h", tz=timezone.utc, clock=self.clock, rng=random.Random(5),
            syslog=[SyslogListen("tcp", "tcp:6514", "ack1")], syslog_backlog=backlog,
        )
        service.startService()
        return service

    def stop(self, service: TailerService) -> None:
        stopped = service.stopService()
        self.clock.advance(5)
        self.successResultOf(stopped)

    def test_streams_saved_and_events_spooled(self) -> None:
        service = self.service()
        factory = SyslogTCPFactory(
            SyslogListen("tcp", "tcp:6514", "ack1"), service, self.clock, b"h", timezone.utc
        )
        protocol = factory.buildProtocol(None)
        protocol.makeConnection(StringTransport())
        saved = json.loads(service.checkpoint_path.read_text())["syslog"]["tcp:6514"]
        self.assertEqual(saved["streams"], 1)  # saved before any message
        protocol.dataReceived(b"a\nb\n")
        self.assertEqual(service.stats()["lines_read"], 2)
        self.stop(service)
        paths = sorted((self.tmp / "state" / "spool" / "ack1").rglob("*.b"))
        messages = []
        for path in paths:
            with open(path, "rb") as f:
                messages += [decode(data) for _, data in iter_records(f)]
        self.assertEqual([e.message for e in messages], [b"a", b"b"])
        self.assertEqual({unpack_origin(e.origin)[0] for e in messages}, {saved["source"]})
        # a restart goes on numbering with the same tag
        again = self.service()
        self.assertEqual(again.open_stream("tcp:6514"), (saved["source"], 1))
        self.stop(again)

    def test_paused_until_delivered(self) -> None:
        service = self.service(backlog=10)
        factory = SyslogTCPFactory(
            SyslogListen("tcp", "tcp:6514", "ack1"), service, self.clock, b"h", timezone.utc
        )
        protocol = factory.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        protocol.dataReceived(b"a line long enough to be over ten bytes\n")
        self.assertEqual(transport.producerState, "paused")
        service.tick()
        self.assertEqual(transport.producerState, "paused")  # nothing delivered
        buck = FakeBuck()
        service.delivery.connected("a", buck)  # type: ignore[arg-type]
        service.delivery.acked("a", buck.batches[0])
        service.tick()
        self.assertEqual(transport.producerState, "producing")
        self.stop(service)


class UDPListenerTests(SynchronousTestCase):
    """
    The UDP listener opens its port before twistd drops privileges, and
    says in one line when it cannot.
    """

    def test_opened_before_start(self) -> None:
        reactor = MemoryUDPReactor()
        (service,) = syslog_services(
            [SyslogListen("udp", "udp:514:interface=127.0.0.1", "ack2")],
            FakeSink(), reactor, b"h", timezone.utc,
        )
        service.privilegedStartService()
        self.assertEqual(reactor.udp, [(514, "127.0.0.1")])
        service.startService()
        self.assertEqual(len(reactor.udp), 1)
        self.successResultOf(service.stopService())  # type: ignore[arg-type]

    def test_port_in_use(self) -> None:
        reactor = MemoryUDPReactor(fail=True)
        (service,) = syslog_services(
            [SyslogListen("udp", "udp:514", "ack2")], FakeSink(), reactor, b"h", timezone.utc
        )
        error = self.assertRaises(SystemExit, service.privilegedStartService)
        self.assertIn("cannot listen on udp:514", str(error))


class MemoryUDPReactor(MemoryReactorClock):
    """
    A memory reactor that records UDP ports (or refuses them).
    """

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.udp: list[tuple[int, str]] = []
        self._fail = fail

    def listenUDP(self, port: int, protocol: Any, interface: str = "", maxPacketSize: int = 8192) -> Any:
        if self._fail:
            raise CannotListenError(interface, port, OSError(98, "Address already in use"))
        self.udp.append((port, interface))
        listening = StringTransport(hostAddress=IPv4Address("UDP", interface or "0.0.0.0", port))
        listening.stopListening = lambda: succeed(None)  # type: ignore[attr-defined]
        return listening
