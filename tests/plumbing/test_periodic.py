"""Tests for L{logship.plumbing.periodic}, on a L{Clock}."""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.logger import Logger
from twisted.trial.unittest import SynchronousTestCase

from logship.plumbing.periodic import periodic


class PeriodicTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.runs: list[float] = []

    def job(self) -> None:
        self.runs.append(self.clock.seconds())

    def test_at_once_then_every_interval(self) -> None:
        timer = periodic(10, self.job, self.clock, Logger())
        timer.startService()
        self.assertEqual(self.runs, [0])
        self.clock.advance(10)
        self.assertEqual(self.runs, [0, 10])
        self.successResultOf(timer.stopService())
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_first_run_delayed(self) -> None:
        """
        With C{first}, nothing runs at the start; the first run comes
        C{first} seconds later, then one every interval.
        """
        timer = periodic(10, self.job, self.clock, Logger(), first=30)
        timer.startService()
        self.assertTrue(timer.running)
        self.clock.advance(29)
        self.assertEqual(self.runs, [])
        self.clock.advance(1)
        self.assertEqual(self.runs, [30])
        self.clock.advance(10)
        self.assertEqual(self.runs, [30, 40])
        self.successResultOf(timer.stopService())
        self.assertFalse(timer.running)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_stopped_before_the_first_run(self) -> None:
        timer = periodic(10, self.job, self.clock, Logger(), first=30)
        timer.startService()
        self.successResultOf(timer.stopService())
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(100)
        self.assertEqual(self.runs, [])

    def test_survives_failures(self) -> None:
        def failing() -> None:
            self.job()
            raise RuntimeError("boom")

        failing.__name__ = "failing"
        timer = periodic(10, failing, self.clock, Logger(), first=5)
        timer.startService()
        self.clock.advance(5)
        self.clock.advance(10)
        self.assertEqual(self.runs, [5, 15])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 2)
        self.successResultOf(timer.stopService())
