"""Tests for L{logship.core.bucket}: paths, writer, streaming reader, torn-tail recovery."""

from __future__ import annotations

import io
import shutil
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from logship.core.bucket import (
    BucketWriter,
    TornRecord,
    bucket_relpath,
    bucket_start,
    check_bucket_seconds,
    count_records,
    encode_record,
    iter_records,
    list_buckets,
    recover,
    start_of_relpath,
)
from logship.core.event import Event, decode, encode
from logship.core.parse import TICKS_PER_SECOND

T0 = 1795685820  # 2026-11-26T09:37:00Z


def make_event(i: int, size: int = 20) -> bytes:
    """
    A serialized event whose message says which one it is.
    """
    message = b"event %d " % i + b"x" * size
    return encode(Event(T0 * TICKS_PER_SECOND + i, 13, b"host", b"app", None, message))


class PathTests(SynchronousTestCase):
    """
    The time path layout of bucket files.
    """

    def test_relpath(self) -> None:
        self.assertEqual(bucket_relpath(T0, 60), "2026/11/26/09/37.b")
        self.assertEqual(bucket_relpath(T0 + 10, 10), "2026/11/26/09/37-10.b")
        self.assertEqual(bucket_relpath(1767225599 - 59, 60), "2025/12/31/23/59.b")

    def test_start_round_trip(self) -> None:
        for seconds in (1, 10, 60, 300, 3600):
            start = bucket_start((T0 + 1234) * TICKS_PER_SECOND + 5, seconds)
            self.assertEqual(start % seconds, 0)
            self.assertTrue(start <= T0 + 1234 < start + seconds)
            self.assertEqual(start_of_relpath(bucket_relpath(start, seconds)), start)

    def test_bad_interval(self) -> None:
        for bad in (0, 7, 7200, -60):
            self.assertRaises(ValueError, check_bucket_seconds, bad)
        self.assertEqual(check_bucket_seconds(60), 60)

    def test_not_a_bucket_path(self) -> None:
        for bad in ("2026/11/26/37.b", "2026/11/26/09/x.b", "a/b/c/d/37.b"):
            self.assertRaises(ValueError, start_of_relpath, bad)

    def test_list_in_time_order(self) -> None:
        root = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, root)
        starts = [T0 + 3600 * 30, T0, T0 + 60, T0 - 86400 * 400]
        for start in starts:
            path = root / bucket_relpath(start, 60)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"")
        (root / "2026" / "notes.b").write_bytes(b"")
        self.assertEqual([s for s, _ in list_buckets(root)], sorted(starts))


class WriterReaderTests(SynchronousTestCase):
    """
    Appending records and reading them back.
    """

    def setUp(self) -> None:
        self.root = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.root)
        self.path = self.root / bucket_relpath(T0, 60)

    def test_round_trip(self) -> None:
        events = [make_event(i, size=i * 37 % 3000) for i in range(500)]
        writer = BucketWriter(self.path)
        for data in events:
            writer.append(data)
        writer.close()
        self.assertEqual(writer.written, sum(2 + len(e) for e in events))
        with open(self.path, "rb") as f:
            got = [data for _, data in iter_records(f)]
        self.assertEqual(got, events)
        self.assertEqual(decode(got[7]).message, b"event 7 " + b"x" * 259)

    def test_offsets(self) -> None:
        events = [make_event(i) for i in range(3)]
        data = b"".join(encode_record(e) for e in events)
        offsets = [o for o, _ in iter_records(io.BytesIO(data))]
        self.assertEqual(offsets, [0, 2 + len(events[0]), 4 + 2 * len(events[0])])

    def test_writer_appends_after_existing(self) -> None:
        for batch in range(3):
            writer = BucketWriter(self.path)
            writer.append(make_event(batch))
            writer.close()
        with open(self.path, "rb") as f:
            self.assertEqual(len(list(iter_records(f))), 3)

    def test_writer_cuts_torn_tail_before_appending(self) -> None:
        good = [make_event(i) for i in range(4)]
        torn = encode_record(make_event(99))[:-5]
        self.path.parent.mkdir(parents=True)
        self.path.write_bytes(b"".join(map(encode_record, good)) + torn)
        writer = BucketWriter(self.path)
        self.assertEqual(writer.recovery.records, 4)
        self.assertEqual(writer.recovery.cut, len(torn))
        writer.append(make_event(5))
        writer.close()
        with open(self.path, "rb") as f:
            self.assertEqual([d for _, d in iter_records(f)], good + [make_event(5)])

    def test_oversize_refused(self) -> None:
        writer = BucketWriter(self.path)
        self.addCleanup(writer.close)
        self.assertRaises(ValueError, writer.append, b"x" * 65536)

    def test_reader_reports_torn_tail(self) -> None:
        data = encode_record(make_event(1)) + encode_record(make_event(2))[:9]
        records = iter_records(io.BytesIO(data))
        self.assertEqual(next(records)[1], make_event(1))
        error = self.assertRaises(TornRecord, next, records)
        self.assertEqual((error.offset, error.size), (len(data) - 9, 9))

    def test_reader_reports_zero_length(self) -> None:
        data = encode_record(make_event(1)) + b"\0" * 4096
        records = iter_records(io.BytesIO(data))
        next(records)
        error = self.assertRaises(TornRecord, next, records)
        self.assertEqual(error.size, 4096)
        self.assertIn("below the minimum", error.reason)

    def test_recover_whole_file_untouched(self) -> None:
        self.path.parent.mkdir(parents=True)
        data = b"".join(encode_record(make_event(i)) for i in range(10))
        self.path.write_bytes(data)
        result = recover(self.path)
        self.assertEqual((result.records, result.cut, result.reason), (10, 0, None))
        self.assertEqual(self.path.read_bytes(), data)

    def test_recover_cuts_garbage_that_frames(self) -> None:
        """
        A tail that frames like a record but does not decode is cut too.
        """
        self.path.parent.mkdir(parents=True)
        good = encode_record(make_event(1))
        garbage = encode_record(b"\1" * 40)
        self.path.write_bytes(good + garbage)
        result = recover(self.path)
        self.assertEqual((result.records, result.cut), (1, len(garbage)))
        self.assertIn("does not decode", result.reason)
        self.assertEqual(self.path.read_bytes(), good)


