"""Tests for L{logship.buck.uploads}: whole-bucket uploads, over in-memory wires."""

from __future__ import annotations

from pathlib import Path

from logship.core.event import decode
from logship.wire.messages import MAX_CHUNK, Batch, BucketAck, BucketPut
from tests.buck import T0, corrupt, make_event, read_bucket
from tests.buck.common import BuckTestCase, Client, bucket_bytes, put_chunks
from tests.wire.common import Pair


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
