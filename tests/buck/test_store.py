"""Tests for L{logship.buck.store}: batches into bucket files, merging uploads."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from logship.buck.store import (
    BadUpload,
    BucketStore,
    CorruptBatch,
    StoreError,
    identity_key,
    prepare_data_dir,
)
from logship.core.bucket import encode_record
from logship.core.event import decode, encode_fields
from logship.core.receipts import file_sha256
from tests.buck import T0, corrupt, make_event, messages, read_bucket


class StoreTestCase(SynchronousTestCase):
    """
    A fresh data directory, a clock, and an fsync that counts its calls.
    """

    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)
        self.data = self.tmp / "data"
        self.clock = Clock()
        self.fsynced: list[int] = []

    def fsync(self, fd: int) -> None:
        self.fsynced.append(fd)

    def store(self, seconds: int = 60, **kwargs: object) -> BucketStore:
        store = BucketStore(
            self.data, seconds, self.clock, fsync=self.fsync, **kwargs  # type: ignore[arg-type]
        )
        self.addCleanup(store.close)
        return store

    def bucket_files(self) -> list[Path]:
        return sorted(p for p in (self.data / "buckets").rglob("*") if p.is_file())


class WriteBatchTests(StoreTestCase):
    def test_events_land_in_their_buckets(self) -> None:
        """
        Each event goes to the bucket file of its point, in batch order;
        the events written come back in batch order (serialized, as given:
        the buck checks them without decoding them into objects).
        """
        store = self.store()
        batch = [make_event(0, 5), make_event(1, 65), make_event(2, 59), make_event(3, 61)]
        written = [decode(e) for e in store.write_batch(batch, sync=False)]
        self.assertEqual([decode(e) for e in batch], written)
        first = self.data / "buckets/2026/11/26/09/37.b"
        second = self.data / "buckets/2026/11/26/09/38.b"
        self.assertEqual(self.bucket_files(), [first, second])
        self.assertEqual(
            messages(read_bucket(first)), [written[0].message, written[2].message]
        )
        self.assertEqual(
            messages(read_bucket(second)), [written[1].message, written[3].message]
        )
        self.assertEqual(store.stats.events_written, 4)
        self.assertEqual(store.stats.batches, 1)
        self.assertEqual(self.fsynced, [])

    def test_batches_append(self) -> None:
        """
        Later batches append to the same files, which stay readable while
        open (each batch is flushed to the kernel before returning).
        """
        store = self.store()
        store.write_batch([make_event(0)], sync=False)
        self.assertEqual(len(read_bucket(store.path_of(T0))), 1)
        store.write_batch([make_event(1), make_event(2)], sync=False)
        self.assertEqual(
            [e.point % 100 for e in read_bucket(store.path_of(T0))], [0, 1, 2]
        )
        self.assertEqual(store.stats.files_opened, 1)

    def test_interval(self) -> None:
        """
        With 10 s buckets, paths name the seconds too.
        """
        store = self.store(seconds=10)
        store.write_batch([make_event(0, 5), make_event(1, 15)], sync=False)
        self.assertEqual(
            [p.name for p in self.bucket_files()], ["37-00.b", "37-10.b"]
        )

    def test_corrupt_event_rejects_the_batch(self) -> None:
        """
        One corrupt event anywhere in a batch: nothing of it is written.
        """
        store = self.store()
        batch = [make_event(0), make_event(1, 70), corrupt(make_event(2))]
        with self.assertRaises(CorruptBatch) as caught:
            store.write_batch(batch, sync=True)
        self.assertEqual(caught.exception.index, 2)
        self.assertIn("event 2 is corrupt", str(caught.exception))
        self.assertEqual(self.bucket_files(), [])
        self.assertEqual(store.stats.rejected_batches, 1)
        self.assertEqual(store.stats.events_written, 0)
        self.assertEqual(self.fsynced, [])

    def test_truncated_event(self) -> None:
        store = self.store()
        self.assertRaises(CorruptBatch, store.write_batch, [make_event(0)[:10]], False)
        self.assertRaises(CorruptBatch, store.write_batch, [b""], False)
        self.assertEqual(self.bucket_files(), [])

    def test_sync_fsyncs_files_and_new_directories(self) -> None:
        """
        C{sync=True} fsyncs each touched file, and, for files the batch
        created, their directories up to C{DATA/buckets}; later batches to
        the same file fsync only the file.
        """
        store = self.store()
        store.write_batch([make_event(0)], sync=True)
        # the file, then 09/, 26/, 11/, 2026/, buckets/
        self.assertEqual(len(self.fsynced), 6)
        self.assertEqual(store.stats.fsyncs, 6)
        del self.fsynced[:]
        store.write_batch([make_event(1), make_event(2)], sync=True)
        self.assertEqual(len(self.fsynced), 1)
        del self.fsynced[:]
        store.write_batch([make_event(3)], sync=False)
        self.assertEqual(self.fsynced, [])

    def test_sync_two_files(self) -> None:
        store = self.store()
        store.write_batch([make_event(0), make_event(1, 60)], sync=False)
        store.write_batch([make_event(2), make_event(3, 60)], sync=True)
        self.assertEqual(len(self.fsynced), 2)

    def test_lru_bound(self) -> None:
        """
        At most C{open_buckets} writers stay open; the least recently used
        one is closed first; nothing is lost.
        """
        store = self.store(open_buckets=2)
        for i, second in enumerate((0, 60, 0, 120, 180)):
            store.write_batch([make_event(i, second)], sync=False)
            self.assertLessEqual(store.open_files, 2)
        self.assertEqual(store.stats.files_closed, 2)
        self.assertEqual(store.stats.files_opened, 4)
        self.assertEqual(
            sum(len(read_bucket(p)) for p in self.bucket_files()), 5
        )

    def test_close_idle(self) -> None:
        """
        L{BucketStore.close_idle} closes the writers unused for the idle
        time, and only those.
        """
        store = self.store(idle_seconds=100)
        store.write_batch([make_event(0)], sync=False)
        self.clock.advance(60)
        store.write_batch([make_event(1, 60)], sync=False)
        self.assertEqual(store.close_idle(self.clock.seconds()), 0)
        self.clock.advance(40)
        self.assertEqual(store.close_idle(self.clock.seconds()), 1)
        self.assertEqual(store.open_files, 1)
        self.clock.advance(60)
        self.assertEqual(store.close_idle(self.clock.seconds()), 1)
        self.assertEqual(store.open_files, 0)
        store.write_batch([make_event(2)], sync=False)
        self.assertEqual(len(read_bucket(store.path_of(T0))), 2)

    def test_torn_tail_recovered(self) -> None:
        """
        A bucket file left with a torn record (a crash mid-append) is cut
        back when the store opens it; the new records follow good ones.
        """
        path = self.data / "buckets/2026/11/26/09/37.b"
        path.parent.mkdir(parents=True)
        path.write_bytes(encode_record(make_event(0)) + encode_record(make_event(1))[:9])
        store = self.store()
        store.write_batch([make_event(2)], sync=False)
        self.assertEqual([e.point % 100 for e in read_bucket(path)], [0, 2])
        self.assertEqual(store.stats.recovered, 1)

    def test_closed(self) -> None:
        store = self.store()
        store.write_batch([make_event(0)], sync=False)
        store.close()
        self.assertEqual(store.open_files, 0)
        self.assertRaises(StoreError, store.write_batch, [make_event(1)], False)
        self.assertEqual(len(read_bucket(store.path_of(T0))), 1)

    def test_check_batch(self) -> None:
        store = self.store()
        self.assertEqual(store.check_batch([make_event(0)]), [decode(make_event(0)).point])
        self.assertRaises(CorruptBatch, store.check_batch, [corrupt(make_event(0))])
        self.assertEqual(self.bucket_files(), [])


class DataDirectoryTests(StoreTestCase):
    def test_layout(self) -> None:
        self.store()
        self.assertTrue((self.data / "buckets").is_dir())
        self.assertTrue((self.data / "incoming").is_dir())
        self.assertEqual((self.data / "bucket-seconds").read_text(), "60\n")

    def test_other_interval_refused(self) -> None:
        """
        A data directory written with 60 s buckets refuses 30 s ones.
        """
        self.store().close()
        with self.assertRaises(StoreError) as caught:
            BucketStore(self.data, 30, self.clock)
        self.assertIn("holds buckets of 60 seconds, not 30", str(caught.exception))

    def test_bad_interval(self) -> None:
        self.assertRaises(ValueError, BucketStore, self.data, 7, self.clock)

    def test_unusable(self) -> None:
        """
        A data directory that cannot be created is a L{StoreError}.
        """
        blocker = self.tmp / "file"
        blocker.write_bytes(b"")
        with self.assertRaises(StoreError) as caught:
            prepare_data_dir(blocker / "data", 60)
        self.assertIn("Not a directory", str(caught.exception))

    def test_stale_uploads_removed(self) -> None:
        """
        Partial uploads left by a previous run are removed at start.
        """
        (self.data / "incoming").mkdir(parents=True)
        (self.data / "incoming" / "web-1-7-abc.part").write_bytes(b"half")
        self.store()
        self.assertEqual(list((self.data / "incoming").iterdir()), [])


class MergeTests(StoreTestCase):
    def upload(self, events: list[bytes], name: str = "up.part") -> Path:
        path = self.tmp / name
        path.write_bytes(b"".join(encode_record(e) for e in events))
        return path

    def merge(self, store: BucketStore, start: int, seconds: int, path: Path) -> tuple[int, int]:
        return store.merge_bucket(start, seconds, path, file_sha256(path))

    def test_new_bucket(self) -> None:
        """
        An upload of a bucket the buck does not have becomes its file.
        """
        store = self.store()
        events = [make_event(i, i) for i in range(5)]
        self.assertEqual(self.merge(store, T0, 60, self.upload(events)), (5, 5))
        self.assertEqual(read_bucket(store.path_of(T0)), [decode(e) for e in events])
        self.assertEqual(store.stats.merges, 1)
        self.assertEqual(store.stats.merge_new, 5)
        self.assertTrue(self.fsynced)

    def test_duplicate_upload_adds_nothing(self) -> None:
        """
        Merging is idempotent: the same upload twice adds nothing the
        second time.
        """
        store = self.store()
        events = [make_event(i, i) for i in range(5)]
        self.merge(store, T0, 60, self.upload(events))
        self.assertEqual(self.merge(store, T0, 60, self.upload(events)), (5, 0))
        self.assertEqual(len(read_bucket(store.path_of(T0))), 5)

    def test_partial_overlap(self) -> None:
        """
        Events the buck got in batches are not appended again; the others
        are, in upload order, after what the file held; repeats within
        the upload count once.
        """
        store = self.store()
        store.write_batch([make_event(i, i) for i in (0, 2, 4)], sync=False)
        events = [make_event(i, i) for i in range(6)] + [make_event(5, 5)]
        self.assertEqual(self.merge(store, T0, 60, self.upload(events)), (7, 3))
        self.assertEqual(
            [e.point % 100 for e in read_bucket(store.path_of(T0))], [0, 2, 4, 1, 3, 5]
        )

    def test_same_line_twice_is_two_events(self) -> None:
        """
        Two identical lines with distinct points (the tailer's sequence)
        are two events, not a duplicate.
        """
        store = self.store()
        twins = [
            encode_fields(T0 * 10**8 + n, 13, b"h", b"a", None, b"same")
            for n in (1, 2)
        ]
        self.assertEqual(self.merge(store, T0, 60, self.upload(twins)), (2, 2))

    def test_other_hosts_untouched(self) -> None:
        """
        A host's upload is compared with that host's events only; the same
        point and message from another host is another event.
        """
        store = self.store()
        store.write_batch([make_event(0, host=b"db-1")], sync=False)
        self.assertEqual(
            self.merge(store, T0, 60, self.upload([make_event(0)])), (1, 1)
        )

    def test_wrong_interval(self) -> None:
        store = self.store()
        with self.assertRaises(BadUpload) as caught:
            self.merge(store, T0, 30, self.upload([make_event(0)]))
        self.assertIn("interval 30 s differs from this buck's 60 s", str(caught.exception))
        self.assertEqual(self.bucket_files(), [])
        self.assertEqual(store.stats.rejected_merges, 1)

    def test_misaligned_start(self) -> None:
        store = self.store()
        self.assertRaises(BadUpload, self.merge, store, T0 + 1, 60, self.upload([]))

    def test_event_outside_bucket(self) -> None:
        """
        An event whose point is not in the uploaded bucket rejects the
        upload; nothing is merged.
        """
        store = self.store()
        upload = self.upload([make_event(0), make_event(1, 60)])
        with self.assertRaises(BadUpload) as caught:
            self.merge(store, T0, 60, upload)
        self.assertIn("outside the bucket", str(caught.exception))
        self.assertEqual(self.bucket_files(), [])

    def test_corrupt_record(self) -> None:
        store = self.store()
        store.write_batch([make_event(9)], sync=False)
        upload = self.upload([make_event(0), corrupt(make_event(1))])
        with self.assertRaises(BadUpload) as caught:
            self.merge(store, T0, 60, upload)
        self.assertIn("crc mismatch", str(caught.exception))
        self.assertEqual(len(read_bucket(store.path_of(T0))), 1)

    def test_torn_upload(self) -> None:
        store = self.store()
        upload = self.upload([make_event(0)])
        with open(upload, "ab") as f:
            f.write(b"\x00")
        self.assertRaises(BadUpload, self.merge, store, T0, 60, upload)
        self.assertEqual(self.bucket_files(), [])

    def test_empty_upload(self) -> None:
        store = self.store()
        self.assertEqual(self.merge(store, T0, 60, self.upload([])), (0, 0))


class IdentityKeyTests(SynchronousTestCase):
    def test_matches_identity(self) -> None:
        """
        Two serialized events have equal identity keys exactly when their
        decoded identities are equal.
        """
        serialized = [
            encode_fields(p, pri, shn, app, pid, msg)
            for p in (1, 2)
            for pri in (13, 255)
            for shn, app in ((b"a", b"bc"), (b"ab", b"c"), (b"", b"abc"))
            for pid in (None, b"42")
            for msg in (b"m", b"n")
        ]
        for x in serialized:
            for y in serialized:
                self.assertEqual(
                    identity_key(x) == identity_key(y),
                    decode(x).identity == decode(y).identity,
                )
