"""Tests for L{logship.plumbing.listeners}: which endpoint strings are loopback-only."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from logship.plumbing.listeners import is_loopback


class LoopbackTests(SynchronousTestCase):
    def test_loopback(self) -> None:
        """
        Loopback addresses, C{localhost} and UNIX sockets are loopback.
        """
        for description in (
            "tcp:4480:interface=127.0.0.1",
            "tcp:4480:interface=127.1.2.3",
            "tcp:port=4480:interface=localhost",
            "tcp:0:interface=localhost",
            "tcp6:4480:interface=\\:\\:1",
            "unix:/run/archie.sock",
            "unix:live.sock",
        ):
            self.assertTrue(is_loopback(description), description)

    def test_elsewhere(self) -> None:
        """
        No interface (every one), the wildcard, another address, TLS: not.
        """
        for description in (
            "tcp:4480",
            "tcp:4480:interface=0.0.0.0",
            "tcp:4480:interface=192.168.1.5",
            "tcp:4480:interface=192.0.2.7",
            "tcp6:4480:interface=\\:\\:",
            "ssl:4480:interface=127.0.0.1",
        ):
            self.assertFalse(is_loopback(description), description)
