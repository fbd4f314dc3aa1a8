"""Tests for L{logship.buck.live.protocol}: hello, message dispatch and closing, over in-memory WebSockets."""

from __future__ import annotations

import json

from logship.buck.live.messages import CLOSE_BINARY, CLOSE_NOT_JSON, CLOSE_TOO_BIG
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
