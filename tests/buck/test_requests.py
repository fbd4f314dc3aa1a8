"""Tests for L{logship.buck.requests}: the porter's requests and the tailers' queries, over in-memory wires."""

from __future__ import annotations

from logship.buck.store import BucketStore
from logship.wire.messages import (
    MAX_CHUNK,
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
from tests.buck.common import BuckTestCase


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
