"""The tailer's spool: local bucket files, and how far each was delivered.

The tailer appends every event to a local bucket file first (disk is the
buffer: when the bucks are away it keeps reading into these files, and
memory stays bounded whatever the backlog).  The delivery engine then asks
for chunks of records read back from the files and reports each chunk
delivered once R bucks acknowledged it.  Each file has three offsets::

    0 ........ delivered ........ reserved ........ flushed ... appended
      acknowledged by R bucks     handed out,       on the      written,
                                  not all acked     kernel      maybe still
                                                    side        buffered

  1. L{Spool.append} encodes events and appends them, as records, to the
     bucket of their point (L{logship.core.bucket.BucketWriter}); at most
     C{max_open} writers are open, the least recently used is closed.
  2. L{Spool.flush} hands the buffered records to the kernel (and fsyncs
     the files and any directory it created when C{sync}); only then are
     they C{flushed}, and only flushed records are ever handed out, so a
     half-written record never is.
  3. L{Spool.next_chunk} hands out records of one file from its
     C{reserved} offset on, oldest bucket first among the files with
     flushed records not handed out yet; C{reserved} moves past them.
     Several chunks of one file may be out at once.  Records appended
     lately are still in memory (the last contiguous run of each file, at
     most C{max_fresh} bytes in all): those are handed out as they are,
     without reading them back; older ones (a backlog) are read from disk
     with a bounded C{pread}.
  4. L{Spool.delivered} may come in any order: C{delivered} advances over
     the contiguous prefix of delivered ranges, later ranges wait in a
     small heap until the gap before them fills.
  5. L{Spool.state} saves C{delivered} only.  L{Spool.restore} starts
     C{reserved} there, so whatever was handed out but not acknowledged is
     sent again after a restart (duplicates are allowed, loss is not).

Restart safety: sizes come from the files themselves.  A file whose saved
offset is not exactly its size is first recovered (a torn tail from a
crash mid-append is cut, see L{logship.core.bucket.recover}); a saved offset
past the end is clamped to it, one that does not fall on a record boundary
is moved back to the last boundary before it (found by walking the
framing from the start of the file).  Whenever a writer opens a file (which
recovers it too), the tracked size is checked against the file's.
"""

from __future__ import annotations

import heapq
import os
import struct
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twisted.logger import Logger

from logship.core.bucket import (
    MIN_EVENT_SIZE,
    BucketWriter,
    TornRecord,
    bucket_relpath,
    bucket_start,
    iter_records,
    list_buckets,
    recover,
)
from logship.core.event import Event, encode

#: Version of the dictionary returned by L{Spool.state}.
STATE_VERSION = 1

#: L{Spool.next_chunk} takes files up again from disk at most this many
#: times in one call before it gives up (a file damaged again and again).
_MAX_RETAKES = 4

#: Bytes of lately appended records kept in memory by default.
DEFAULT_MAX_FRESH = 1 << 20

#: At most this many successive recoveries of one file when restoring (each
#: cuts one more record that frames correctly but does not decode).
_MAX_RECOVERIES = 16

_LENGTH = struct.Struct(">H")


class SpoolError(Exception):
    """
    The spool was used against its contract (e.g. restored twice).
    """


@dataclass(frozen=True)
class Chunk:
    """
    Records of one local bucket file handed out for delivery.

    @ivar relpath: the bucket path relative to the spool root, e.g.
        C{"2026/11/26/09/37.b"}.
    @ivar start: byte offset of the first record in the file.
    @ivar end: byte offset just past the last record.
    @ivar events: the serialized events (record payloads, without their
        2-byte lengths), in file order.
    """

    relpath: str
    start: int
    end: int
    events: list[bytes]


@dataclass(eq=False)
class _File:
    """
    What the spool knows of one local bucket file.

    Invariant: C{0 <= delivered <= reserved <= flushed <= appended}, each
    a record boundary.

    @ivar done: delivered ranges C{(start, end)} beyond C{delivered}, as a
        heap; they join C{delivered} when the gap before them fills.
    @ivar writer: the open writer, or C{None}.
    @ivar dirty: appended to since the last flush.
    """

    relpath: str
    start: int
    path: Path
    flushed: int
    appended: int
    reserved: int
    delivered: int
    done: list[tuple[int, int]] = field(default_factory=list)
    writer: BucketWriter | None = None
    dirty: bool = False
    #: the records appended last, still in memory, from C{fresh_start} on
    fresh: list[bytes] = field(default_factory=list)
    fresh_start: int = 0
    fresh_bytes: int = 0


