"""Tests for L{logship.buck.live}: the live tail WebSocket, in memory.

Server and client are real Autobahn protocols connected by
C{twisted.test.iosim} pumps, on a L{Clock}; a transport that pauses its
producer when its buffer holds more than a few KiB stands for a slow
client's TCP connection.  The tap's C{--live} options are at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver, MemoryReactorClock
from twisted.logger import globalLogPublisher
from twisted.python import usage
from twisted.test import iosim
from twisted.trial.unittest import SynchronousTestCase

from logship.buck.live import (
    CLOSE_BINARY,
    CLOSE_NOT_JSON,
    CLOSE_STALLED,
    CLOSE_TOO_BIG,
    DEFAULT_ORIGINS,
    MAX_PENDING_BYTES,
    MIN_PENDING,
    LiveFactory,
    LiveFilter,
    _ClockTimer,
    is_loopback,
    normalize_live,
)
from logship.buck.pubsub import Channel
from logship.buck.tap import Options, makeService
from logship.core.event import Event, decode, encode_fields
from logship.core.keys import write_new_key
from logship.plumbing.listeners import Listener
from logship.core.render import event_id, event_json, live_json
from tests.buck import T0, make_event
from logship.core.parse import TICKS_PER_SECOND


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
    ) -> tuple[Client, iosim.IOPump]:
        factory = factory or self.factory
        client_factory = WebSocketClientFactory(
            f"ws://127.0.0.1:4480{path}", reactor=self.clock, headers=headers or {}
        )
        client_factory._batched_timer = _ClockTimer(self.clock)
        client_factory.setProtocolOptions(
            openHandshakeTimeout=0, closeHandshakeTimeout=0, serverConnectionDropTimeout=0,
            autoPingInterval=0,
        )
        client_factory.protocol = Client
        peer = IPv4Address("TCP", "127.0.0.1", 50000 + len(self.pumps))
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


class ProtocolTests(LiveTestCase):
    def test_hello_then_nothing_until_a_filter(self) -> None:
        """
        The buck says hello with its node; a client that sent no filter
        has no subscription and gets nothing.
        """
        client, pump = self.connect()
        self.assertEqual(client.messages, [{"type": "hello", "node": "buck-1"}])
        self.publish(events(0, 5))
        self.assertEqual(client.messages, [{"type": "hello", "node": "buck-1"}])
        self.assertEqual(self.channel.subscriptions, [])
        client.send_json({"type": "filter"})
        pump.flush()
        self.assertEqual(len(self.channel.subscriptions), 1)
        self.publish(events(5, 3))
        self.assertEqual([e["message"].split()[1] for e in client.events()], ["5", "6", "7"])

    def test_event_fields(self) -> None:
        """
        Each event has the lean fields: an id, the point and its ISO time,
        host, app, pid, severity and facility, the message as UTF-8 with
        invalid bytes replaced, C{continued} when set, and no tokens.
        """
        client, _ = self.open()
        point = T0 * TICKS_PER_SECOND + 7
        event = decode(encode_fields(point, 13, b"db-2", b"postgres", b"4242", b"bad \xff byte"))
        part = replace(event, continued=True, pri=255, pid=None)
        self.publish([event, part])
        first, second = client.events()
        self.assertEqual(
            first,
            {
                "id": event_id(event), "point": point, "time": "2026-11-26T09:37:00.000000Z",
                "host": "db-2", "app": "postgres", "pid": "4242", "severity": 5,
                "facility": 1, "message": "bad \ufffd byte",
            },
        )
        self.assertEqual(second["continued"], True)
        self.assertIsNone(second["severity"])
        self.assertIsNone(second["pid"])
        self.assertEqual(live_json(event), first)
        # event_json (logship cat, the API) is unchanged: it has tokens.
        self.assertIn("tokens", event_json(event))
        self.assertNotIn("id", event_json(event))

    def test_same_id_on_two_bucks(self) -> None:
        """
        The same event written by two bucks has the same id on both (the
        page drops the second); another identity has another id.
        """
        other_channel = Channel(self.clock)
        other = LiveFactory(other_channel, node="buck-2", clock=self.clock, auto_ping_interval=0)
        a, _ = self.open()
        b, pump_b = self.connect(factory=other)
        b.send_json({"type": "filter"})
        pump_b.flush()
        data = make_event(1)
        self.channel.publish([decode(data)])
        other_channel.publish([decode(data)])
        twins = [
            decode(make_event(2)),  # another point
            decode(make_event(1, host=b"web-2")),  # another host
            decode(make_event(1, app=b"nginx2")),  # another app
            decode(encode_fields(decode(data).point, 13, b"web-1", b"nginx", None, b"other")),
        ]
        other_channel.publish(twins)
        self.clock.advance(0.1)
        for pump in self.pumps:
            pump.flush()
        self.assertEqual(b.of_type("hello"), [{"type": "hello", "node": "buck-2"}])
        [from_a] = a.events()
        from_b = b.events()
        self.assertEqual(from_a["id"], from_b[0]["id"])
        self.assertEqual(len({e["id"] for e in from_b}), 5)
        self.assertEqual(other_channel.subscriptions[0].pending, 0)
        other_channel.subscriptions[0].close()

    def test_batches_every_interval(self) -> None:
        """
        The first events after a quiet spell go out at once; events
        published within the next 100 ms go out together.
        """
        client, pump = self.open()
        self.channel.publish(events(0, 2))
        self.clock.advance(0)
        pump.flush()
        self.assertEqual(len(client.of_type("events")), 1)
        for i in range(2, 10):
            self.channel.publish(events(i, 1))
            self.clock.advance(0.01)
            pump.flush()
        self.assertEqual(len(client.of_type("events")), 1)
        self.clock.advance(0.1)
        pump.flush()
        batches = client.of_type("events")
        self.assertEqual([len(b["events"]) for b in batches], [2, 8])
        self.assertEqual(client.of_type("skipped"), [])


class FilterTests(LiveTestCase):
    def publish_mix(self) -> None:
        batch = (
            events(0, 2, host=b"web-1", app=b"nginx")
            + events(2, 2, host=b"web-2", app=b"nginx")
            + events(4, 2, host=b"web-1", app=b"cron")
            + events(6, 2, host=b"db-1", app=b"postgres")
        )
        batch[7] = replace(batch[7], message=b"event 7 ERROR disk full")
        self.publish(batch)

    def numbers(self, client: Client) -> list[int]:
        return [int(e["message"].split()[1]) for e in client.events()]

    def test_hosts(self) -> None:
        client, _ = self.open(hosts=["web-2", "db-1"])
        self.publish_mix()
        self.assertEqual(self.numbers(client), [2, 3, 6, 7])

    def test_apps(self) -> None:
        client, _ = self.open(apps=["cron"])
        self.publish_mix()
        self.assertEqual(self.numbers(client), [4, 5])

    def test_substring(self) -> None:
        """
        The substring is case-sensitive, on the message's bytes.
        """
        client, _ = self.open(substring="ERROR disk")
        other, _ = self.open(substring="error disk")
        self.publish_mix()
        self.assertEqual(self.numbers(client), [7])
        self.assertEqual(self.numbers(other), [])

    def test_all_together_and_empty_means_any(self) -> None:
        client, _ = self.open(hosts=["web-1"], apps=["nginx", "cron"], substring="event")
        empty, _ = self.open(hosts=[], apps=[], substring=None)
        self.publish_mix()
        self.assertEqual(self.numbers(client), [0, 1, 4, 5])
        self.assertEqual(self.numbers(empty), list(range(8)))

    def test_filter_again(self) -> None:
        """
        A new filter replaces the old one: one subscription per client.
        """
        client, pump = self.open(hosts=["web-2"])
        client.send_json({"type": "filter", "hosts": ["db-1"]})
        pump.flush()
        self.assertEqual(len(self.channel.subscriptions), 1)
        self.publish_mix()
        self.assertEqual(self.numbers(client), [6, 7])

    def test_filter_object(self) -> None:
        self.assertIsNone(LiveFilter().accept_function())
        accept = LiveFilter(hosts=frozenset({b"a"}), substring=b"zq").accept_function()
        assert accept is not None
        [event] = events(0, 1, host=b"a")
        self.assertFalse(accept(event))
        self.assertTrue(accept(replace(event, message=b"xzqy")))
        self.assertFalse(accept(replace(event, shn=b"b", message=b"zq")))

    def test_bad_filters(self) -> None:
        """
        A bad filter is answered with an error saying why; the connection
        stays open and the previous filter stays in force.
        """
        client, pump = self.open(hosts=["web-2"])
        bad: list[tuple[Any, str]] = [
            ({"type": "filter", "hosts": "web-1"}, "hosts: expected a list"),
            ({"type": "filter", "apps": [1]}, "apps: expected strings"),
            ({"type": "filter", "hosts": ["x" * 256]}, "1 to 255 bytes"),
            ({"type": "filter", "hosts": [""]}, "1 to 255 bytes"),
            ({"type": "filter", "substring": 3}, "substring: expected a string"),
            ({"type": "filter", "substring": "x" * 1025}, "at most 1024 bytes"),
            ({"type": "filter", "rate": 0}, "rate: 1 to 5000"),
            ({"type": "filter", "rate": 5001}, "rate: 1 to 5000"),
            ({"type": "filter", "rate": 1.5}, "rate: expected a whole number"),
            ({"type": "filter", "rate": True}, "rate: expected a whole number"),
            ({"type": "filter", "host": ["web-1"]}, "unknown key 'host'"),
            ({"type": "filter", "hosts": ["h"] * 1001}, "at most 1000"),
            ({"type": "subscribe"}, "unknown message type \"subscribe\""),
            ({"hosts": []}, "unknown message type null"),
            ([1, 2], "expected a JSON object"),
        ]
        for message, why in bad:
            client.send_json(message)
            pump.flush()
            error = client.messages[-1]
            self.assertEqual(error["type"], "error", message)
            self.assertIn(why, error["error"])
        self.assertFalse(client.closed)
        self.publish_mix()
        self.assertEqual(self.numbers(client), [2, 3])


class ClosingTests(LiveTestCase):
    def test_binary(self) -> None:
        client, pump = self.open()
        client.sendMessage(b"\x00\x01", isBinary=True)
        pump.flush()
        self.assertTrue(client.closed)
        self.assertEqual(client.close_code, CLOSE_BINARY)
        self.assertEqual(self.channel.subscriptions, [])
        self.assertEqual(self.factory.clients, set())

    def test_not_json(self) -> None:
        client, pump = self.open()
        client.sendMessage(b"filter please", isBinary=False)
        pump.flush()
        self.assertEqual(client.close_code, CLOSE_NOT_JSON)
        self.assertIn("not a JSON message", client.close_reason or "")
        self.assertEqual(self.channel.subscriptions, [])

    def test_too_large(self) -> None:
        """
        A message over 64 KiB closes the connection (4009), also when it
        comes in several fragments; one of exactly 64 KiB is read.
        """
        client, pump = self.open()
        ok = json.dumps({"type": "filter", "substring": None, "pad": ""})
        just_under = ok.replace('""', '"' + "x" * (64 * 1024 - len(ok)) + '"')
        self.assertEqual(len(just_under), 64 * 1024)
        client.sendMessage(just_under.encode(), isBinary=False)
        pump.flush()
        self.assertIn("unknown key 'pad'", client.messages[-1]["error"])
        client.sendMessage(b" " * (64 * 1024) + b"{}", isBinary=False)
        pump.flush()
        self.assertTrue(client.closed)
        self.assertEqual(client.close_code, CLOSE_TOO_BIG)
        self.assertEqual(self.channel.subscriptions, [])
        # in fragments of 16 KiB
        client, pump = self.open()
        client.sendMessage(b" " * (80 * 1024), isBinary=False, fragmentSize=16 * 1024)
        pump.flush()
        self.assertEqual(client.close_code, CLOSE_TOO_BIG)

    def test_wrong_path(self) -> None:
        client, _ = self.connect("/other")
        self.assertFalse(client.opened)
        self.assertTrue(client.closed)
        self.assertIn("404", client.close_reason or "")

    def test_token(self) -> None:
        """
        With a token, a client must give it in C{?token=} or as a bearer
        token; a wrong one or none is refused with 401.
        """
        self.factory = self.make_factory(token="s3cret-token-0123456789")
        for path, headers in [
            ("/live", {}),
            ("/live?token=wrong", {}),
            ("/live?token=", {}),
            ("/live", {"Authorization": "Bearer wrong"}),
        ]:
            client, _ = self.connect(path, headers=headers)
            self.assertFalse(client.opened, path)
            self.assertIn("401", client.close_reason or "")
        for path, headers in [
            ("/live?token=s3cret-token-0123456789", {}),
            ("/live", {"Authorization": "Bearer s3cret-token-0123456789"}),
        ]:
            client, _ = self.connect(path, headers=headers)
            self.assertTrue(client.opened, path)
            self.assertEqual(client.messages[0]["type"], "hello")
        refused = [e for e in self.log if e.get("code") == 401]
        self.assertEqual(len(refused), 4)

    def test_origins(self) -> None:
        """
        A browser's Origin must match the patterns (default: pages of this
        machine); a client without one (not a browser) is let in.
        """
        for origin, allowed in [
            ("http://127.0.0.1:8080", True),
            ("http://localhost:3000", True),
            ("http://[::1]:8080", True),
            ("https://evil.example", False),
            ("http://127.0.0.1.evil.example:80", False),
        ]:
            client, _ = self.connect(headers={"Origin": origin})
            self.assertEqual(client.opened, allowed, origin)
        self.factory = self.make_factory(origins=["https://logs.example.com:*"])
        client, _ = self.connect(headers={"Origin": "https://logs.example.com"})
        self.assertTrue(client.opened)
        client, _ = self.connect(headers={"Origin": "http://127.0.0.1:8080"})
        self.assertFalse(client.opened)
        self.assertEqual(len(DEFAULT_ORIGINS), 6)

    def test_max_clients(self) -> None:
        self.factory = self.make_factory(max_clients=2)
        for _ in range(2):
            self.assertTrue(self.connect()[0].opened)
        client, _ = self.connect()
        self.assertFalse(client.opened)
        self.assertIn("503", client.close_reason or "")

    def test_close_frees_the_subscription(self) -> None:
        clients = [self.open()[0] for _ in range(5)]
        self.assertEqual(len(self.channel.subscriptions), 5)
        self.assertEqual(len(self.factory.clients), 5)
        for client in clients:
            client.sendClose(1000)
        for pump in self.pumps:
            pump.flush()
        self.assertEqual(self.channel.subscriptions, [])
        self.assertEqual(self.factory.clients, set())


class FlowTests(LiveTestCase):
    def test_rate_cap(self) -> None:
        """
        A client gets at most its rate (plus a 1 s burst); the rest is
        skipped, announced before the next batch, and every event is either
        sent or counted as skipped.
        """
        client, pump = self.open(rate=20)
        published = 0
        for i in range(30):  # 3 s at 100 events/s
            self.publish(events(published, 10), pump)
            published += 10
        self.clock.advance(1)
        pump.flush()
        received = client.events()
        skipped = sum(m["count"] for m in client.of_type("skipped"))
        self.assertEqual(len(received) + skipped, published)
        self.assertLessEqual(len(received), 20 * 3 + 4 + 20)
        self.assertGreaterEqual(len(received), 20 * 3)
        # a skipped notice is followed by a batch, and the newest events are kept
        for before, after in zip(client.messages, client.messages[1:]):
            if before["type"] == "skipped":
                self.assertEqual(after["type"], "events")
        self.assertEqual(received[-1]["message"].split()[1], str(published - 1))
        numbers = [int(e["message"].split()[1]) for e in received]
        self.assertEqual(numbers, sorted(numbers))
        [stream] = [c.stream for c in self.factory.clients]
        assert stream is not None
        self.assertEqual(stream.rate_skipped, skipped)

    def test_burst_within_the_rate(self) -> None:
        """
        A burst of up to a second's worth of the rate (a tailer sends what
        it read in one poll at once) is not skipped; it goes out in
        messages of about 256 KiB.
        """
        client, pump = self.open(rate=5000)
        self.publish(events(0, 4000, size=300), pump)
        self.assertEqual(client.of_type("skipped"), [])
        self.assertEqual(len(client.events()), 4000)
        sizes = [n for n, m in zip(client.sizes, client.messages) if m["type"] == "events"]
        self.assertGreater(len(sizes), 4)
        self.assertLess(max(sizes), 256 * 1024 + 2000)

    def test_rate_one(self) -> None:
        client, pump = self.open(rate=1)
        for i in range(20):
            self.publish(events(i, 1), pump)
        self.clock.advance(1)
        pump.flush()
        self.assertLessEqual(len(client.events()), 3)
        self.assertEqual(
            len(client.events()) + sum(m["count"] for m in client.of_type("skipped")), 20
        )

    def test_stalled_client(self) -> None:
        """
        A client that does not read: its transport fills and pauses the
        stream; the buck keeps publishing (the subscription drops the
        oldest, within its bounds, and nothing else grows); when the client
        reads again it hears how many were skipped, then the newest events.
        """
        client, pump = self.connect(transport=PausingTransport)
        client.send_json({"type": "filter", "rate": 5000})
        pump.flush()
        server_io = pump.serverIO
        [sub] = self.channel.subscriptions
        [stream] = [c.stream for c in self.factory.clients]
        assert stream is not None
        published = 0
        for _ in range(50):  # 5 s at 20,000 events/s; nothing is pumped
            self.channel.publish(events(published, 2000, size=200))
            published += 2000
            self.clock.advance(0)
            self.clock.advance(0.1)
            self.assertLessEqual(sub.pending, MIN_PENDING * 10)
            self.assertLessEqual(sub.pending_bytes, MAX_PENDING_BYTES)
            self.assertLessEqual(server_io.buffered(), PausingTransport.limit + 300 * 1024)
        self.assertTrue(stream.paused)
        self.assertGreater(sub.dropped, 80_000)
        self.assertEqual(self.channel.published, published)
        sent_while_stalled = stream.sent
        # the client reads again
        for _ in range(20):
            pump.flush()
            self.clock.advance(0.1)
        pump.flush()
        self.assertEqual(sub.pending, 0)
        self.assertFalse(stream.paused)
        received = client.events()
        skipped = sum(m["count"] for m in client.of_type("skipped"))
        self.assertEqual(len(received) + skipped, published)
        self.assertGreater(len(received), sent_while_stalled)
        self.assertEqual(received[-1]["message"].split()[1], str(published - 1))
        self.assertEqual(stream.skipped, skipped)

    def test_stall_timeout(self) -> None:
        """
        A client whose transport stays full for the stall timeout is
        closed (4008) and its subscription freed.
        """
        self.factory = self.make_factory(stall_timeout=5)
        client, pump = self.connect(transport=PausingTransport)
        client.send_json({"type": "filter"})
        pump.flush()
        for i in range(60):
            self.channel.publish(events(i * 100, 100, size=200))
            self.clock.advance(0.1)
        self.assertEqual(len(self.channel.subscriptions), 0)
        self.clock.advance(2)  # the close handshake's timeout
        pump.flush()
        self.assertTrue(client.closed)
        self.assertEqual(self.factory.clients, set())
        closing = [e for e in self.log if e.get("code") == CLOSE_STALLED]
        self.assertEqual(len(closing), 1)

    def test_shared_encoding(self) -> None:
        """
        Many clients with the same events cost one encoding per event.
        """
        clients = [self.open()[0] for _ in range(20)]
        self.publish(events(0, 50))
        self.assertEqual(self.factory.encoder.encoded, 50)
        for client in clients:
            self.assertEqual(len(client.events()), 50)
        self.assertEqual(self.factory.stats()["sent"], 1000)


class TapTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)
        self.key = self.tmp / "cluster.key"
        write_new_key(self.key)
        self.token = self.tmp / "live.token"
        self.token.write_text("0123456789abcdefXYZ\n")
        os.chmod(self.token, 0o600)

    def parse(self, *argv: str) -> Options:
        options = Options()
        options.parseOptions(["--key", str(self.key), "--data", str(self.tmp / "data"), *argv])
        return options

    def error(self, *argv: str) -> str:
        with self.assertRaises(usage.UsageError) as caught:
            self.parse(*argv)
        return str(caught.exception)

    def test_default_none(self) -> None:
        options = self.parse()
        self.assertIsNone(options["live"])
        self.assertIsNone(options.live_token)
        self.assertEqual(options["live-origin"], list(DEFAULT_ORIGINS))
        top = makeService(options, reactor=MemoryReactorClock())
        self.assertFalse(any(isinstance(s, Listener) and "live" in s.program for s in top))

    def test_loopback_needs_no_token(self) -> None:
        self.assertEqual(self.parse("--live", "4480")["live"], "tcp:4480:interface=127.0.0.1")
        self.assertEqual(normalize_live("tcp:0"), "tcp:0")
        for description in ("tcp:0:interface=127.0.0.1", "tcp6:0:interface=\\:\\:1",
                            "tcp:0:interface=localhost", "unix:live.sock"):
            self.assertTrue(is_loopback(description), description)
            self.parse("--live", description)

    def test_elsewhere_needs_a_token(self) -> None:
        for description in ("tcp:4480", "tcp:4480:interface=0.0.0.0",
                            "tcp:4480:interface=192.0.2.7"):
            self.assertFalse(is_loopback(description))
            self.assertIn("give --live-token FILE", self.error("--live", description))
            options = self.parse("--live", description, "--live-token", str(self.token))
            self.assertEqual(options.live_token, "0123456789abcdefXYZ")

    def test_bad_tokens(self) -> None:
        self.assertIn("without --live", self.error("--live-token", str(self.token)))
        self.assertIn("No such file", self.error("--live", "tcp:0", "--live-token", "nope"))
        os.chmod(self.token, 0o644)
        self.assertIn("readable by group or others",
                      self.error("--live", "tcp:0", "--live-token", str(self.token)))
        os.chmod(self.token, 0o600)
        self.token.write_text("short\n")
        self.assertIn("at least 16", self.error("--live", "tcp:0", "--live-token", str(self.token)))
        self.assertIn("--live nope", self.error("--live", "nope:1"))

    def test_config_file(self) -> None:
        config = self.tmp / "buck.toml"
        config.write_text(
            'live = "tcp:0"\nlive_token = "live.token"\n'
            'live_origin = ["https://logs.example.com:*", "http://127.0.0.1:*"]\n'
        )
        options = self.parse("--config", str(config))
        self.assertEqual(options["live"], "tcp:0")
        self.assertEqual(options.live_token, "0123456789abcdefXYZ")
        self.assertEqual(options["live-origin"],
                         ["https://logs.example.com:*", "http://127.0.0.1:*"])

    def test_service(self) -> None:
        """
        With C{--live}, the last listener is the live one, on the buck's
        channel, announced as "logship-buck live listening on ...".
        """
        log = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        options = self.parse("--listen", "tcp:4401:interface=127.0.0.1", "--live", "tcp:4480",
                             "--live-token", str(self.token), "--node", "b7",
                             "--live-origin", "*")
        reactor = MemoryReactorClock()
        top = makeService(options, reactor=reactor)
        children = list(top)
        live = children[-1]
        assert isinstance(live, Listener)
        self.assertEqual(live.program, "logship-buck live")
        factory = live.factory
        assert isinstance(factory, LiveFactory)
        self.assertIs(factory.channel, children[0].channel)  # type: ignore[attr-defined]
        self.assertEqual(factory.node, "b7")
        self.assertEqual(factory._token, "0123456789abcdefXYZ")
        top.privilegedStartService()
        top.startService()
        self.assertEqual([(p, i) for p, _, _, i in reactor.tcpServers],
                         [(4401, "127.0.0.1"), (4480, "")])
        programs = [e["program"] for e in log if "where" in e]
        self.assertEqual(programs, ["logship-buck", "logship-buck live"])
        top.stopService()
