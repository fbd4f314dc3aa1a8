"""Tests for L{logship.buck.live.endpoint}: the C{--live} shorthand."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from logship.buck.live.endpoint import normalize_live


class EndpointTests(SynchronousTestCase):
    def test_bare_port(self) -> None:
        """
        A bare port listens on 127.0.0.1; an endpoint string is kept.
        """
        self.assertEqual(normalize_live("4480"), "tcp:4480:interface=127.0.0.1")
        self.assertEqual(normalize_live("tcp:0"), "tcp:0")