@st.composite
def bucket_and_cut(draw: st.DrawFn) -> tuple[list[bytes], int]:
    sizes = draw(st.lists(st.integers(0, 3000), min_size=1, max_size=40))
    events = [make_event(i, size) for i, size in enumerate(sizes)]
    total = sum(2 + len(e) for e in events)
    return events, draw(st.integers(0, total))


class TruncationTests(SynchronousTestCase):
    """
    Property: a crash mid-append costs at most the record being appended.
    """

    @settings(max_examples=200, deadline=None)
    @given(bucket_and_cut())
    def test_truncation_loses_only_the_torn_last_record(
        self, case: tuple[list[bytes], int]
    ) -> None:
        """
        Cutting a bucket file anywhere (a crash mid-append) loses only the
        record that was cut; every complete one is kept, and the file is
        appendable again.
        """
        events, cut = case
        data = b"".join(encode_record(e) for e in events)[:cut]
        complete = []
        end = 0
        for event in events:
            if end + 2 + len(event) > cut:
                break
            complete.append(event)
            end += 2 + len(event)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "37.b"
            path.write_bytes(data)
            result = recover(path)
            assert result.records == len(complete)
            assert result.cut == cut - end
            with open(path, "rb") as f:
                assert [d for _, d in iter_records(f)] == complete
            writer = BucketWriter(path)
            writer.append(make_event(1000))
            writer.close()
            with open(path, "rb") as f:
                assert [d for _, d in iter_records(f)] == complete + [make_event(1000)]


class CountRecordsTests(SynchronousTestCase):
    """
    L{count_records}: records between two boundaries, by their lengths.
    """

    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)
        self.path = self.tmp / "b"
        self.sizes = [20, 40000, 7, 65535, 100] * 30
        self.path.write_bytes(b"".join(encode_record(b"x" * n) for n in self.sizes))
        self.offsets = [0]
        for n in self.sizes:
            self.offsets.append(self.offsets[-1] + 2 + n)

    def test_ranges(self) -> None:
        count = len(self.sizes)
        self.assertEqual(count_records(self.path, 0, self.offsets[-1]), count)
        self.assertEqual(count_records(self.path, self.offsets[3], self.offsets[-1]), count - 3)
        self.assertEqual(count_records(self.path, self.offsets[3], self.offsets[9]), 6)
        self.assertEqual(count_records(self.path, self.offsets[5], self.offsets[5]), 0)

    def test_torn_tail_not_counted(self) -> None:
        with open(self.path, "ab") as f:
            f.write(encode_record(b"y" * 50)[:30])
        size = self.path.stat().st_size
        self.assertEqual(count_records(self.path, 0, size), len(self.sizes))
        self.assertEqual(count_records(self.path, 0, size + 100), len(self.sizes))