class Spool:
    """
    Local bucket files under one root, and their delivery cursors.

    Call L{restore} first (once); every other method restores from nothing
    (everything on disk undelivered) if it was not called.
    """

    _log = Logger()

    def __init__(
        self,
        root: Path,
        bucket_seconds: int,
        *,
        sync: bool = False,
        max_open: int = 16,
        max_fresh: int = DEFAULT_MAX_FRESH,
    ) -> None:
        """
        @param root: the directory of the bucket files (created if needed).
        @param bucket_seconds: the bucket interval of appended events.
        @param sync: fsync files and new directories in L{flush} (the
            C{ack2+fsync} durability).
        @param max_open: how many bucket files may be open for appending
            at once; the least recently used is closed beyond that.
        @param max_fresh: bytes of records appended lately kept in memory
            to be handed out without reading them back (0: always read).
        """
        if max_open < 1:
            raise ValueError("max_open must be at least 1")
        self.root = Path(root)
        self.bucket_seconds = bucket_seconds
        self.sync = sync
        self.max_open = max_open
        self.max_fresh = max_fresh
        self._fresh_total = 0
        self._files: dict[str, _File] = {}
        #: open writers, least recently used first
        self._writers: OrderedDict[str, _File] = OrderedDict()
        #: files with flushed records not handed out yet: (start, relpath)
        self._eligible: list[tuple[int, str]] = []
        self._eligible_set: set[str] = set()
        #: directories whose entries must be fsynced at the next flush
        self._dirs_to_sync: set[Path] = set()
        self._reader: tuple[str, int] | None = None
        self._restored = False
        self._closed = False
        self._last_start = -1
        self._last_file: _File | None = None

    # ------------------------------------------------------------------
    # Restoring

    def restore(self, state: dict[str, Any] | None) -> None:
        """
        Take up the files on disk and how far each was delivered.

        Call it once, before anything else.  Files on disk absent from
        C{state} are undelivered from their start; entries of C{state}
        whose file is gone are dropped.

        @param state: what L{state} returned before, or C{None}.
        @raise SpoolError: if called twice, or after another method.
        """
        if self._restored:
            raise SpoolError("Spool.restore must be called once, before anything else")
        self._restored = True
        saved = self._parse_state(state)
        if not self.root.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            if self.sync:
                self._dirs_to_sync.add(self.root.parent)
        seen = set()
        for start, path in list_buckets(self.root):
            relpath = path.relative_to(self.root).as_posix()
            seen.add(relpath)
            size, delivered = self._take_up(path, saved.get(relpath, 0))
            entry = _File(relpath, start, path, size, size, delivered, delivered)
            self._files[relpath] = entry
            self._mark_eligible(entry)
        gone = sorted(set(saved) - seen)
        if gone:
            self._log.info(
                "Spool {root}: {count} saved bucket file(s) are gone, dropped from the state",
                root=str(self.root),
                count=len(gone),
            )

    def _parse_state(self, state: dict[str, Any] | None) -> dict[str, int]:
        """
        The delivered offsets of a saved state, by relative path; anything
        malformed is logged and ignored (its file is then sent again).
        """
        if state is None:
            return {}
        delivered = state.get("delivered") if isinstance(state, dict) else None
        if not isinstance(delivered, dict) or state.get("version") != STATE_VERSION:
            self._log.warn(
                "Spool {root}: unusable saved state, every local bucket is sent again",
                root=str(self.root),
            )
            return {}
        result = {}
        for relpath, offset in delivered.items():
            if isinstance(relpath, str) and type(offset) is int and offset >= 0:
                result[relpath] = offset
            else:
                self._log.warn(
                    "Spool {root}: bad saved offset {offset!r} of {relpath!r} ignored",
                    root=str(self.root),
                    relpath=relpath,
                    offset=offset,
                )
        return result

    def _take_up(self, path: Path, claimed: int) -> tuple[int, int]:
        """
        The size of a bucket file found on disk and a safe delivered offset.

        A file is trusted as it is when the claimed offset is exactly its
        size (it was delivered to its end, so it ends on a record
        boundary).  Otherwise it is recovered (torn tail cut) and the
        offset is clamped to the size, or moved back to a record boundary.

        @param claimed: the delivered offset of the saved state.
        @return: C{(size, delivered)}.
        """
        size = path.stat().st_size
        if claimed == size:
            return size, claimed
        for _ in range(_MAX_RECOVERIES):
            recovery = recover(path)
            if not recovery.cut:
                break
            self._log.warn(
                "Spool {path}: cut a torn tail of {cut} bytes ({reason})",
                path=str(path),
                cut=recovery.cut,
                reason=recovery.reason,
            )
        size = path.stat().st_size
        if claimed >= size:
            if claimed > size:
                self._log.warn(
                    "Spool {path}: delivered offset {offset} is past the end ({size}); clamped",
                    path=str(path),
                    offset=claimed,
                    size=size,
                )
            return size, size
        boundary = _boundary_at_or_before(path, claimed)
        if boundary != claimed:
            self._log.warn(
                "Spool {path}: delivered offset {offset} is not a record boundary; "
                "resending from {boundary}",
                path=str(path),
                offset=claimed,
                boundary=boundary,
            )
        return size, boundary

    def _ready(self, writing: bool = True) -> None:
        """
        Restore from nothing if L{restore} was not called.

        @param writing: the caller touches files.
        @raise SpoolError: if it does and the spool is closed.
        """
        if not self._restored:
            self.restore(None)
        if writing and self._closed:
            raise SpoolError("the spool is closed")

    # ------------------------------------------------------------------
    # Appending

    def append(self, events: Iterable[Event]) -> int:
        """
        Encode events and append each to the bucket file of its point.

        The records become available to L{next_chunk} after L{flush}.

        @return: the bytes appended (records, with their lengths).
        @raise ValueError: if an event encodes to more than a record holds
            (the events before it are appended).
        """
        self._ready()
        total = 0
        seconds = self.bucket_seconds
        for event in events:
            data = encode(event)
            start = bucket_start(event.point, seconds)
            entry = self._last_file
            if start != self._last_start or entry is None or entry.writer is None:
                entry = self._file_for(start)
                self._open(entry)
                self._last_start = start
                self._last_file = entry
            writer = entry.writer
            assert writer is not None
            try:
                writer.append(data)
            except OSError:
                self._log.failure("Spool {path}: append failed", path=str(entry.path))
                self._resync(entry)
                raise
            self._keep_fresh(entry, data)
            entry.appended += 2 + len(data)
            entry.dirty = True
            total += 2 + len(data)
        return total

    def _keep_fresh(self, entry: _File, data: bytes) -> None:
        """
        Keep a record just appended at C{entry.appended} in memory, if it
        continues the file's run of fresh records and the budget allows.
        """
        if entry.fresh and entry.fresh_start + entry.fresh_bytes != entry.appended:
            self._drop_fresh(entry)
        size = 2 + len(data)
        if self._fresh_total + size > self.max_fresh:
            return
        if not entry.fresh:
            entry.fresh_start = entry.appended
        entry.fresh.append(data)
        entry.fresh_bytes += size
        self._fresh_total += size

    def _drop_fresh(self, entry: _File) -> None:
        """
        Forget the records of C{entry} kept in memory (they are read from
        disk instead).
        """
        self._fresh_total -= entry.fresh_bytes
        entry.fresh = []
        entry.fresh_bytes = 0

    def _file_for(self, start: int) -> _File:
        """
        The file of the bucket starting at C{start}, known or new.
        """
        relpath = bucket_relpath(start, self.bucket_seconds)
        entry = self._files.get(relpath)
        if entry is None:
            entry = _File(relpath, start, self.root / relpath, 0, 0, 0, 0)
            self._files[relpath] = entry
        return entry

    def _open(self, entry: _File) -> None:
        """
        Make sure C{entry} has an open writer, the most recently used one;
        close the least recently used writer beyond C{max_open}.
        """
        if entry.writer is not None:
            self._writers.move_to_end(entry.relpath)
            return
        while len(self._writers) >= self.max_open:
            _, oldest = self._writers.popitem(last=False)
            self._close_writer(oldest)
        path = entry.path
        if self.sync and not path.exists():
            directory = path.parent
            self._dirs_to_sync.add(directory)
            while not directory.exists():
                directory = directory.parent
                self._dirs_to_sync.add(directory)
        writer = BucketWriter(path)
        if writer.recovery.cut:
            self._log.warn(
                "Spool {path}: cut a torn tail of {cut} bytes ({reason})",
                path=str(path),
                cut=writer.recovery.cut,
                reason=writer.recovery.reason,
            )
        entry.writer = writer
        self._writers[entry.relpath] = entry
        size = path.stat().st_size
        if size != entry.appended:
            self._adopt_size(entry, size)

    def _adopt_size(self, entry: _File, size: int) -> None:
        """
        The file, just recovered by its writer, is C{size} bytes long, not
        what the spool tracked (the writer was closed, so nothing was
        buffered).  Growth is complete records written by someone else;
        a shrink clamps the offsets to the new end, a record boundary.
        """
        self._log.warn(
            "Spool {path}: file is {size} bytes, {tracked} expected",
            path=str(entry.path),
            size=size,
            tracked=entry.appended,
        )
        self._drop_fresh(entry)
        entry.flushed = entry.appended = size
        if size < entry.reserved:
            entry.reserved = min(entry.reserved, size)
            entry.delivered = min(entry.delivered, size)
            entry.done = [(s, e) for s, e in entry.done if e <= size]
            heapq.heapify(entry.done)
        self._mark_eligible(entry)

    def _close_writer(self, entry: _File) -> None:
        """
        Flush (and fsync when C{sync}) and close the writer of C{entry};
        its records become flushed.  The caller removes it from the LRU.
        """
        writer = entry.writer
        if writer is None:
            return
        entry.writer = None
        if self._last_file is entry:
            self._last_file = None
        try:
            writer.flush(self.sync and entry.dirty)
        finally:
            writer.close()
        entry.flushed = entry.appended
        entry.dirty = False
        self._mark_eligible(entry)

    def flush(self) -> None:
        """
        Hand every record appended so far to the kernel; when C{sync}, also
        fsync the files and the directories created for them, so that they
        survive a power loss once this returns.
        """
        self._ready()
        for entry in self._writers.values():
            if entry.dirty:
                assert entry.writer is not None
                entry.writer.flush(self.sync)
                entry.flushed = entry.appended
                entry.dirty = False
                self._mark_eligible(entry)
        self._sync_dirs()

    def _sync_dirs(self) -> None:
        """
        fsync the directories that got new entries (deepest first).
        """
        if not self._dirs_to_sync:
            return
        for directory in sorted(self._dirs_to_sync, key=lambda d: len(d.parts), reverse=True):
            fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        self._dirs_to_sync.clear()

    def close_idle(self, now: float, idle: float) -> None:
        """
        Close the writers of buckets whose interval ended more than C{idle}
        seconds before C{now} (their records become flushed; a late event
        opens the file again).

        @param now: the current time, seconds since the epoch.
        """
        self._ready()
        limit = now - idle - self.bucket_seconds
        for relpath, entry in list(self._writers.items()):
            if entry.start < limit:
                del self._writers[relpath]
                self._close_writer(entry)
        if self.sync:
            self._sync_dirs()

    # ------------------------------------------------------------------
    # Handing out and delivering

    def _mark_eligible(self, entry: _File) -> None:
        """
        Queue C{entry} for L{next_chunk} if it has flushed records not
        handed out yet.
        """
        if entry.flushed > entry.reserved and entry.relpath not in self._eligible_set:
            self._eligible_set.add(entry.relpath)
            heapq.heappush(self._eligible, (entry.start, entry.relpath))

    def next_chunk(self, max_events: int = 1000, max_bytes: int = 256 << 10) -> Chunk | None:
        """
        Hand out the next flushed records not handed out yet, all from one
        file, the oldest bucket first.

        @param max_events: at most this many records.
        @param max_bytes: at most this many bytes of records (with their
            lengths), except that one record is always handed out even if
            it is longer.
        @return: a chunk, or C{None} if every flushed record was handed out.
        """
        self._ready()
        if max_events < 1 or max_bytes < 1:
            raise ValueError("max_events and max_bytes must be positive")
        retakes = 0
        while self._eligible:
            _, relpath = self._eligible[0]
            entry = self._files.get(relpath)
            if entry is None or entry.reserved >= entry.flushed:
                heapq.heappop(self._eligible)
                self._eligible_set.discard(relpath)
                continue
            chunk = self._read_chunk(entry, max_events, max_bytes, retakes >= _MAX_RETAKES)
            if chunk is not None:
                return chunk
            retakes += 1
        return None

    def _read_chunk(
        self, entry: _File, max_events: int, max_bytes: int, last_try: bool
    ) -> Chunk | None:
        """
        Read records of C{entry} from its reserved offset on.

        @param last_try: raise, rather than take the file up again, if it
            does not hold what the spool expected.
        @return: the chunk, or C{None} if the file did not hold what the
            spool expected (it is then taken up again from disk).
        @raise SpoolError: if it did not and C{last_try}.
        """
        start = entry.reserved
        if entry.fresh:
            chunk = self._fresh_chunk(entry, max_events, max_bytes)
            if chunk is not None:
                return chunk
        available = entry.flushed - start
        try:
            fd = self._reader_for(entry)
            wanted = min(available, max(max_bytes, 2))
            data = os.pread(fd, wanted, start)
            if len(data) < wanted:
                raise _Damaged(f"file ends before {entry.flushed}")
            events: list[bytes] = []
            position = 0
            while len(events) < max_events and position + 2 <= len(data):
                (length,) = _LENGTH.unpack_from(data, position)
                if length < MIN_EVENT_SIZE or 2 + length > available - position:
                    raise _Damaged(f"bad record length {length} at {start + position}")
                if position + 2 + length > len(data):
                    if events:
                        break
                    data = os.pread(fd, 2 + length, start)  # one record beyond max_bytes
                    if len(data) < 2 + length:
                        raise _Damaged(f"file ends inside a record at {start}")
                events.append(data[position + 2 : position + 2 + length])
                position += 2 + length
            if not events:
                raise _Damaged(f"file ends before {entry.flushed}")
        except (OSError, _Damaged) as e:
            if last_try:
                raise SpoolError(f"{entry.path}: unreadable ({e})") from e
            self._log.error(
                "Spool {path}: not as expected ({error}); taking it up again from disk",
                path=str(entry.path),
                error=str(e),
            )
            self._resync(entry)
            return None
        entry.reserved = start + position
        return Chunk(entry.relpath, start, start + position, events)

    def _fresh_chunk(self, entry: _File, max_events: int, max_bytes: int) -> Chunk | None:
        """
        The next chunk of C{entry} from its records in memory, if they
        start at its C{reserved} offset (fresh records already passed by
        reading from disk are forgotten first); else C{None}.
        """
        start = entry.reserved
        fresh = entry.fresh
        at = entry.fresh_start
        skip = 0
        while skip < len(fresh) and at < start:
            at += 2 + len(fresh[skip])
            skip += 1
        if skip:
            dropped = at - entry.fresh_start
            del fresh[:skip]
            entry.fresh_start = at
            entry.fresh_bytes -= dropped
            self._fresh_total -= dropped
        if not fresh or at != start:
            if fresh and at < start:  # not on a boundary: not ours to trust
                self._drop_fresh(entry)
            return None
        end = start
        count = 0
        limit = entry.flushed
        while count < len(fresh) and count < max_events:
            size = 2 + len(fresh[count])
            if end + size > limit or (count and end + size - start > max_bytes):
                break
            end += size
            count += 1
        if not count:
            return None
        events = fresh[:count]
        del fresh[:count]
        entry.fresh_start = end
        entry.fresh_bytes -= end - start
        self._fresh_total -= end - start
        entry.reserved = end
        return Chunk(entry.relpath, start, end, events)

    def _reader_for(self, entry: _File) -> int:
        """
        A read-only descriptor of C{entry}'s file (the last one is kept).
        """
        if self._reader is not None:
            if self._reader[0] == entry.relpath:
                return self._reader[1]
            self._close_reader()
        fd = os.open(entry.path, os.O_RDONLY)
        self._reader = (entry.relpath, fd)
        return fd

    def _close_reader(self) -> None:
        if self._reader is not None:
            os.close(self._reader[1])
            self._reader = None

    def _resync(self, entry: _File) -> None:
        """
        Take one file up again from disk after it did not hold what the
        spool expected (damaged or cut from outside, a failed write):
        recover it, keep its delivered offset if still a record boundary,
        and hand out again everything after it.
        """
        if self._reader is not None and self._reader[0] == entry.relpath:
            self._close_reader()
        self._drop_fresh(entry)
        if entry.writer is not None:
            del self._writers[entry.relpath]
            try:
                self._close_writer(entry)
            except OSError:
                self._log.failure("Spool {path}: close failed", path=str(entry.path))
        if not entry.path.exists():
            self._log.error(
                "Spool {path}: file is gone, {lost} undelivered bytes lost",
                path=str(entry.path),
                lost=entry.appended - entry.delivered,
            )
            del self._files[entry.relpath]
            return
        size, delivered = self._take_up(entry.path, entry.delivered)
        entry.flushed = entry.appended = size
        entry.delivered = entry.reserved = delivered
        entry.done = []
        entry.dirty = False
        self._mark_eligible(entry)

    def delivered(self, chunk: Chunk) -> None:
        """
        C{chunk} was delivered (R bucks acknowledged it); calls may come in
        any order.  The file's delivered offset advances over the
        contiguous prefix of delivered ranges.  A chunk the spool does not
        know (its file forgotten, or taken up again since) is ignored.
        """
        self._ready(writing=False)
        entry = self._files.get(chunk.relpath)
        if entry is None or chunk.end > entry.reserved or chunk.end <= entry.delivered:
            return
        if chunk.start > entry.delivered:
            heapq.heappush(entry.done, (chunk.start, chunk.end))
            return
        entry.delivered = chunk.end
        done = entry.done
        while done and done[0][0] <= entry.delivered:
            entry.delivered = max(entry.delivered, heapq.heappop(done)[1])

    # ------------------------------------------------------------------
    # Reporting

    def state(self) -> dict[str, Any]:
        """
        The delivered offset of each file, JSON-compatible, for the
        checkpoint (files not delivered at all are left out: a file absent
        from the state is sent from its start).
        """
        self._ready(writing=False)
        return {
            "version": STATE_VERSION,
            "delivered": {
                relpath: entry.delivered
                for relpath, entry in self._files.items()
                if entry.delivered
            },
        }

    def undelivered_bytes(self) -> int:
        """
        The backlog: bytes appended (flushed or not) and not delivered yet.
        """
        self._ready(writing=False)
        return sum(entry.appended - entry.delivered for entry in self._files.values())

    def files(self) -> list[tuple[int, Path, int, int]]:
        """
        The local bucket files, as C{(start, path, size, delivered_offset)}
        in time order; C{size} counts flushed records only.
        """
        self._ready(writing=False)
        return [
            (entry.start, entry.path, entry.flushed, entry.delivered)
            for entry in sorted(self._files.values(), key=lambda e: (e.start, e.relpath))
        ]

    def forget(self, path: Path) -> None:
        """
        Stop tracking a bucket file (the pruner deleted it, or is about to).
        Its writer is closed; a later event of that bucket starts a new
        file, and a late L{delivered} of one of its chunks is ignored.

        @param path: the file, as given by L{files}.
        """
        self._ready()
        relpath = Path(path).relative_to(self.root).as_posix()
        entry = self._files.pop(relpath, None)
        if entry is None:
            return
        self._drop_fresh(entry)
        if self._reader is not None and self._reader[0] == relpath:
            self._close_reader()
        if entry.writer is not None:
            del self._writers[relpath]
            self._close_writer(entry)

    def close(self) -> None:
        """
        Flush (and fsync when C{sync}) and close every file.  Idempotent.
        """
        if self._closed:
            return
        if self._restored:
            try:
                self.flush()
            finally:
                self._closed = True
                while self._writers:
                    _, entry = self._writers.popitem(last=False)
                    try:
                        self._close_writer(entry)
                    except OSError:
                        self._log.failure("Spool {path}: close failed", path=str(entry.path))
                self._close_reader()
        self._closed = True


class _Damaged(Exception):
    """
    A bucket file does not hold the records the spool expected there.
    """


def _boundary_at_or_before(path: Path, offset: int) -> int:
    """
    The last record boundary of a bucket file at or before C{offset},
    found by walking its framing from the start (streaming, bounded memory).
    """
    boundary = 0
    with open(path, "rb") as stream:
        try:
            for start, data in iter_records(stream):
                end = start + 2 + len(data)
                if end > offset:
                    break
                boundary = end
        except TornRecord:
            pass
    return boundary
