"""Tests for a buck with several disks (L{logship.buck.store} with more data
directories): buckets spread by a stable hash, a failing disk taken out of
service, the others serving on."""

from __future__ import annotations

import errno
import shutil
import tempfile
from pathlib import Path

from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from logship.buck.metrics import BuckMetrics
from logship.buck.pubsub import Channel
from logship.buck.service import BuckService
from logship.buck.store import BucketStore, DiskOutOfService, disk_index
from logship.buck.tap import Options
from logship.core.bucket import BucketWriter
from tests.buck import T0, make_event, messages, read_bucket
from tests.metricstext import scrape, value

#: One event in each of ten 60-second buckets.
SPREAD = [make_event(i, 60 * i) for i in range(10)]


class FailingDisk:
    """
    Opens bucket writers whose appends fail with C{error} on the disk
    C{root} once C{failing} is set (the seam at the write call).
    """

    def __init__(self, root: Path, error: int) -> None:
        self.root = root
        self.error = error
        self.failing = False
        self.opened: list[Path] = []

    def open(self, path: Path) -> BucketWriter:
        self.opened.append(path)
        disk = self

        class Writer(BucketWriter):
            def append_all(self, records: list[bytes]) -> None:
                if disk.failing and self.path.is_relative_to(disk.root):
                    raise OSError(disk.error, "injected")
                super().append_all(records)

        return Writer(path)


class DisksTestCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)
        self.disks = [self.tmp / "disk1", self.tmp / "disk2"]
        self.clock = Clock()
        self.fault = FailingDisk(self.disks[1], errno.EIO)

    def store(self) -> BucketStore:
        store = BucketStore(
            self.disks[0], 60, self.clock, fsync=lambda fd: None,
            more_data=self.disks[1:], open_writer=self.fault.open,
        )
        self.addCleanup(store.close)
        return store

    def start_on(self, disk: int) -> list[bytes]:
        """
        The events of L{SPREAD} whose bucket is on disk C{disk}.
        """
        return [
            e for i, e in enumerate(SPREAD)
            if disk_index(T0 + 60 * i, 2) == disk
        ]


class SpreadTests(DisksTestCase):
    def test_each_bucket_on_its_disk(self) -> None:
        """
        Each bucket is written on the disk its start hashes to; both disks
        get some; the listing and reads show them all, in time order.
        """
        store = self.store()
        store.write_batch(SPREAD, sync=True)
        starts = [T0 + 60 * i for i in range(10)]
        for start in starts:
            on = self.disks[disk_index(start, 2)]
            self.assertTrue(store.path_of(start).is_relative_to(on / "buckets"))
            self.assertTrue(store.path_of(start).exists())
        self.assertEqual({disk_index(s, 2) for s in starts}, {0, 1})
        listed, more = store.listing(0, 100)
        self.assertEqual([s for s, _ in listed], starts)
        self.assertFalse(more)
        size, data = store.read(starts[3], 0, 1 << 20)
        self.assertEqual(size, len(data))
        self.assertEqual(messages(read_bucket(store.path_of(starts[3]))), [b"event 3 " + b"x" * 20])

    def test_hash_is_stable(self) -> None:
        """
        The disk of a bucket depends only on its start and the number of
        disks (the same after a restart, on every buck).
        """
        self.assertEqual([disk_index(T0 + 60 * i, 3) for i in range(6)],
                         [disk_index(T0 + 60 * i, 3) for i in range(6)])
        self.assertEqual(disk_index(T0, 1), 0)

    def test_existing_file_on_another_disk_is_kept(self) -> None:
        """
        A bucket whose file is on another disk than its hash says (the
        disks were listed otherwise) is appended there, not split.
        """
        start = T0
        hashed = disk_index(start, 2)
        other = self.disks[1 - hashed] / "buckets"
        single = BucketStore(self.disks[1 - hashed], 60, self.clock, fsync=lambda fd: None)
        single.write_batch([make_event(0)], sync=False)
        single.close()
        store = self.store() if hashed == 0 else BucketStore(
            self.disks[1], 60, self.clock, more_data=[self.disks[0]])
        store.write_batch([make_event(1)], sync=False)
        self.assertTrue(store.path_of(start).is_relative_to(other))
        self.assertEqual(len(read_bucket(store.path_of(start))), 2)
        store.close()


