"""Tests for L{logship.buck.service}: the buck's dispatch, counters and lifecycle over in-memory wires."""

from __future__ import annotations

from logship.buck.service import HOUSEKEEPING_INTERVAL
from logship.wire.messages import Ack, Batch, Error
from tests.buck import make_event
from tests.buck.common import BuckTestCase, Client, bucket_bytes, put_chunks
from tests.wire.common import Pair


class DispatchTests(BuckTestCase):
    def test_unexpected_message(self) -> None:
        client, pair = self.connect()
        self.send(client, pair, Ack(1, 1))
        self.assertIn("does not accept ack", self.closed_with(client, pair))

    def test_stats(self) -> None:
        a, a_pair = self.connect("web-1")
        b, b_pair = self.connect("web-2")
        self.send(a, a_pair, Batch(1, "ack2", [make_event(0), make_event(1)]))
        self.send(b, b_pair, Batch(1, "ack1", [make_event(2)]))
        stats = self.buck.stats()
        self.assertEqual(stats["total"]["batches_received"], 2)
        self.assertEqual(stats["total"]["events_written"], 3)
        self.assertEqual(stats["peers"]["web-1"]["events_received"], 2)
        self.assertEqual(stats["peers"]["web-2"]["events_written"], 1)
        self.assertEqual(stats["connected"], 2)
        self.assertEqual(stats["store"]["events_written"], 3)
        self.assertEqual(stats["wire"]["handshakes"], 2)
        self.assertEqual(stats["channel"]["published"], 3)


class LifecycleTests(BuckTestCase):
    def test_periodic_jobs_survive_errors(self) -> None:
        """
        The stats and housekeeping ticks are logged, and one that raises is
        logged without stopping the next ones.
        """
        self.buck.startService()
        self.addCleanup(self.buck.stopService)
        calls = []

        def close_idle(now: float) -> int:
            calls.append(now)
            if len(calls) == 2:
                raise RuntimeError("disk on fire")
            return 0

        self.store.close_idle = close_idle  # type: ignore[method-assign]
        for _ in range(3):
            self.clock.advance(HOUSEKEEPING_INTERVAL)
        self.assertEqual(len(calls), 3)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        stats_lines = [e for e in self.log if "stats" in e and "node" in e]
        self.assertTrue(stats_lines)
        self.assertEqual(stats_lines[0]["stats"]["node"], "buck-1")

    def test_stats_line(self) -> None:
        self.buck = self.make_buck(stats_interval=60)
        client, pair = self.connect()
        self.buck.startService()
        self.send(client, pair, Batch(1, "ack2", [make_event(i) for i in range(120)]))
        self.clock.advance(60)
        line = [e for e in self.log if "rate" in e][-1]
        self.assertEqual(line["events_written"], 120)
        self.assertEqual(line["rate"], 2.0)
        self.buck.stopService()
        pair.flush()

    def test_stop(self) -> None:
        """
        Stopping closes the connections, drops unfinished uploads and closes
        the store; no timers are left behind.
        """
        self.buck.startService()
        client, pair = self.connect()
        self.send(client, pair, Batch(1, "ack2", [make_event(0)]))
        self.upload_first_chunk(client, pair)
        self.assertEqual(self.store.open_files, 1)
        self.buck.stopService()
        pair.flush()
        self.assertTrue(pair.lost)
        self.assertIn("shutting down", str(client.received(Error)[0].reason))
        self.assertEqual(list(self.store.incoming.iterdir()), [])
        self.assertEqual(self.store.open_files, 0)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def upload_first_chunk(self, client: Client, pair: Pair) -> None:
        data = bucket_bytes([make_event(i, i) for i in range(60)])
        self.send(client, pair, put_chunks(1, data)[0])
