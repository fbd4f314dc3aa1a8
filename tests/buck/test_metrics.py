"""Tests for L{logship.buck.metrics}: the buck's series, from its counters, store and disk."""

from __future__ import annotations

import os

import logship
from logship.buck.metrics import BuckMetrics
from logship.core.event import Event
from logship.wire.messages import Batch
from tests.buck import corrupt, make_event
from tests.buck.common import BuckTestCase
from tests.metricstext import scrape, value


def fake_statvfs(path: str) -> os.statvfs_result:
    # f_bsize f_frsize f_blocks f_bfree f_bavail f_files f_ffree f_favail f_flag f_namemax
    return os.statvfs_result((4096, 4096, 1000, 300, 250, 0, 0, 0, 0, 255))


class BuckMetricsTests(BuckTestCase):
    def test_series(self) -> None:
        """
        Events written per peer and overall, rejected by reason (a corrupt
        event, a write error), the connections, the disk.
        """
        good, good_pair = self.connect("web-2")
        self.send(good, good_pair, Batch(1, "ack2", [make_event(0), make_event(1)]))
        bad, bad_pair = self.connect("evil-1")
        self.send(bad, bad_pair, Batch(9, "ack2", [make_event(5), corrupt(make_event(6))]))
        self.closed_with(bad, bad_pair)
        failing, failing_pair = self.connect("web-3")

        def full(events: list[bytes], sync: bool, allow: object = None) -> list[Event]:
            raise OSError(28, "No space left on device")

        self.store.write_batch = full  # type: ignore[method-assign]
        self.send(failing, failing_pair, Batch(3, "ack2", [make_event(7)]))
        self.closed_with(failing, failing_pair)
        samples = scrape(BuckMetrics(self.buck, statvfs=fake_statvfs))
        self.assertEqual(value(samples, "logship_info", service="buck", node="buck-1",
                               version=logship.__version__), 1)
        self.assertEqual(value(samples, "logship_buck_events_received_total"), 5)
        self.assertEqual(value(samples, "logship_buck_events_written_total"), 2)
        self.assertEqual(value(samples, "logship_buck_events_rejected_total", reason="corrupt"), 2)
        self.assertEqual(
            value(samples, "logship_buck_events_rejected_total", reason="write-error"), 1)
        self.assertEqual(value(samples, "logship_buck_events_rejected_total", reason="host"), 0)
        self.assertEqual(value(samples, "logship_buck_peer_events_written_total", peer="web-2"), 2)
        self.assertEqual(value(samples, "logship_buck_peer_events_written_total", peer="web-3"), 0)
        self.assertEqual(value(samples, "logship_buck_connections_closed_total"), 2)
        self.assertEqual(value(samples, "logship_buck_peers_connected"), 1)
        self.assertEqual(value(samples, "logship_buck_disk_free_bytes"), 250 * 4096)
        self.assertEqual(value(samples, "logship_buck_disk_size_bytes"), 1000 * 4096)

    def test_disk_unreadable(self) -> None:
        def failing(path: str) -> os.statvfs_result:
            raise OSError(5, "Input/output error")

        samples = scrape(BuckMetrics(self.buck, statvfs=failing))
        self.assertNotIn(("logship_buck_disk_free_bytes", ()), samples)
        self.assertEqual(value(samples, "logship_buck_events_written_total"), 0)

    def test_real_disk(self) -> None:
        samples = scrape(BuckMetrics(self.buck))
        self.assertGreater(value(samples, "logship_buck_disk_size_bytes"), 0)
