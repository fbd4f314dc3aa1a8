"""Tests for L{logship.buck.counters}: per-peer and overall counters."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from logship.buck.counters import Counters, PeerCounters


class PeerCountersTests(SynchronousTestCase):
    def test_both_and_as_dict(self) -> None:
        """
        A peer's counters are made on first use and kept; C{both} gives
        them with the overall ones; C{as_dict} lists the peers by name.
        """
        counters = PeerCounters()
        counters.of("web-2")
        for c in counters.both("web-1"):
            c.events_written += 3
        mine, total = counters.both("web-1")
        self.assertIs(mine, counters.of("web-1"))
        self.assertIs(total, counters.total)
        self.assertEqual((mine.events_written, total.events_written), (3, 3))
        result = counters.as_dict()
        self.assertEqual(list(result["peers"]), ["web-1", "web-2"])
        self.assertEqual(result["peers"]["web-2"], vars(Counters()))
        self.assertEqual(result["total"]["events_written"], 3)
