"""Tests for L{logship.buck.live.filter}: what a client asks to see, parsed and applied."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from logship.buck.live.filter import (
    BadFilter,
    BadMessage,
    LiveFilter,
    Unreadable,
    parse_filter,
    read_message,
)
from logship.buck.live.messages import CLOSE_BINARY, CLOSE_NOT_JSON
from tests.buck.live.common import Client, LiveTestCase, events


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


class ReadTests(SynchronousTestCase):
    """
    The filter and its parsing, without a connection.
    """

    def test_filter_object(self) -> None:
        self.assertIsNone(LiveFilter().accept_function())
        accept = LiveFilter(hosts=frozenset({b"a"}), substring=b"zq").accept_function()
        assert accept is not None
        [event] = events(0, 1, host=b"a")
        self.assertFalse(accept(event))
        self.assertTrue(accept(replace(event, message=b"xzqy")))
        self.assertFalse(accept(replace(event, shn=b"b", message=b"zq")))

    def test_read_message(self) -> None:
        """
        A filter message gives its filter; a binary or non-JSON one is
        unreadable (its close code), any other is a bad message.
        """
        self.assertEqual(
            read_message(b'{"type": "filter", "hosts": ["a"], "rate": 7}', False),
            LiveFilter(hosts=frozenset({b"a"}), rate=7),
        )
        self.assertEqual(read_message(b'{"type": "filter", "substring": ""}', False), LiveFilter())
        for payload, binary, code in [(b"{}", True, CLOSE_BINARY), (b"{", False, CLOSE_NOT_JSON)]:
            with self.assertRaises(Unreadable) as caught:
                read_message(payload, binary)
            self.assertEqual(caught.exception.code, code)
        bad: list[tuple[bytes, type[BadMessage]]] = [
            (b"[1]", BadMessage), (b'{"type": "other"}', BadMessage), (b'{"type": "filter", "rate": 0}', BadFilter)
        ]
        for payload, kind in bad:
            self.assertRaises(kind, read_message, payload, False)

    def test_parse_filter(self) -> None:
        message: dict[str, Any] = {"type": "filter", "apps": ["cron", "cron"], "rate": None}
        self.assertEqual(parse_filter(message), LiveFilter(apps=frozenset({b"cron"})))
