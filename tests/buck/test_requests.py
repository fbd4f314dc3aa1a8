"""Tests for L{logship.buck.requests}: the porter's requests and the tailers' queries, over in-memory wires."""

from __future__ import annotations

import hashlib

from logship.buck.store import BucketStore
from logship.wire.messages import (
    MAX_CHUNK,
    ArchiveProof,
    Archived,
    ArchivedAck,
    ArchivedQuery,
    ArchivedReply,
    Batch,
    BucketData,
    BucketGet,
    BucketList,
    BucketListing,
)
from tests.buck import T0, make_event
from tests.buck.common import BuckTestCase, archived_notice, bucket_bytes, put_chunks


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

    def upload(self, upload_id: int, start: int, events: list[bytes]) -> bytes:
        """
        Upload a bucket file of C{events} from the tailer; its SHA-256.
        """
        data = bucket_bytes(events)
        for put in put_chunks(upload_id, data, start=start):
            self.send(self.tailer, self.tailer_pair, put)
        return hashlib.sha256(data).digest()

    def test_archived_deletes_unless_grown(self) -> None:
        """
        An archived file is deleted if it has the receipt's size and digest,
        kept if it grew since; a tailer's question about its uploads is
        answered with the receipt of the file that had merged them, and
        names the upload it never merged into that bucket as missing.
        """
        upload = self.upload(1, T0, [make_event(10, 10)])
        other = self.upload(2, T0 + 60, [make_event(11, 70)])
        notice = archived_notice(self.store, 1, T0)
        grown = archived_notice(self.store, 2, T0 + 60)
        self.send(self.tailer, self.tailer_pair, Batch(2, "ack2", [make_event(6, 61)]))
        self.send(self.porter, self.porter_pair, notice)
        self.send(self.porter, self.porter_pair, grown)
        self.assertEqual(
            self.porter.received(ArchivedAck),
            [ArchivedAck(1, T0, True), ArchivedAck(2, T0 + 60, False)],
        )
        self.assertFalse(self.store.path_of(T0).exists())
        self.assertTrue(self.store.path_of(T0 + 60).exists())
        query = [(T0, upload), (T0 + 60, other), (T0, other)]
        self.send(self.tailer, self.tailer_pair, ArchivedQuery(7, query))
        # A late event for the bucket does not undo the proof of the upload.
        self.send(self.tailer, self.tailer_pair, Batch(3, "ack2", [make_event(7, 1)]))
        self.send(self.tailer, self.tailer_pair, ArchivedQuery(8, [(T0, upload)]))
        proof = ArchiveProof(T0, upload, notice.receipt, b"", b"")
        self.assertEqual(
            self.tailer.received(ArchivedReply),
            [ArchivedReply(7, [proof], [(T0, other)]), ArchivedReply(8, [proof])],
        )
        self.assertEqual(self.store.stats.archived_deleted, 1)

    def test_archived_other_copy_kept(self) -> None:
        """
        A receipt of the right size but another digest (not the copy the
        porter archived) keeps the file, and is counted.
        """
        size = self.store.path_of(T0).stat().st_size
        notice = archived_notice(self.store, 1, T0, data=b"x" * size)
        self.send(self.porter, self.porter_pair, notice)
        self.assertEqual(self.porter.received(ArchivedAck), [ArchivedAck(1, T0, False)])
        self.assertTrue(self.store.path_of(T0).exists())
        self.assertEqual(self.buck.stats()["total"]["archived_refused"], 1)
        self.assertEqual(self.store.stats.archived_refused, 1)

    def test_archived_receipt_refused(self) -> None:
        """
        A receipt for another buck, or whose size is not the notice's, is
        refused: the porter's connection is closed, the file kept.
        """
        notice = archived_notice(self.store, 1, T0, buck="buck-2")
        self.send(self.porter, self.porter_pair, notice)
        self.assertIn("for buck buck-2", self.closed_with(self.porter, self.porter_pair))
        porter, pair = self.connect("porter", role="porter")
        good = archived_notice(self.store, 2, T0)
        self.send(porter, pair, Archived(2, T0, good.size + 1, good.receipt, b""))
        self.assertIn("the receipt is for bucket", self.closed_with(porter, pair))
        self.assertTrue(self.store.path_of(T0).exists())
        self.assertEqual(self.buck.stats()["total"]["archived_refused"], 2)

    def test_uploads_lost_with_the_disk_are_missing(self) -> None:
        """
        A buck whose disk was wiped (a new store, empty) names every upload
        it is asked about as missing; one merged and not archived yet is
        neither proven nor missing.
        """
        upload = self.upload(1, T0, [make_event(10, 10)])
        self.send(self.tailer, self.tailer_pair, ArchivedQuery(1, [(T0, upload)]))
        self.assertEqual(self.tailer.received(ArchivedReply), [ArchivedReply(1, [], [])])
        wiped = BucketStore(self.tmp / "wiped", 60, self.clock)
        self.addCleanup(wiped.close)
        self.assertFalse(wiped.archived.knows(T0, upload))
        self.assertTrue(self.store.archived.knows(T0, upload))

    def test_archived_record_survives_restart(self) -> None:
        """
        The proofs are remembered across a restart of the store.
        """
        upload = self.upload(1, T0, [make_event(10, 10)])
        notice = archived_notice(self.store, 1, T0)
        self.send(self.porter, self.porter_pair, notice)
        self.store.close()
        again = BucketStore(self.tmp / "data", 60, self.clock)
        self.addCleanup(again.close)
        self.assertEqual(again.archived.proof(T0, upload).body, notice.receipt)
        self.assertIsNone(again.archived.proof(T0 + 60, upload))

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
