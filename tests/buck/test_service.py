"""Tests for L{logship.buck.service}: the buck's ingest over in-memory wires."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path
from typing import Any

from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from logship.buck.pubsub import Channel
from logship.buck.service import HOUSEKEEPING_INTERVAL, BuckService
from logship.buck.store import BucketStore
from logship.core.bucket import encode_record
from logship.core.event import Event, decode
from logship.wire.messages import (
    MAX_CHUNK,
    Ack,
    Archived,
    ArchivedAck,
    ArchivedQuery,
    ArchivedReply,
    Batch,
    BucketAck,
    BucketData,
    BucketGet,
    BucketList,
    BucketListing,
    BucketPut,
    Error,
    Message,
)
from logship.wire.messages import Role
from logship.wire.protocol import IPeerConnection
from tests.buck import T0, corrupt, make_event, messages, read_bucket
from tests.wire.common import KEY, Pair, RecordingHandler, client_factory, connect_pair


class Client(RecordingHandler):
    """
    A tailer's handler that notes, when each ack arrives, what the buck's
    bucket file of L{T0} holds at that moment.
    """

    def __init__(self, bucket: Path) -> None:
        super().__init__(ack=False)
        self.bucket = bucket
        self.on_disk_at_ack: list[int] = []

    def message_received(self, peer: IPeerConnection, message: Message) -> None:
        super().message_received(peer, message)
        if isinstance(message, Ack):
            on_disk = len(read_bucket(self.bucket)) if self.bucket.exists() else 0
            self.on_disk_at_ack.append(on_disk)

    @property
    def peer(self) -> IPeerConnection:
        return self.connected_peers[-1]

    def received(self, kind: type) -> list[Any]:
        return [m for _, m in self.messages if isinstance(m, kind)]


class BuckTestCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)
        self.clock = Clock()
        self.fsynced: list[int] = []
        self.order: list[str] = []
        self.store = BucketStore(
            self.tmp / "data", 60, self.clock, fsync=self.fsync
        )
        self.addCleanup(self.store.close)
        self.channel = Channel(self.clock)
        self.feed = self.channel.subscribe("test")
        self.buck = self.make_buck()
        self.log = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)

    def make_buck(self, **kwargs: Any) -> BuckService:
        return BuckService(
            store=self.store,
            channel=self.channel,
            clock=self.clock,
            key=KEY,
            node="buck-1",
            **kwargs,
        )

    def fsync(self, fd: int) -> None:
        self.fsynced.append(fd)
        self.order.append("fsync")

    def connect(self, node: str = "web-1", role: Role = "tailer") -> tuple[Client, Pair]:
        client = Client(self.store.path_of(T0))
        pair = connect_pair(
            self.buck.factory,
            client_factory(self.clock, client, node=node, role=role),
            self.clock,
        )
        self.assertEqual(len(client.connected_peers), 1)
        return client, pair

    def send(self, client: Client, pair: Pair, message: Message) -> None:
        client.peer.send(message)
        pair.flush()

    def bucket_files(self) -> list[Path]:
        return sorted(p for p in self.store.buckets.rglob("*") if p.is_file())

    def closed_with(self, client: Client, pair: Pair) -> str:
        """
        The reason the buck gave when it closed the client's connection.
        """
        self.assertTrue(pair.lost)
        (error,) = client.received(Error)
        return str(error.reason)

    def rejections(self) -> list[dict[str, Any]]:
        return [e for e in self.log if e.get("reason") == "rejected-input"]


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

        def spy(events: list[bytes], sync: bool) -> list[Event]:
            self.order.append("write")
            result = write_batch(events, sync)
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

        def failing(events: list[bytes], sync: bool) -> list[Event]:
            raise OSError(28, "No space left on device")

        self.store.write_batch = failing  # type: ignore[method-assign]
        self.send(client, pair, Batch(3, "ack2", [make_event(0)]))
        self.assertIn("cannot write it", self.closed_with(client, pair))
        self.assertEqual(client.received(Ack), [])

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


def put_chunks(
    upload_id: int, data: bytes, start: int = T0, seconds: int = 60, size: int = 1000,
    digest: bytes | None = None,
) -> list[BucketPut]:
    """
    The L{BucketPut} chunks of an upload of C{data}.
    """
    chunks = [data[i : i + size] for i in range(0, len(data), size)] or [b""]
    puts = []
    offset = 0
    for n, chunk in enumerate(chunks):
        last = n == len(chunks) - 1
        sha = (digest or hashlib.sha256(data).digest()) if last else None
        puts.append(BucketPut(upload_id, start, seconds, offset, chunk, last, sha))
        offset += len(chunk)
    return puts


def bucket_bytes(events: list[bytes]) -> bytes:
    return b"".join(encode_record(e) for e in events)


class UploadTests(BuckTestCase):
    def upload(self, client: Client, pair: Pair, puts: list[BucketPut]) -> None:
        for put in puts:
            client.peer.send(put)
        pair.flush()

    def incoming(self) -> list[Path]:
        return list(self.store.incoming.iterdir())

    def test_new_bucket(self) -> None:
        """
        A whole bucket uploaded in chunks is verified, merged, acknowledged
        with its counts, and the temporary file removed.
        """
        client, pair = self.connect()
        events = [make_event(i, i) for i in range(40)]
        puts = put_chunks(5, bucket_bytes(events))
        self.assertGreater(len(puts), 2)
        self.upload(client, pair, puts)
        self.assertEqual(client.received(BucketAck), [BucketAck(5, T0, 40, 40)])
        self.assertEqual(
            read_bucket(self.store.path_of(T0)), [decode(e) for e in events]
        )
        self.assertEqual(self.incoming(), [])
        self.assertEqual(self.buck.uploads_in_progress, 0)
        total = self.buck.stats()["total"]
        self.assertEqual((total["uploads_merged"], total["upload_new"]), (1, 40))

    def test_duplicate_and_overlap(self) -> None:
        """
        Events the buck already has (from batches or an earlier upload) are
        not added again.
        """
        client, pair = self.connect()
        self.send(client, pair, Batch(1, "ack2", [make_event(i, i) for i in range(0, 20, 2)]))
        events = [make_event(i, i) for i in range(20)]
        self.upload(client, pair, put_chunks(1, bucket_bytes(events)))
        self.upload(client, pair, put_chunks(2, bucket_bytes(events)))
        self.assertEqual(
            client.received(BucketAck),
            [BucketAck(1, T0, 20, 10), BucketAck(2, T0, 20, 0)],
        )
        self.assertEqual(len(read_bucket(self.store.path_of(T0))), 20)

    def test_interleaved_uploads(self) -> None:
        client, pair = self.connect()
        first = put_chunks(1, bucket_bytes([make_event(i, i) for i in range(30)]))
        second = put_chunks(
            2, bucket_bytes([make_event(i, 60 + i) for i in range(30)]), start=T0 + 60
        )
        for a, b in zip(first, second):
            client.peer.send(a)
            client.peer.send(b)
        pair.flush()
        self.assertEqual(
            sorted(a.upload_id for a in client.received(BucketAck)), [1, 2]
        )

    def test_bad_sha256(self) -> None:
        """
        A checksum mismatch rejects the upload: nothing merged, the
        temporary file removed, the connection closed with the reason.
        """
        client, pair = self.connect()
        events = [make_event(i, i) for i in range(20)]
        self.upload(client, pair, put_chunks(3, bucket_bytes(events), digest=bytes(32)))
        self.assertIn("upload 3: SHA-256 mismatch", self.closed_with(client, pair))
        self.assertEqual(self.bucket_files(), [])
        self.assertEqual(self.incoming(), [])
        self.assertEqual(client.received(BucketAck), [])
        self.assertEqual(self.buck.stats()["total"]["uploads_rejected"], 1)

    def test_gap(self) -> None:
        client, pair = self.connect()
        puts = put_chunks(3, bucket_bytes([make_event(i, i) for i in range(60)]))
        self.upload(client, pair, [puts[0], puts[2]])
        self.assertIn("expected 1000", self.closed_with(client, pair))
        self.assertEqual(self.incoming(), [])
        self.assertEqual(self.bucket_files(), [])

    def test_not_from_the_start(self) -> None:
        client, pair = self.connect()
        puts = put_chunks(3, bucket_bytes([make_event(i, i) for i in range(60)]))
        self.upload(client, pair, puts[1:])
        self.assertIn("first chunk at offset 1000", self.closed_with(client, pair))

    def test_wrong_interval(self) -> None:
        client, pair = self.connect()
        self.upload(client, pair, put_chunks(3, bucket_bytes([make_event(0)]), seconds=30))
        self.assertIn("interval 30 s differs", self.closed_with(client, pair))
        self.assertEqual(self.incoming(), [])

    def test_corrupt_content(self) -> None:
        """
        A checksum that matches does not make a corrupt record acceptable.
        """
        client, pair = self.connect()
        data = bucket_bytes([make_event(0), corrupt(make_event(1))])
        self.upload(client, pair, put_chunks(3, data))
        self.assertIn("crc mismatch", self.closed_with(client, pair))
        self.assertEqual(self.bucket_files(), [])
        self.assertEqual(self.incoming(), [])

    def test_too_large(self) -> None:
        self.buck = self.make_buck(max_upload=2500)
        client, pair = self.connect()
        puts = put_chunks(3, bucket_bytes([make_event(i, i) for i in range(40)]))
        self.upload(client, pair, puts)
        self.assertIn("larger than 2500 bytes", self.closed_with(client, pair))
        self.assertEqual(self.incoming(), [])

    def test_incoming_bound(self) -> None:
        """
        Uploads in progress together are bounded: beyond, the upload is
        refused (try later).
        """
        self.buck = self.make_buck(max_incoming=1500)
        a, a_pair = self.connect("web-1")
        b, b_pair = self.connect("web-2")
        data = bucket_bytes([make_event(i, i) for i in range(40)])
        self.upload(a, a_pair, put_chunks(1, data)[:1])
        self.upload(b, b_pair, put_chunks(1, data)[:1])
        self.assertIn("try later", self.closed_with(b, b_pair))
        self.assertFalse(a_pair.lost)
        self.assertEqual(len(self.incoming()), 1)

    def test_abandoned_by_disconnect(self) -> None:
        """
        An upload whose connection ends before its last chunk is dropped
        and its temporary file removed.
        """
        client, pair = self.connect()
        puts = put_chunks(3, bucket_bytes([make_event(i, i) for i in range(60)]))
        self.upload(client, pair, puts[:2])
        self.assertEqual(len(self.incoming()), 1)
        pair.client_transport.loseConnection()
        pair.flush()
        self.assertTrue(pair.lost)
        self.assertEqual(self.incoming(), [])
        self.assertEqual(self.buck.uploads_in_progress, 0)
        self.assertEqual(self.buck.stats()["total"]["uploads_abandoned"], 1)
        self.assertEqual(self.buck.stats()["incoming_bytes"], 0)
        self.assertEqual(self.bucket_files(), [])

    def test_abandoned_by_silence(self) -> None:
        """
        An upload without a chunk for the upload timeout is dropped by the
        housekeeping job; a later chunk of it is refused.
        """
        self.buck = self.make_buck(upload_timeout=60)
        client, pair = self.connect()
        puts = put_chunks(3, bucket_bytes([make_event(i, i) for i in range(60)]))
        self.upload(client, pair, puts[:1])
        self.clock.advance(30)
        self.buck.housekeeping()
        self.assertEqual(len(self.incoming()), 1)
        self.clock.advance(31)
        self.buck.housekeeping()
        self.assertEqual(self.incoming(), [])
        self.upload(client, pair, puts[1:])
        self.assertIn("first chunk at offset 1000", self.closed_with(client, pair))

    def test_too_many_per_connection(self) -> None:
        self.buck = self.make_buck(max_uploads_per_peer=2)
        client, pair = self.connect()
        data = bucket_bytes([make_event(i, i) for i in range(60)])
        for upload_id in (1, 2, 3):
            client.peer.send(put_chunks(upload_id, data)[0])
        pair.flush()
        self.assertIn("2 uploads in progress", self.closed_with(client, pair))
        self.assertEqual(self.incoming(), [])

    def test_max_chunk(self) -> None:
        """
        Chunks of the wire's maximum size are fine.
        """
        client, pair = self.connect()
        events = [make_event(i, i % 60, size=2000) for i in range(1200)]
        data = bucket_bytes(events)
        self.upload(client, pair, put_chunks(4, data, size=MAX_CHUNK))
        self.assertEqual(client.received(BucketAck), [BucketAck(4, T0, 1200, 1200)])


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


class PorterRequestTests(BuckTestCase):
    """
    The porter lists bucket files, reads them, and has archived ones
    deleted; tailers ask which of their buckets were archived.
    """

    def setUp(self) -> None:
        super().setUp()
        self.tailer, self.tailer_pair = self.connect("web-1")
        self.batch = [make_event(i, i) for i in range(5)] + [make_event(5, 60)]
        self.send(self.tailer, self.tailer_pair, Batch(1, "ack2", self.batch))
        self.porter, self.porter_pair = self.connect("porter", role="porter")

    def test_listing(self) -> None:
        """
        The listing gives each bucket file's start and size, from C{since}
        on, cut at C{limit} with C{more}.
        """
        first = self.store.path_of(T0).stat().st_size
        second = self.store.path_of(T0 + 60).stat().st_size
        self.send(self.porter, self.porter_pair, BucketList(1, 0, 10))
        self.send(self.porter, self.porter_pair, BucketList(2, 0, 1))
        self.send(self.porter, self.porter_pair, BucketList(3, T0 + 1, 10))
        self.assertEqual(
            self.porter.received(BucketListing),
            [
                BucketListing(1, [(T0, first), (T0 + 60, second)], False),
                BucketListing(2, [(T0, first)], True),
                BucketListing(3, [(T0 + 60, second)], False),
            ],
        )

    def test_read(self) -> None:
        """
        Bytes of a bucket file come back with the file's size; a missing
        bucket has size 0.
        """
        whole = self.store.path_of(T0).read_bytes()
        self.send(self.porter, self.porter_pair, BucketGet(1, T0, 0, 10))
        self.send(self.porter, self.porter_pair, BucketGet(2, T0, 10, MAX_CHUNK))
        self.send(self.porter, self.porter_pair, BucketGet(3, T0 + 3600, 0, 10))
        self.assertEqual(
            self.porter.received(BucketData),
            [
                BucketData(1, T0, 0, len(whole), whole[:10]),
                BucketData(2, T0, 10, len(whole), whole[10:]),
                BucketData(3, T0 + 3600, 0, 0, b""),
            ],
        )

    def test_archived_deletes_unless_grown(self) -> None:
        """
        An archived file is deleted if it has the archived size, kept if it
        grew since; a tailer's question is answered for deleted buckets
        only, and a late event for a deleted bucket makes it unarchived.
        """
        size = self.store.path_of(T0).stat().st_size
        grown = self.store.path_of(T0 + 60).stat().st_size
        self.send(self.tailer, self.tailer_pair, Batch(2, "ack2", [make_event(6, 61)]))
        self.send(self.porter, self.porter_pair, Archived(1, T0, size))
        self.send(self.porter, self.porter_pair, Archived(2, T0 + 60, grown))
        self.assertEqual(
            self.porter.received(ArchivedAck),
            [ArchivedAck(1, T0, True), ArchivedAck(2, T0 + 60, False)],
        )
        self.assertFalse(self.store.path_of(T0).exists())
        self.assertTrue(self.store.path_of(T0 + 60).exists())
        self.send(self.tailer, self.tailer_pair, ArchivedQuery(7, [T0, T0 + 60, T0 + 120]))
        self.send(self.tailer, self.tailer_pair, Batch(3, "ack2", [make_event(7, 1)]))
        self.send(self.tailer, self.tailer_pair, ArchivedQuery(8, [T0]))
        self.assertEqual(
            self.tailer.received(ArchivedReply),
            [ArchivedReply(7, [T0]), ArchivedReply(8, [])],
        )
        self.assertEqual(self.store.stats.archived_deleted, 1)

    def test_archived_record_survives_restart(self) -> None:
        """
        The archived buckets are remembered across a restart of the store.
        """
        size = self.store.path_of(T0).stat().st_size
        self.send(self.porter, self.porter_pair, Archived(1, T0, size))
        self.store.close()
        again = BucketStore(self.tmp / "data", 60, self.clock)
        self.addCleanup(again.close)
        self.assertIn(T0, again.archived)
        self.assertNotIn(T0 + 60, again.archived)

    def test_porter_requests_only_from_a_porter(self) -> None:
        """
        A tailer that sends a porter's request is cut off.
        """
        self.send(self.tailer, self.tailer_pair, BucketList(1, 0, 10))
        self.assertIn("only a porter", self.closed_with(self.tailer, self.tailer_pair))
        self.assertEqual(self.porter_pair.lost, False)

    def test_read_error_closes(self) -> None:
        """
        A file that cannot be read closes the porter's connection with the
        reason.
        """
        path = self.store.path_of(T0)
        path.unlink()
        path.mkdir()
        self.send(self.porter, self.porter_pair, BucketGet(1, T0, 0, 10))
        self.assertIn("cannot answer", self.closed_with(self.porter, self.porter_pair))
