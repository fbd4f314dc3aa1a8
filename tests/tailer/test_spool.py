"""Tests for L{logship.tailer.spool}: local bucket files and their delivery cursors.

Real files in a temporary directory; no sleeps.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import LogLevel, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from logship.core.bucket import bucket_relpath, encode_record, iter_records, list_buckets
from logship.core.event import Event, decode, encode
from logship.core.parse import TICKS_PER_SECOND
from logship.tailer.spool import Chunk, Spool, SpoolError

T0 = 1795685820  # 2026-11-26T09:37:00Z, a bucket start for 60 s buckets
SECONDS = 60


def make_event(i: int, bucket: int = 0, size: int = 20) -> Event:
    """
    An event of bucket number C{bucket} (after L{T0}) whose message says
    which one it is.
    """
    point = (T0 + bucket * SECONDS) * TICKS_PER_SECOND + i
    return Event(point, 13, b"host", b"app", None, b"event %d " % i + b"x" * size)


def record_size(event: Event) -> int:
    """
    The bytes C{event} takes in a bucket file.
    """
    return 2 + len(encode(event))


def relpath_of(bucket: int) -> str:
    """
    The relative path of bucket number C{bucket}.
    """
    return bucket_relpath(T0 + bucket * SECONDS, SECONDS)


def drain(spool: Spool, **limits: int) -> list[Chunk]:
    """
    Every chunk the spool hands out now.
    """
    chunks = []
    while (chunk := spool.next_chunk(**limits)) is not None:
        chunks.append(chunk)
    return chunks


def events_of(chunks: list[Chunk]) -> list[Event]:
    """
    The decoded events of C{chunks}, in order.
    """
    return [decode(data) for chunk in chunks for data in chunk.events]


def open_writers(root: Path) -> int:
    """
    How many descriptors of this process are open for writing on files
    under C{root} (Linux C{/proc}).
    """
    count = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
            with open(f"/proc/self/fdinfo/{name}") as info:
                flags = next(
                    int(line.split()[1], 8) for line in info if line.startswith("flags:")
                )
        except OSError:
            continue
        if target.startswith(str(root) + os.sep) and flags & os.O_ACCMODE != os.O_RDONLY:
            count += 1
    return count


class _SpoolTestCase(SynchronousTestCase):
    """
    A temporary spool root, and spools on it closed at the end.
    """

    def setUp(self) -> None:
        self.root = Path(tempfile.mkdtemp()) / "spool"
        self.addCleanup(shutil.rmtree, self.root.parent)

    def spool(self, state: dict[str, Any] | None = None, **options: Any) -> Spool:
        """
        A restored spool on L{root}.
        """
        spool = Spool(self.root, SECONDS, **options)
        spool.restore(state)
        self.addCleanup(spool.close)
        return spool


class HandOutTests(_SpoolTestCase):
    """
    L{Spool.append}, L{Spool.flush} and L{Spool.next_chunk}.
    """

    def test_oldest_bucket_first_byte_exact(self) -> None:
        """
        Events appended to several buckets come out oldest bucket first,
        each bucket in append order, byte for byte, as records of the file.
        """
        spool = self.spool()
        order = [2, 0, 1, 0, 2, 1, 1, 0]
        events = [make_event(i, bucket) for i, bucket in enumerate(order)]
        appended = spool.append(events)
        self.assertEqual(appended, sum(record_size(e) for e in events))
        spool.flush()
        chunks = drain(spool)
        self.assertEqual([c.relpath for c in chunks], [relpath_of(b) for b in (0, 1, 2)])
        for bucket, chunk in zip((0, 1, 2), chunks):
            expected = [e for e, b in zip(events, order) if b == bucket]
            self.assertEqual([decode(d) for d in chunk.events], expected)
            self.assertEqual(chunk.events, [encode(e) for e in expected])
            self.assertEqual(chunk.start, 0)
            path = self.root / chunk.relpath
            self.assertEqual(chunk.end, path.stat().st_size)
            with open(path, "rb") as f:
                self.assertEqual([d for _, d in iter_records(f)], chunk.events)
        self.assertIsNone(spool.next_chunk())

    def test_max_events(self) -> None:
        """
        A chunk holds at most C{max_events} records; chunks of one file are
        contiguous.
        """
        spool = self.spool()
        events = [make_event(i) for i in range(10)]
        spool.append(events)
        spool.flush()
        chunks = drain(spool, max_events=3)
        self.assertEqual([len(c.events) for c in chunks], [3, 3, 3, 1])
        self.assertEqual([c.start for c in chunks[1:]], [c.end for c in chunks[:-1]])
        self.assertEqual(events_of(chunks), events)

    def test_max_bytes(self) -> None:
        """
        A chunk holds at most C{max_bytes} bytes of records.
        """
        spool = self.spool()
        events = [make_event(i, size=i * 7) for i in range(20)]
        spool.append(events)
        spool.flush()
        chunks = drain(spool, max_bytes=200)
        for chunk in chunks:
            self.assertLessEqual(chunk.end - chunk.start, 200)
            self.assertEqual(chunk.end - chunk.start, sum(2 + len(d) for d in chunk.events))
        self.assertEqual(events_of(chunks), events)

    def test_record_longer_than_max_bytes(self) -> None:
        """
        A record longer than C{max_bytes} still comes out, alone.
        """
        spool = self.spool()
        events = [make_event(0, size=5000), make_event(1), make_event(2, size=70000 // 2)]
        spool.append(events)
        spool.flush()
        chunks = drain(spool, max_bytes=1)
        self.assertEqual([len(c.events) for c in chunks], [1, 1, 1])
        self.assertEqual(events_of(chunks), events)

    def test_unflushed_not_handed_out(self) -> None:
        """
        Records are handed out only after L{Spool.flush}, even when part of
        them already reached the file (the writer's buffer overflowed).
        """
        spool = self.spool()
        events = [make_event(i, size=3000) for i in range(10)]
        spool.append(events)
        path = self.root / relpath_of(0)
        self.assertGreater(path.stat().st_size, 0)
        self.assertIsNone(spool.next_chunk())
        spool.flush()
        first = spool.append([make_event(10, size=3000)])
        self.assertEqual(events_of(drain(spool)), events)
        spool.flush()
        chunks = drain(spool)
        self.assertEqual(events_of(chunks), [make_event(10, size=3000)])
        self.assertEqual(chunks[0].end - chunks[0].start, first)

    def test_appended_after_hand_out(self) -> None:
        """
        Records appended after a file was drained come out next, starting
        where the last chunk ended.
        """
        spool = self.spool()
        spool.append([make_event(0), make_event(1)])
        spool.flush()
        (first,) = drain(spool)
        spool.append([make_event(2)])
        spool.flush()
        (second,) = drain(spool)
        self.assertEqual(second.start, first.end)
        self.assertEqual(events_of([second]), [make_event(2)])

    def test_late_events_make_old_bucket_eligible(self) -> None:
        """
        Late events appended to an old, delivered bucket come out again,
        before newer buckets.
        """
        spool = self.spool()
        spool.append([make_event(0, 0), make_event(1, 1)])
        spool.flush()
        for chunk in drain(spool):
            spool.delivered(chunk)
        spool.append([make_event(2, 2), make_event(3, 0)])
        spool.flush()
        chunks = drain(spool)
        self.assertEqual([c.relpath for c in chunks], [relpath_of(0), relpath_of(2)])
        self.assertEqual(events_of(chunks), [make_event(3, 0), make_event(2, 2)])

    def test_reads_from_disk(self) -> None:
        """
        Without a budget for fresh records (C{max_fresh=0}), chunks are
        read from the file, not kept in memory: what the file holds is what
        comes out.
        """
        spool = self.spool(max_fresh=0)
        spool.append([make_event(0), make_event(1)])
        spool.flush()
        path = self.root / relpath_of(0)
        data = bytearray(path.read_bytes())
        data[-1] ^= 0xFF
        path.write_bytes(bytes(data))
        chunk = spool.next_chunk()
        assert chunk is not None
        self.assertEqual(chunk.events[1][:-1], encode(make_event(1))[:-1])
        self.assertNotEqual(chunk.events[1], encode(make_event(1)))

    def test_fresh_records_from_memory(self) -> None:
        """
        Records appended lately are handed out as they were appended,
        without reading them back; records beyond the memory budget (a
        backlog) are read from disk; the chunks are the same either way.
        """
        events = [make_event(n) for n in range(40)]
        size = 2 + len(encode(events[0]))
        chunks = {}
        for budget in (0, 10 * size, 1 << 20):
            root = self.root / f"budget-{budget}"
            spool = Spool(root, SECONDS, max_fresh=budget)
            spool.restore(None)
            spool.append(events[:25])
            spool.flush()
            first = spool.next_chunk(max_events=7)
            spool.append(events[25:])
            spool.flush()
            if budget == 1 << 20:
                # what is in memory is what was appended, whatever the disk holds
                (root / relpath_of(0)).write_bytes(b"")
            got = [first]
            while (chunk := spool.next_chunk(max_events=7)) is not None:
                got.append(chunk)
            chunks[budget] = [(c.start, c.end, c.events) for c in got if c is not None]
            spool.close()
        self.assertEqual(chunks[0], chunks[10 * size])
        self.assertEqual(chunks[0], chunks[1 << 20])
        self.assertEqual([e for _, _, batch in chunks[0] for e in batch], [encode(e) for e in events])

    def test_bad_limits(self) -> None:
        """
        Limits below one are refused.
        """
        spool = self.spool()
        self.assertRaises(ValueError, spool.next_chunk, 0)
        self.assertRaises(ValueError, spool.next_chunk, 1, 0)

    def test_restore_twice(self) -> None:
        """
        L{Spool.restore} is called once, before anything else.
        """
        spool = self.spool()
        self.assertRaises(SpoolError, spool.restore, None)
        other = Spool(self.root, SECONDS)
        other.flush()
        self.assertRaises(SpoolError, other.restore, None)
        other.close()

    def test_closed(self) -> None:
        """
        A closed spool does not append any more; closing twice is fine.
        """
        spool = self.spool()
        spool.close()
        spool.close()
        self.assertRaises(SpoolError, spool.append, [make_event(0)])


class DeliveredTests(_SpoolTestCase):
    """
    L{Spool.delivered} and L{Spool.state}.
    """

    def setUp(self) -> None:
        super().setUp()
        self.spool_ = self.spool()
        self.events = [make_event(i) for i in range(8)]
        self.spool_.append(self.events)
        self.spool_.flush()
        self.chunks = drain(self.spool_, max_events=2)
        self.assertEqual(len(self.chunks), 4)

    def delivered_offset(self) -> int:
        (entry,) = self.spool_.files()
        return entry[3]

    def test_out_of_order(self) -> None:
        """
        The delivered offset advances only over a contiguous prefix of
        delivered chunks; the state holds it, not the reserved offset.
        """
        c0, c1, c2, c3 = self.chunks
        self.spool_.delivered(c2)
        self.spool_.delivered(c3)
        self.assertEqual(self.delivered_offset(), 0)
        self.assertEqual(self.spool_.state()["delivered"], {})
        self.spool_.delivered(c0)
        self.assertEqual(self.delivered_offset(), c0.end)
        self.assertEqual(self.spool_.state()["delivered"], {relpath_of(0): c0.end})
        self.spool_.delivered(c1)
        self.assertEqual(self.delivered_offset(), c3.end)
        self.assertEqual(self.spool_.state()["delivered"], {relpath_of(0): c3.end})
        self.assertEqual(self.spool_.undelivered_bytes(), 0)

    def test_state_is_json(self) -> None:
        """
        The state goes through JSON unchanged.
        """
        self.spool_.delivered(self.chunks[0])
        state = self.spool_.state()
        self.assertEqual(json.loads(json.dumps(state)), state)

    def test_repeated_and_unknown(self) -> None:
        """
        A chunk delivered twice counts once; a chunk the spool never handed
        out is ignored.
        """
        c0, c1, _, _ = self.chunks
        self.spool_.delivered(c1)
        self.spool_.delivered(c1)
        self.spool_.delivered(c0)
        self.spool_.delivered(c0)
        self.assertEqual(self.delivered_offset(), c1.end)
        self.spool_.delivered(Chunk(relpath_of(5), 0, 10, []))
        self.spool_.delivered(Chunk(relpath_of(0), c1.end, 10**6, []))
        self.assertEqual(self.delivered_offset(), c1.end)
        self.assertEqual([c.relpath for c in drain(self.spool_)], [])


class RestartTests(_SpoolTestCase):
    """
    A new spool on the same root, restored from the old one's state.
    """

    def test_undelivered_come_again(self) -> None:
        """
        After a restart, every chunk not delivered contiguously comes again
        (including those handed out but not acknowledged); delivered ones
        never do.
        """
        old = self.spool()
        events = [make_event(i) for i in range(8)]
        old.append(events)
        old.flush()
        c0, _, c2, c3 = drain(old, max_events=2)
        old.delivered(c0)
        old.delivered(c2)
        state = json.loads(json.dumps(old.state()))
        old.close()
        new = self.spool(state)
        self.assertEqual(new.undelivered_bytes(), c3.end - c0.end)
        chunks = drain(new)
        self.assertEqual(events_of(chunks), events[2:])
        self.assertEqual(chunks[0].start, c0.end)

    def test_without_state(self) -> None:
        """
        Files absent from the state are sent again from their start.
        """
        old = self.spool()
        old.append([make_event(0, 0), make_event(1, 1)])
        old.flush()
        for chunk in drain(old):
            old.delivered(chunk)
        state = old.state()
        old.close()
        del state["delivered"][relpath_of(1)]
        new = self.spool(state)
        self.assertEqual(events_of(drain(new)), [make_event(1, 1)])

    def test_unusable_state(self) -> None:
        """
        A state that is not one (bad version, wrong types) sends everything
        again; bad entries alone are ignored.
        """
        old = self.spool()
        old.append([make_event(0, 0), make_event(1, 1)])
        old.close()
        size = record_size(make_event(0, 0))
        new = self.spool({"version": 99, "delivered": {relpath_of(0): size}})
        self.assertEqual(len(drain(new)), 2)
        new.close()
        other = Spool(self.root, SECONDS)
        other.restore(
            {"version": 1, "delivered": {relpath_of(0): size, relpath_of(1): "x"}}
        )
        self.addCleanup(other.close)
        self.assertEqual(events_of(drain(other)), [make_event(1, 1)])

    def test_gone_file_dropped(self) -> None:
        """
        A state entry whose file is gone is dropped.
        """
        old = self.spool()
        old.append([make_event(0, 0)])
        old.flush()
        (chunk,) = drain(old)
        old.delivered(chunk)
        state = old.state()
        old.close()
        state["delivered"]["2001/01/01/00/00.b"] = 50
        new = self.spool(state)
        self.assertEqual(new.state(), {"version": 1, "delivered": {relpath_of(0): chunk.end}})
        self.assertIsNone(new.next_chunk())

    def test_torn_tail_garbage(self) -> None:
        """
        Garbage after the last record (a crash mid-append) is cut; every
        complete record is handed out, and later appends follow them.
        """
        old = self.spool()
        events = [make_event(i) for i in range(5)]
        old.append(events)
        old.close()
        path = self.root / relpath_of(0)
        size = path.stat().st_size
        with open(path, "ab") as f:
            f.write(b"\x00\x40" + b"\x01" * 30)
        new = self.spool(old.state())
        self.assertEqual(path.stat().st_size, size)
        self.assertEqual(new.undelivered_bytes(), size)
        new.append([make_event(5)])
        new.flush()
        self.assertEqual(events_of(drain(new)), events + [make_event(5)])

    def test_torn_tail_cut_record(self) -> None:
        """
        A file cut inside its last record loses only that record.
        """
        old = self.spool()
        events = [make_event(i) for i in range(5)]
        old.append(events)
        old.flush()
        chunk = old.next_chunk(max_events=1)
        assert chunk is not None
        old.delivered(chunk)
        state = old.state()
        old.close()
        path = self.root / relpath_of(0)
        os.truncate(path, path.stat().st_size - 5)
        new = self.spool(state)
        self.assertEqual(events_of(drain(new)), events[1:4])
        new.append([make_event(9)])
        new.flush()
        self.assertEqual(events_of(drain(new)), [make_event(9)])

    def test_delivered_past_end(self) -> None:
        """
        A delivered offset past the end of a file (the file was cut by
        torn-tail recovery) is clamped to the end of its last complete
        record.
        """
        old = self.spool()
        events = [make_event(i) for i in range(5)]
        old.append(events)
        old.flush()
        for chunk in drain(old):
            old.delivered(chunk)
        state = old.state()
        old.close()
        path = self.root / relpath_of(0)
        complete = path.stat().st_size - record_size(events[-1])
        os.truncate(path, complete + 3)
        new = self.spool(state)
        self.assertEqual(path.stat().st_size, complete)
        self.assertEqual(new.files(), [(T0, path, complete, complete)])
        self.assertIsNone(new.next_chunk())
        new.append([make_event(7)])
        new.flush()
        self.assertEqual(events_of(drain(new)), [make_event(7)])

    def test_delivered_far_past_end(self) -> None:
        """
        A delivered offset far past the end of an intact file is clamped.
        """
        old = self.spool()
        old.append([make_event(0)])
        old.close()
        size = record_size(make_event(0))
        new = self.spool({"version": 1, "delivered": {relpath_of(0): 10**9}})
        self.assertEqual(new.state()["delivered"], {relpath_of(0): size})
        self.assertIsNone(new.next_chunk())

    def test_delivered_mid_record(self) -> None:
        """
        A delivered offset inside a record is moved back to the start of
        that record: it is sent again, nothing is skipped.
        """
        old = self.spool()
        events = [make_event(i) for i in range(5)]
        old.append(events)
        old.close()
        boundary = sum(record_size(e) for e in events[:2])
        new = self.spool({"version": 1, "delivered": {relpath_of(0): boundary + 3}})
        self.assertEqual(new.state()["delivered"], {relpath_of(0): boundary})
        self.assertEqual(events_of(drain(new)), events[2:])

    def test_writer_recovery_matches_tracking(self) -> None:
        """
        When a file's torn tail is only cut as a writer opens it (the state
        trusted it), the tracked size follows the file: later records are
        handed out from the right offset, whole.
        """
        old = self.spool()
        events = [make_event(i) for i in range(3)]
        old.append(events)
        old.close()
        path = self.root / relpath_of(0)
        size = path.stat().st_size
        with open(path, "ab") as f:
            f.write(encode_record(b"\x01" * 200))
        logged = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        new = self.spool({"version": 1, "delivered": {relpath_of(0): path.stat().st_size}})
        self.assertIsNone(new.next_chunk())
        new.append([make_event(3)])
        new.flush()
        self.assertEqual(path.stat().st_size, size + record_size(make_event(3)))
        (chunk,) = drain(new)
        self.assertEqual((chunk.start, chunk.end), (size, path.stat().st_size))
        self.assertEqual(events_of([chunk]), [make_event(3)])
        self.assertEqual(new.files(), [(T0, path, chunk.end, size)])
        self.assertEqual([e["log_level"] for e in logged], [LogLevel.warn, LogLevel.warn])

    def test_file_cut_while_running(self) -> None:
        """
        A file cut from outside while the spool runs is taken up again from
        disk: what is left of it is handed out again, whole.  (Records read
        back from disk: those still in memory would go out as appended,
        L{HandOutTests.test_fresh_records_from_memory}.)
        """
        spool = self.spool(max_fresh=0)
        events = [make_event(i) for i in range(5)]
        spool.append(events)
        spool.flush()
        path = self.root / relpath_of(0)
        os.truncate(path, path.stat().st_size - 5)
        self.assertEqual(events_of(drain(spool)), events[:4])
        self.assertEqual(spool.undelivered_bytes(), path.stat().st_size)


class ResourceTests(_SpoolTestCase):
    """
    Open files, idle buckets, durability.
    """

    def test_max_open(self) -> None:
        """
        At most C{max_open} files are open for appending; files closed
        early are opened again on demand and nothing is lost.
        """
        spool = self.spool(max_open=3)
        rng = random.Random(7)
        appended: dict[int, list[Event]] = {}
        for i in range(200):
            bucket = rng.randrange(10)
            event = make_event(i, bucket)
            spool.append([event])
            appended.setdefault(bucket, []).append(event)
            self.assertLessEqual(open_writers(self.root), 3)
        self.assertEqual(open_writers(self.root), 3)
        spool.flush()
        chunks = drain(spool)
        self.assertEqual(
            events_of(chunks), [e for bucket in sorted(appended) for e in appended[bucket]]
        )
        spool.close()
        self.assertEqual(open_writers(self.root), 0)

    def test_close_idle(self) -> None:
        """
        L{Spool.close_idle} closes the writers of buckets whose interval
        ended more than C{idle} seconds ago; their records become available.
        """
        spool = self.spool()
        spool.append([make_event(0, 0), make_event(1, 1), make_event(2, 2)])
        self.assertEqual(open_writers(self.root), 3)
        spool.close_idle(now=T0 + SECONDS + 10, idle=5)
        self.assertEqual(open_writers(self.root), 2)
        self.assertEqual([c.relpath for c in drain(spool)], [relpath_of(0)])
        spool.close_idle(now=T0 + 2 * SECONDS + 10, idle=5)
        self.assertEqual(open_writers(self.root), 1)
        spool.append([make_event(3, 0)])
        self.assertEqual(open_writers(self.root), 2)
        spool.flush()
        self.assertEqual(
            events_of(drain(spool)), [make_event(3, 0), make_event(1, 1), make_event(2, 2)]
        )

    def test_sync(self) -> None:
        """
        With C{sync}, L{Spool.flush} fsyncs the appended files and every
        directory that got a new entry (here the root's parent too: the
        root was created by L{Spool.restore}).
        """
        synced: list[str] = []
        real_fsync = os.fsync

        def fsync(fd: int) -> None:
            synced.append(os.readlink(f"/proc/self/fd/{fd}"))
            real_fsync(fd)

        self.patch(os, "fsync", fsync)
        spool = self.spool(sync=True)
        synced.clear()
        spool.append([make_event(0)])
        self.assertEqual(synced, [])
        spool.flush()
        path = self.root / relpath_of(0)
        expected = {str(path), str(self.root), str(self.root.parent)} | {
            str(p) for p in path.parents if p not in self.root.parents
        }
        self.assertEqual(set(synced), expected)
        synced.clear()
        spool.append([make_event(1)])
        spool.flush()
        self.assertEqual(synced, [str(path)])
        synced.clear()
        spool.flush()
        self.assertEqual(synced, [])
        self.assertEqual(events_of(drain(spool)), [make_event(0), make_event(1)])

    def test_no_sync(self) -> None:
        """
        Without C{sync}, nothing is fsynced.
        """
        synced: list[int] = []
        self.patch(os, "fsync", synced.append)
        spool = self.spool()
        spool.append([make_event(0)])
        spool.flush()
        spool.close()
        self.assertEqual(synced, [])


class ReportTests(_SpoolTestCase):
    """
    L{Spool.undelivered_bytes}, L{Spool.files} and L{Spool.forget}.
    """

    def test_undelivered_and_files(self) -> None:
        """
        The backlog counts appended bytes not delivered (flushed or not);
        C{files} lists each file with its flushed size and delivered offset
        in time order.
        """
        spool = self.spool()
        self.assertEqual((spool.undelivered_bytes(), spool.files()), (0, []))
        a, b, c = make_event(0, 1), make_event(1, 0), make_event(2, 1, size=100)
        spool.append([a, b])
        spool.flush()
        spool.append([c])
        sizes = [record_size(e) for e in (a, b, c)]
        self.assertEqual(spool.undelivered_bytes(), sum(sizes))
        p0, p1 = self.root / relpath_of(0), self.root / relpath_of(1)
        self.assertEqual(spool.files(), [(T0, p0, sizes[1], 0), (T0 + 60, p1, sizes[0], 0)])
        spool.flush()
        first = spool.next_chunk()
        assert first is not None
        spool.delivered(first)
        self.assertEqual(spool.undelivered_bytes(), sizes[0] + sizes[2])
        second = spool.next_chunk(max_events=1)
        assert second is not None
        spool.delivered(second)
        self.assertEqual(
            spool.files(),
            [(T0, p0, sizes[1], sizes[1]), (T0 + 60, p1, sizes[0] + sizes[2], sizes[0])],
        )
        self.assertEqual(spool.undelivered_bytes(), sizes[2])
        for chunk in drain(spool):
            spool.delivered(chunk)
        self.assertEqual(spool.undelivered_bytes(), 0)

    def test_forget(self) -> None:
        """
        A forgotten file is no longer listed nor in the state; a late event
        of its bucket starts a new file.
        """
        spool = self.spool()
        spool.append([make_event(0, 0), make_event(1, 1)])
        spool.flush()
        chunks = drain(spool)
        for chunk in chunks:
            spool.delivered(chunk)
        path = self.root / relpath_of(0)
        spool.forget(path)
        path.unlink()
        self.assertEqual([f[1] for f in spool.files()], [self.root / relpath_of(1)])
        self.assertEqual(list(spool.state()["delivered"]), [relpath_of(1)])
        spool.delivered(chunks[0])
        spool.append([make_event(2, 0)])
        spool.flush()
        self.assertEqual(events_of(drain(spool)), [make_event(2, 0)])

    def test_restore_finds_files(self) -> None:
        """
        After a restart, C{files} lists what is on disk with its size.
        """
        old = self.spool()
        old.append([make_event(0, 0), make_event(1, 3)])
        old.close()
        new = self.spool()
        self.assertEqual(
            new.files(),
            [(start, path, path.stat().st_size, 0) for start, path in list_buckets(self.root)],
        )


class SpoolMachine(RuleBasedStateMachine):
    """
    Random interleavings of append, flush, next_chunk, delivered (in any
    order), checkpoints and restarts (some tearing a file's tail).

    At the end, after delivering everything, every appended event was
    delivered at least once, and exactly once when there was no restart.
    """

    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp())
        self.root = self.directory / "spool"
        self.spool: Spool | None = None
        self.appended: Counter[bytes] = Counter()
        self.handed_out: Counter[bytes] = Counter()
        self.delivered_events: Counter[bytes] = Counter()
        self.outstanding: list[Chunk] = []
        self.saved: dict[str, Any] | None = None
        self.restarts = 0
        self.serial = 0
        self.max_open = 1
        self.rng = random.Random()

    def new_spool(self, state: dict[str, Any] | None) -> Spool:
        spool = Spool(self.root, SECONDS, max_open=self.max_open)
        spool.restore(state)
        return spool

    @initialize(max_open=st.integers(1, 3), seed=st.integers(0, 2**32))
    def start(self, max_open: int, seed: int) -> None:
        self.max_open = max_open
        self.rng = random.Random(seed)
        self.spool = self.new_spool(None)

    @rule(
        shapes=st.lists(
            st.tuples(st.integers(0, 3), st.integers(0, 300)), min_size=1, max_size=8
        )
    )
    def append(self, shapes: list[tuple[int, int]]) -> None:
        assert self.spool is not None
        events = []
        for bucket, size in shapes:
            self.serial += 1
            events.append(make_event(self.serial, bucket, size))
        encoded = [encode(e) for e in events]
        assert self.spool.append(events) == sum(2 + len(d) for d in encoded)
        self.appended.update(encoded)
        assert open_writers(self.root) <= self.max_open

    @rule()
    def flush(self) -> None:
        assert self.spool is not None
        self.spool.flush()

    @rule(max_events=st.integers(1, 4), max_bytes=st.integers(1, 600))
    def take(self, max_events: int, max_bytes: int) -> None:
        assert self.spool is not None
        chunk = self.spool.next_chunk(max_events, max_bytes)
        if chunk is None:
            return
        assert 1 <= len(chunk.events) <= max_events
        size = chunk.end - chunk.start
        assert size == sum(2 + len(d) for d in chunk.events)
        assert size <= max_bytes or len(chunk.events) == 1
        for data in chunk.events:
            decode(data)
            assert data in self.appended
        self.handed_out.update(chunk.events)
        if not self.restarts:
            assert not self.handed_out - self.appended, "handed out twice"
        self.outstanding.append(chunk)

    @precondition(lambda self: self.outstanding)
    @rule(index=st.integers(0, 50))
    def deliver(self, index: int) -> None:
        assert self.spool is not None
        chunk = self.outstanding.pop(index % len(self.outstanding))
        self.spool.delivered(chunk)
        self.delivered_events.update(chunk.events)

    @precondition(lambda self: len(self.outstanding) > 1)
    @rule()
    def deliver_newest(self) -> None:
        """
        Deliver the chunk handed out last, ahead of the others.
        """
        assert self.spool is not None
        chunk = self.outstanding.pop()
        self.spool.delivered(chunk)
        self.delivered_events.update(chunk.events)

    @rule()
    def checkpoint(self) -> None:
        assert self.spool is not None
        self.saved = json.loads(json.dumps(self.spool.state()))

    @rule(latest=st.booleans(), crash=st.booleans(), tear=st.integers(0, 80))
    def restart(self, latest: bool, crash: bool, tear: int) -> None:
        """
        Restart from the current state or the last checkpoint; chunks in
        flight are lost.  A C{crash} loses what was not flushed (the
        tailer reads it again, which this model leaves out); C{tear}
        bytes of garbage may end a file (a crash mid-append).
        """
        assert self.spool is not None
        state = self.spool.state() if latest else self.saved
        flushed = [(path, size) for _, path, size, _ in self.spool.files()]
        self.spool.close()
        if crash:
            for path, size in flushed:
                with open(path, "rb") as f:
                    f.seek(size)
                    self.appended.subtract(data for _, data in iter_records(f))
                os.truncate(path, size)
            self.appended = +self.appended
        buckets = list_buckets(self.root)
        if tear and buckets:
            _, path = self.rng.choice(buckets)
            with open(path, "ab") as f:
                f.write(bytes(self.rng.randrange(256) for _ in range(tear)))
        self.outstanding = []
        self.restarts += 1
        self.spool = self.new_spool(state)

    @invariant()
    def outstanding_not_delivered(self) -> None:
        """
        No chunk handed out and not delivered lies below its file's
        delivered offset (else a restart would skip it).
        """
        if self.spool is not None:
            delivered = self.spool.state()["delivered"]
            for chunk in self.outstanding:
                assert delivered.get(chunk.relpath, 0) <= chunk.start

    def teardown(self) -> None:
        try:
            if self.spool is not None:
                self.check_all_delivered()
        finally:
            if self.spool is not None:
                self.spool.close()
            shutil.rmtree(self.directory)

    def check_all_delivered(self) -> None:
        assert self.spool is not None
        self.spool.flush()
        self.outstanding += drain(self.spool, max_events=4)
        self.rng.shuffle(self.outstanding)
        for chunk in self.outstanding:
            self.spool.delivered(chunk)
            self.delivered_events.update(chunk.events)
        self.outstanding = []
        assert self.spool.next_chunk() is None
        assert self.spool.undelivered_bytes() == 0
        assert all(size == done for _, _, size, done in self.spool.files())
        missing = self.appended - self.delivered_events
        assert not missing, f"{sum(missing.values())} events never delivered"
        if not self.restarts:
            assert self.delivered_events == self.appended
        state = self.spool.state()
        self.spool.close()
        self.spool = self.new_spool(state)
        assert self.spool.next_chunk() is None


class SpoolPropertyTests(SynchronousTestCase):
    """
    The L{SpoolMachine} property.
    """

    def test_random_interleavings(self) -> None:
        """
        Whatever the interleaving, every appended event is delivered at
        least once, and exactly once without restarts.
        """
        run_state_machine_as_test(
            SpoolMachine,
            settings=settings(max_examples=100, stateful_step_count=40, deadline=None),
        )
