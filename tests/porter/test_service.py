"""Tests for L{logship.porter.service} on a L{Clock}: its time source and
when its rounds run (the service with real bucks, index and archive on the
real reactor is in C{tests/integration/porter})."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from logship.archive.dirstore import DirArchive, inline
from logship.core.parse import TICKS_PER_SECOND
from logship.porter.service import PorterService

NOW = 1795685820.0


class RecordingIndex:
    """
    An index that only records what the rounds drop.
    """

    def __init__(self) -> None:
        self.dropped: list[int] = []

    def drop_before(self, point: int) -> Deferred[int]:
        self.dropped.append(point)
        return succeed(0)

    def close(self) -> Deferred[None]:
        return succeed(None)


class RoundTimingTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)
        self.clock = Clock()
        self.clock.advance(NOW)
        self.index = RecordingIndex()

    def porter(self, **options: float) -> PorterService:
        porter = PorterService(
            bucks={}, key=None, node="porter", index=self.index,  # type: ignore[arg-type]
            archive=DirArchive(self.tmp / "archive", run=inline),
            open_index=lambda name: self.index,  # type: ignore[arg-type, return-value]
            state_dir=self.tmp / "state", clock=self.clock, interval=10,
            recent_days=1, **options,  # type: ignore[arg-type]
        )
        porter.startService()
        return porter

    def stop(self, porter: PorterService) -> None:
        self.successResultOf(porter.stopService())
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_first_round_at_start(self) -> None:
        """
        By default the first round runs at the start; its time is the
        clock's (the recent index keeps C{recent_days} back from it).
        """
        porter = self.porter()
        self.assertEqual(porter.stats.rounds, 1)
        self.assertEqual(self.index.dropped, [int((NOW - 86400) * TICKS_PER_SECOND)])
        self.clock.advance(10)
        self.assertEqual(self.index.dropped[-1], int((NOW + 10 - 86400) * TICKS_PER_SECOND))
        self.stop(porter)

    def test_first_round_delayed(self) -> None:
        """
        With C{first_round}, no round runs before it (so a test's own
        rounds do not race one); then one every interval.
        """
        porter = self.porter(first_round=30)
        self.clock.advance(29)
        self.assertEqual((porter.stats.rounds, self.index.dropped), (0, []))
        self.clock.advance(1)
        self.assertEqual(porter.stats.rounds, 1)
        self.clock.advance(10)
        self.assertEqual(porter.stats.rounds, 2)
        self.stop(porter)

    def test_history_times_from_the_clock(self) -> None:
        """
        A history job is created at the clock's time and expires C{hours}
        after it.
        """
        porter = self.porter(first_round=3600)
        job = porter.request_history(1, 2, hours=2)
        self.assertEqual((job.created, job.expires), (NOW, NOW + 7200))
        self.stop(porter)