class FailureTests(DisksTestCase):
    def test_failed_disk_is_taken_out_of_service(self) -> None:
        """
        EIO writing on disk2: the batch fails, disk2 is out of service
        (logged); its buckets are refused from then on without a write,
        disk1's are written; disk2's files are still listed and read.
        """
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        store = self.store()
        store.write_batch(SPREAD, sync=False)
        on2, on1 = self.start_on(1), self.start_on(0)
        self.fault.failing = True
        with self.assertRaises(OSError):
            store.write_batch([on2[0]], sync=False)
        self.assertEqual(store.failed, {self.disks[1]: "Input/output error"})
        logged = [e for e in events if "taken out of service" in e["log_format"]]
        self.assertEqual([(e["disk"], e["left"]) for e in logged], [(str(self.disks[1]), 1)])
        opened = len(self.fault.opened)
        with self.assertRaises(DiskOutOfService) as refused:
            store.write_batch([on1[0], on2[-1]], sync=False)
        self.assertIn("out of service", str(refused.exception))
        self.assertEqual(len(self.fault.opened), opened)
        self.assertEqual(store.write_batch([on1[0]], sync=False), [on1[0]])
        listed, _ = store.listing(0, 100)
        self.assertEqual(len(listed), 10)
        for s, size in listed:
            self.assertEqual(store.read(s, 0, 1 << 20)[0], size)

    def test_full_disk_too(self) -> None:
        self.fault.error = errno.ENOSPC
        store = self.store()
        self.fault.failing = True
        with self.assertRaises(OSError):
            store.write_batch(self.start_on(1)[:1], sync=False)
        self.assertIn(self.disks[1], store.failed)

    def test_failed_fsync(self) -> None:
        """
        EIO from fsync (C{ack2+fsync}) takes the file's disk out too.
        """

        def failing(fd: int) -> None:
            raise OSError(errno.EIO, "injected")

        store = BucketStore(self.disks[0], 60, self.clock, fsync=failing, more_data=self.disks[1:])
        self.addCleanup(store.close)
        with self.assertRaises(OSError):
            store.write_batch(self.start_on(1)[:1], sync=True)
        self.assertEqual(list(store.failed), [self.disks[1]])

    def test_other_errors_and_a_single_disk_keep_it(self) -> None:
        """
        An error that does not say the disk is failing (EACCES), or any
        error on a buck with one disk, takes nothing out of service.
        """
        self.fault.error = errno.EACCES
        store = self.store()
        self.fault.failing = True
        with self.assertRaises(OSError):
            store.write_batch(self.start_on(1)[:1], sync=False)
        self.assertEqual(store.failed, {})
        self.fault.error = errno.EIO
        single = BucketStore(self.disks[1], 60, self.clock, open_writer=self.fault.open)
        self.addCleanup(single.close)
        with self.assertRaises(OSError):
            single.write_batch([make_event(0)], sync=False)
        self.assertEqual(single.failed, {})

    def test_metric(self) -> None:
        """
        The buck refuses the batches of the failed disk's buckets with the
        reason, and its metrics say which disk is out.
        """
        store = self.store()
        buck = BuckService(store=store, channel=Channel(self.clock), clock=self.clock,
                           key=None, node="buck-1")
        self.fault.failing = True
        with self.assertRaises(OSError):
            store.write_batch(self.start_on(1)[:1], sync=False)
        samples = scrape(BuckMetrics(buck))
        self.assertEqual(value(samples, "logship_buck_disk_in_service", data=str(self.disks[0])), 1)
        self.assertEqual(value(samples, "logship_buck_disk_in_service", data=str(self.disks[1])), 0)


class DataOptionTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)

    def test_repeatable(self) -> None:
        a, b = self.tmp / "a", self.tmp / "b"
        options = Options()
        options.parseOptions(["--insecure", "--data", str(a), "-d", str(b)])
        self.assertEqual(options["data-dirs"], [str(a), str(b)])
        self.assertEqual(options["data"], str(a))
        self.assertTrue((b / "buckets").is_dir())

    def test_config_array(self) -> None:
        path = self.tmp / "buck.toml"
        path.write_text('insecure = true\ndata = ["a", "b"]\n')
        options = Options()
        options.parseOptions(["--config", str(path)])
        self.assertEqual(options["data-dirs"], [str(self.tmp / "a"), str(self.tmp / "b")])

    def test_twice_refused(self) -> None:
        options = Options()
        with self.assertRaises(usage.UsageError):
            options.parseOptions(["--insecure", "--data", str(self.tmp / "a"),
                                  "--data", str(self.tmp / "a")])
