"""Tests for L{logship.buck.live.endpoint}: the C{--live} shorthand and the loopback check."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from logship.buck.live.endpoint import is_loopback, normalize_live


class EndpointTests(SynchronousTestCase):
    def test_bare_port(self) -> None:
        """
        A bare port listens on 127.0.0.1; an endpoint string is kept.
        """
        self.assertEqual(normalize_live("4480"), "tcp:4480:interface=127.0.0.1")
        self.assertEqual(normalize_live("tcp:0"), "tcp:0")

    def test_loopback(self) -> None:
        """
        Loopback addresses, C{localhost} and UNIX sockets are loopback.
        """
        for description in ("tcp:0:interface=127.0.0.1", "tcp6:0:interface=\\:\\:1",
                            "tcp:0:interface=localhost", "unix:live.sock"):
            self.assertTrue(is_loopback(description), description)

    def test_elsewhere(self) -> None:
        """
        No interface (every one), the wildcard or another address is not.
        """
        for description in ("tcp:4480", "tcp:4480:interface=0.0.0.0",
                            "tcp:4480:interface=192.0.2.7"):
            self.assertFalse(is_loopback(description), description)
