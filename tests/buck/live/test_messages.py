"""Tests for L{logship.buck.live.messages}: the events' JSON, shared between clients and bucks."""

from __future__ import annotations

from dataclasses import replace

from logship.buck.live.factory import LiveFactory
from logship.buck.pubsub import Channel
from logship.core.event import decode, encode_fields
from logship.core.parse import TICKS_PER_SECOND
from logship.core.render import event_id, event_json, live_json
from tests.buck import T0, make_event
from tests.buck.live.common import LiveTestCase, events


class EncodingTests(LiveTestCase):
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
        # event_json (logship cat, the API) has more: tokens, the same id.
        self.assertIn("tokens", event_json(event))
        self.assertEqual(event_json(event)["id"], first["id"])

    def test_structured_event(self) -> None:
        """
        A structured event comes with C{msgid} and C{sd} apart and its MSG
        as C{message}, as in the API and C{logship cat --json}.
        """
        client, _ = self.open()
        event = decode(encode_fields(
            T0 * TICKS_PER_SECOND, 165, b"h", b"evntslog", None,
            b'ID47 [ex@32473 iut="3" q="\\"x\\""] An application event', structured=True,
        ))  # fmt: skip
        self.publish([event])
        [shown] = client.events()
        self.assertEqual(
            (shown["msgid"], shown["sd"], shown["message"]),
            ("ID47", {"ex@32473": {"iut": "3", "q": '"x"'}}, "An application event"),
        )
        self.assertEqual(live_json(event), shown)
        self.assertEqual({k: event_json(event)[k] for k in shown}, shown)

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
