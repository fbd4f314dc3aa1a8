"""Tests for L{logship.tailer.metrics}: the tailer's series on a L{Clock}, the backlog in events."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import timezone
from typing import Any

from twisted.internet.defer import Deferred

from logship.tailer.metrics import TailerMetrics
from logship.tailer.service import Source, TailerService
from tests.metricstext import scrape, value
from tests.tailer.test_delivery import FakeBuck
from tests.tailer.test_service import T0, ServiceTestCase

BUCKS = ["tcp:host=127.0.0.1:port=4401", "tcp:host=127.0.0.1:port=4402"]


class TailerMetricsTests(ServiceTestCase):
    def start(self) -> tuple[TailerService, TailerMetrics]:
        tailer = self.new_service(node="t1")
        metrics = TailerMetrics(tailer, node="t1", bucks=BUCKS, clock=self.clock,
                                bucket_seconds=60)
        metrics.setServiceParent(tailer)
        tailer.startService()
        return tailer, metrics

    def connect(self, tailer: TailerService) -> dict[str, FakeBuck]:
        bucks = {name: FakeBuck() for name in BUCKS}
        for name, buck in bucks.items():
            tailer.delivery.connected(name, buck)  # type: ignore[arg-type]
        return bucks

    def ack_all(self, tailer: TailerService, bucks: dict[str, FakeBuck]) -> None:
        for name, buck in bucks.items():
            for batch in buck.sent:
                tailer.delivery.acked(name, batch.batch_id)
            buck.sent.clear()

    def test_backlog_and_delivery(self) -> None:
        """
        Lines read into the spool are backlog, in bytes and events, until
        R bucks acknowledged them; the bucks' connections show.
        """
        tailer, metrics = self.start()
        self.write(100)
        self.read_all(tailer)
        samples = scrape(metrics)
        self.assertEqual(value(samples, "logship_tailer_lines_read_total"), 100)
        self.assertEqual(value(samples, "logship_tailer_events_stored_total"), 100)
        self.assertEqual(value(samples, "logship_tailer_backlog_events"), 100)
        self.assertEqual(value(samples, "logship_tailer_backlog_bytes"),
                         tailer.stats()["undelivered_bytes"])
        self.assertGreater(value(samples, "logship_tailer_backlog_bytes"), 0)
        self.assertEqual(value(samples, "logship_tailer_buck_connected", buck="127.0.0.1:4401"), 0)
        self.assertEqual(value(samples, "logship_tailer_replicas"), 2)
        bucks = self.connect(tailer)
        self.clock.advance(0.25)  # a tick pumps
        sent = scrape(metrics)
        self.assertEqual(value(sent, "logship_tailer_events_sent_total"), 100)
        self.assertEqual(value(sent, "logship_tailer_batches_in_flight"), 1)
        self.assertEqual(value(sent, "logship_tailer_buck_connected", buck="127.0.0.1:4402"), 1)
        self.ack_all(tailer, bucks)
        done = scrape(metrics)
        self.assertEqual(value(done, "logship_tailer_events_acked_total"), 100)
        self.assertEqual(value(done, "logship_tailer_backlog_events"), 0)
        self.assertEqual(value(done, "logship_tailer_backlog_bytes"), 0)
        self.assertEqual(value(done, "logship_tailer_batch_copies_sent_total"), 2)
        self.stop(tailer)

    def test_resent(self) -> None:
        tailer, metrics = self.start()
        self.write(10)
        self.read_all(tailer)
        bucks = self.connect(tailer)
        self.clock.advance(0.25)
        tailer.delivery.disconnected(BUCKS[0])
        self.clock.advance(30)  # the other copy's ack timeout
        samples = scrape(metrics)
        self.assertEqual(value(samples, "logship_tailer_batches_resent_total", why="disconnect"), 1)
        self.assertEqual(value(samples, "logship_tailer_batches_resent_total", why="timeout"), 1)
        self.ack_all(tailer, bucks)
        self.stop(tailer)

    def test_backlog_counted_at_the_start(self) -> None:
        """
        A tailer restarted with a backlog in its spool counts its events
        when it starts, and follows them from there.
        """
        tailer, _ = self.start()
        self.write(70)
        self.read_all(tailer)
        self.stop(tailer)
        again, metrics = self.start()
        self.assertEqual(value(scrape(metrics), "logship_tailer_backlog_events"), 70)
        self.write(5, seed=1)
        self.read_all(again)
        self.assertEqual(value(scrape(metrics), "logship_tailer_backlog_events"), 75)
        self.stop(again)

    def test_backlog_unknown_until_counted(self) -> None:
        """
        While the count of the start is running (in a thread in the tap),
        the backlog in events is NaN; a backlog of 0 bytes is 0 events.
        """
        tailer, _ = self.start()
        self.write(10)
        self.read_all(tailer)
        self.stop(tailer)
        pending: list[Callable[..., Any]] = []

        def later(f: Callable[..., Any], *args: Any) -> Deferred[Any]:
            pending.append(f)
            return Deferred()

        again = TailerService(
            sources=[Source(str(self.tmp / "*.log"), "ack2")], state_dir=self.tmp / "state",
            bucks={}, key=None, node="t1", host=b"h", tz=timezone.utc, clock=self.clock,
        )
        metrics = TailerMetrics(again, node="t1", bucks=BUCKS, clock=self.clock,
                                bucket_seconds=60, blocking=later)
        metrics.setServiceParent(again)
        again.startService()
        self.assertEqual(len(pending), 1)
        self.assertTrue(math.isnan(value(scrape(metrics), "logship_tailer_backlog_events")))
        self.assertEqual(metrics.backlog_events(0), 0)
        self.stop(again)

    def test_oldest_unshipped(self) -> None:
        """
        The age of the oldest local bucket not shipped whole counts from
        its end.
        """
        tailer, metrics = self.start()
        self.assertEqual(value(scrape(metrics), "logship_tailer_oldest_unshipped_age_seconds"), 0)
        self.write(10)  # lines from T0 on
        self.read_all(tailer)
        self.assertEqual(tailer.shipper.oldest_unshipped(), T0)
        self.clock.advance(600)
        self.assertEqual(
            value(scrape(metrics), "logship_tailer_oldest_unshipped_age_seconds"),
            self.clock.seconds() - T0 - 60,
        )
        self.stop(tailer)

