"""Tests for L{logship.buck.live.protocol}: hello, message dispatch and closing, over in-memory WebSockets."""

from __future__ import annotations

import json

from logship.buck.live import protocol
from logship.buck.live.messages import (
    CLOSE_BINARY,
    CLOSE_INTERNAL,
    CLOSE_NO_FILTER,
    CLOSE_NOT_JSON,
    CLOSE_TOO_BIG,
)
from tests.buck.live.common import LiveTestCase, events


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

    def test_no_filter(self) -> None:
        """
        A client that sends no filter within the filter timeout is closed
        (4008), its slot freed; one that did stays.
        """
        self.factory = self.make_factory(filter_timeout=5)
        idle, idle_pump = self.connect()
        busy, busy_pump = self.connect()
        busy.send_json({"type": "filter"})
        busy_pump.flush()
        self.clock.advance(4.9)
        idle_pump.flush()
        self.assertFalse(idle.closed)
        self.clock.advance(0.1)
        idle_pump.flush()
        busy_pump.flush()
        self.assertEqual(idle.close_code, CLOSE_NO_FILTER)
        self.assertIn("no filter within 5 s", idle.close_reason or "")
        self.assertFalse(busy.closed)
        self.assertEqual(len(self.factory.clients), 1)

    def test_nested_json(self) -> None:
        """
        60 KB of nested JSON (a RecursionError in the parser) closes the
        connection with 4007, without a traceback in the log.
        """
        client, pump = self.open()
        client.sendMessage(b"[" * 60_000, isBinary=False)
        pump.flush()
        self.assertEqual(client.close_code, CLOSE_NOT_JSON)
        self.assertIn("nested too deeply", client.close_reason or "")
        self.assertEqual([e for e in self.log if "log_failure" in e], [])
        client, pump = self.open()
        client.sendMessage(b'{"type": "filter", "hosts": ' + b"[" * 30_000 + b"]" * 30_000 + b"}",
                           isBinary=False)
        pump.flush()
        self.assertEqual(client.close_code, CLOSE_NOT_JSON)

    def test_odd_values(self) -> None:
        """
        Values that cannot be used (a lone surrogate, a nested list where a
        name goes) are answered with an error; the connection stays.
        """
        client, pump = self.open()
        for message, error in [
            (b'{"type": "filter", "substring": "\\ud800"}', "substring: not valid Unicode"),
            (b'{"type": "filter", "apps": ["\\udfff"]}', "apps: not valid Unicode"),
            (b'{"type": "filter", "hosts": [' + b"[" * 400 + b"]" * 400 + b"]}",
             "hosts: expected strings, not list"),
            (b'{"type": ' + b"[" * 400 + b"]" * 400 + b"}", "unknown message type list"),
            (b'{"type": "filter", "rate": {"a": [1]}}', "rate: expected a whole number, not dict"),
        ]:
            client.sendMessage(message, isBinary=False)
            pump.flush()
            self.assertIn(error, client.messages[-1].get("error", ""), message[:60])
        self.assertFalse(client.closed)
        self.assertEqual([e for e in self.log if "log_failure" in e], [])

    def test_unexpected_error(self) -> None:
        """
        A message the buck fails to read for an unforeseen reason closes
        the connection (4011), logged; Autobahn never sees the exception.
        """
        def broken(payload: bytes, is_binary: bool) -> None:
            raise KeyError("a bug")

        self.patch(protocol, "read_message", broken)
        client, pump = self.open()
        self.assertEqual(client.close_code, CLOSE_INTERNAL)
        failures = [e for e in self.log if "log_failure" in e]
        self.assertEqual(len(failures), 1)
        self.flushLoggedErrors(KeyError)
