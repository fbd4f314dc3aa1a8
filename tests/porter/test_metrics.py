"""Tests for L{logship.porter.metrics}: rounds, the index's lag, the oldest bucket not archived, on a L{Clock}."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from logship.archive.dirstore import DirArchive, inline
from logship.buck.pubsub import Channel
from logship.buck.service import BuckService
from logship.buck.store import BucketStore
from logship.porter.bucks import BuckLink, BuckUnavailable
from logship.porter.metrics import PorterMetrics
from logship.porter.service import PorterService
from tests.buck import T0, make_event
from tests.metricstext import scrape, value
from tests.porter.test_service import RecordingIndex
from tests.wire.common import KEY, client_factory, connect_pair

NOW = T0 + 600  # bucket T0 is closed


class PorterMetricsTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)
        self.clock = Clock()
        self.clock.advance(NOW)
        self.store = BucketStore(self.tmp / "b1", 60, self.clock)
        self.buck = BuckService(
            store=self.store, channel=Channel(self.clock), clock=self.clock, key=KEY, node="b1",
        )
        self.index = RecordingIndex()
        self.porter = PorterService(
            bucks={}, key=None, node="porter", index=self.index,  # type: ignore[arg-type]
            archive=DirArchive(self.tmp / "archive", run=inline),
            open_index=lambda name: self.index,  # type: ignore[arg-type, return-value]
            state_dir=self.tmp / "state", clock=self.clock, interval=10,
            quiet=120, first_round=3600,
        )
        self.link = BuckLink("tcp:host=127.0.0.1:port=4401", self.clock, timeout=5.0)
        self.porter.links["tcp:host=127.0.0.1:port=4401"] = self.link
        self.porter.startService()
        factory = client_factory(self.clock, self.link, key=KEY, node="porter", role="porter")  # type: ignore[arg-type]
        self.pair = connect_pair(self.buck.factory, factory, self.clock)
        self.metrics = PorterMetrics(
            self.porter, node="porter", clock=self.clock, bucket_seconds=60, quiet=120
        )

    def tearDown(self) -> None:
        self.pair.client_transport.loseConnection()
        self.pair.flush()
        self.successResultOf(self.porter.stopService())
        self.store.close()
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def round(self) -> None:
        running = self.porter.round()
        assert running is not None
        for _ in range(1000):
            if running.called:
                break
            self.pair.flush()
        self.successResultOf(running)

    def test_before_the_first_round(self) -> None:
        """
        The lag counts from the porter's start (and the bucket interval);
        nothing listed is nothing unarchived.
        """
        self.clock.advance(30)
        samples = scrape(self.metrics)
        self.assertEqual(value(samples, "logship_porter_index_lag_seconds"), 90)
        self.assertEqual(value(samples, "logship_porter_oldest_unarchived_age_seconds"), 0)
        self.assertEqual(value(samples, "logship_porter_rounds_total"), 0)
        self.assertEqual(value(samples, "logship_porter_quiet_seconds"), 120)
        self.assertEqual(
            value(samples, "logship_porter_buck_connected", buck="127.0.0.1:4401"), 1)
        self.assertEqual(value(samples, "logship_porter_history_jobs", state="queued"), 0)

    def test_rounds_lag_and_archive(self) -> None:
        """
        A round loads the closed bucket (past its quiet period, it archives
        it too): the lag is then the bucket interval, and grows until the
        next round.
        """
        self.store.write_batch([make_event(i, second=i) for i in range(5)], sync=False)
        self.round()
        samples = scrape(self.metrics)
        self.assertEqual(value(samples, "logship_porter_rounds_total"), 1)
        self.assertEqual(value(samples, "logship_porter_index_lag_seconds"), 60)
        self.assertEqual(value(samples, "logship_porter_loaded_events_total"), 5)
        self.assertEqual(value(samples, "logship_porter_archived_buckets_total"), 1)
        self.assertEqual(value(samples, "logship_porter_oldest_unarchived_age_seconds"), 0)
        self.clock.advance(100)
        self.round()
        self.clock.advance(40)
        samples = scrape(self.metrics)
        self.assertEqual(value(samples, "logship_porter_index_lag_seconds"), 100)

    def test_unarchived_age(self) -> None:
        self.porter._quiet = 86400  # type: ignore[attr-defined]
        self.store.write_batch([make_event(1)], sync=False)
        self.round()
        self.clock.advance(1000)
        self.assertEqual(
            value(scrape(self.metrics), "logship_porter_oldest_unarchived_age_seconds"),
            NOW + 1000 - T0 - 60,
        )

    def test_failure_keeps_the_lag_growing(self) -> None:
        """
        A round in which a buck failed does not move the index's time on.
        """
        self.round()
        self.clock.advance(300)

        async def failing(limit: int = 0) -> list[tuple[int, int]]:
            raise BuckUnavailable("gone")

        self.link.listing = failing  # type: ignore[method-assign]
        self.round()
        samples = scrape(self.metrics)
        self.assertEqual(value(samples, "logship_porter_index_lag_seconds"), 360)
        self.assertEqual(value(samples, "logship_porter_buck_failures_total"), 1)

    def test_history_jobs(self) -> None:
        self.porter.request_history(T0, T0 + 60)
        samples = scrape(self.metrics)
        jobs = sum(value(samples, "logship_porter_history_jobs", state=s)
                   for s in ("queued", "loading", "ready", "failed", "expired"))
        self.assertEqual(jobs, 1)
