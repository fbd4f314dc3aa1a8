"""Tests for L{logship.buck.ingest}: batches written, acknowledged and published, over in-memory wires."""

from __future__ import annotations

from logship.buck.store import HostCheck
from logship.core.event import decode
from logship.wire.messages import Ack, Batch
from tests.buck import T0, corrupt, make_event, messages, read_bucket
from tests.buck.common import BuckTestCase


class BatchTests(BuckTestCase):
    def test_written_then_acknowledged(self) -> None:
        """
        A batch lands in its bucket files and is acknowledged with its
        count; when the ack reaches the client, the events are on disk.
        """
        client, pair = self.connect()
        batch = [make_event(i, i) for i in range(10)] + [make_event(10, 60)]
        self.send(client, pair, Batch(7, "ack2", batch))
        self.assertEqual(client.received(Ack), [Ack(7, 11)])
        self.assertEqual(client.on_disk_at_ack, [10])
        self.assertEqual(
            messages(read_bucket(self.store.path_of(T0))),
            [decode(e).message for e in batch[:10]],
        )
        self.assertEqual(len(read_bucket(self.store.path_of(T0 + 60))), 1)
        self.assertEqual(self.fsynced, [])

    def test_ack_only_after_write(self) -> None:
        """
        The buck sends the ack after the store returned (and after the fsync
        for C{ack2+fsync}), never before.
        """
        client, pair = self.connect()
        write_batch = self.store.write_batch

        def spy(events: list[bytes], sync: bool, allow: HostCheck | None = None) -> list[bytes]:
            self.order.append("write")
            result = write_batch(events, sync, allow)
            self.order.append("written")
            return result

        self.store.write_batch = spy  # type: ignore[method-assign]
        transport = pair.server.transport
        assert transport is not None
        send = transport.write

        def sending(data: bytes) -> None:
            self.order.append("send")
            send(data)

        transport.write = sending  # type: ignore[method-assign]
        self.send(client, pair, Batch(1, "ack2+fsync", [make_event(0)]))
        self.assertEqual(
            self.order, ["write", *["fsync"] * 6, "written", "send"]
        )
        self.assertEqual(client.received(Ack), [Ack(1, 1)])

    def test_fsync_per_durability(self) -> None:
        """
        Only C{ack2+fsync} batches are fsynced.
        """
        client, pair = self.connect()
        self.send(client, pair, Batch(1, "ack1", [make_event(0)]))
        self.send(client, pair, Batch(2, "ack2", [make_event(1)]))
        self.assertEqual(self.fsynced, [])
        self.send(client, pair, Batch(3, "ack2+fsync", [make_event(2)]))
        self.assertEqual(len(self.fsynced), 1)
        self.assertEqual([a.batch_id for a in client.received(Ack)], [1, 2, 3])

    def test_live_published_not_written(self) -> None:
        """
        A C{live} batch is published to subscribers, neither written nor
        acknowledged.
        """
        client, pair = self.connect()
        self.send(client, pair, Batch(1, "live", [make_event(0), make_event(1)]))
        self.assertEqual(client.received(Ack), [])
        self.assertEqual(self.bucket_files(), [])
        self.assertEqual(len(self.feed.pull().events), 2)
        stats = self.buck.stats()["total"]
        self.assertEqual((stats["events_live"], stats["events_written"]), (2, 0))

    def test_written_events_published(self) -> None:
        client, pair = self.connect()
        batch = [make_event(i) for i in range(3)]
        self.send(client, pair, Batch(1, "ack2", batch))
        self.assertEqual(self.feed.pull().events, [decode(e) for e in batch])

    def test_stalled_subscriber_does_not_hold_up_writes(self) -> None:
        """
        A subscriber that never pulls loses events (counted); every batch
        is still written and acknowledged.
        """
        stalled = self.channel.subscribe("stalled", max_pending=5)
        client, pair = self.connect()
        for n in range(20):
            self.send(client, pair, Batch(n, "ack2", [make_event(n * 10 + i) for i in range(10)]))
        self.assertEqual(len(client.received(Ack)), 20)
        self.assertEqual(len(read_bucket(self.store.path_of(T0))), 200)
        self.assertEqual(stalled.pending, 5)
        self.assertEqual(stalled.dropped, 195)

    def test_corrupt_event_closes_that_connection_only(self) -> None:
        """
        A batch with a corrupt event: the connection is closed with the
        reason, nothing of the batch is written, it is counted; a second
        client keeps delivering.
        """
        good, good_pair = self.connect("web-2")
        self.send(good, good_pair, Batch(1, "ack2", [make_event(0)]))
        bad, bad_pair = self.connect("evil-1")
        batch = [make_event(100), make_event(101, 60), corrupt(make_event(102))]
        self.send(bad, bad_pair, Batch(9, "ack2", batch))
        reason = self.closed_with(bad, bad_pair)
        self.assertIn("batch 9: event 2 is corrupt", reason)
        self.assertEqual(bad.received(Ack), [])
        (rejection,) = self.rejections()
        self.assertEqual(rejection["peer_node"], "evil-1")
        self.assertEqual(rejection["batch_id"], 9)
        self.send(good, good_pair, Batch(2, "ack2", [make_event(1)]))
        self.assertEqual([a.batch_id for a in good.received(Ack)], [1, 2])
        self.assertEqual(
            [e.point % 1000 for e in read_bucket(self.store.path_of(T0))], [0, 1]
        )
        self.assertFalse(self.store.path_of(T0 + 60).exists())
        stats = self.buck.stats()
        self.assertEqual(stats["peers"]["evil-1"]["batches_rejected"], 1)
        self.assertEqual(stats["peers"]["evil-1"]["events_rejected"], 3)
        self.assertEqual(stats["peers"]["web-2"]["events_written"], 2)
        self.assertEqual(stats["total"]["batches_rejected"], 1)
        self.assertEqual(stats["total"]["connections_closed"], 1)

    def test_write_error_closes_without_ack(self) -> None:
        """
        If the disk fails, no ack is sent and the client is told why (it
        will deliver to other bucks).
        """
        client, pair = self.connect()

        def failing(events: list[bytes], sync: bool, allow: HostCheck | None = None) -> list[bytes]:
            raise OSError(28, "No space left on device")

        self.store.write_batch = failing  # type: ignore[method-assign]
        self.send(client, pair, Batch(3, "ack2", [make_event(0)]))
        self.assertIn("cannot write it", self.closed_with(client, pair))
        self.assertEqual(client.received(Ack), [])
