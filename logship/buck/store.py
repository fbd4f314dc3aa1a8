"""The buck's bucket store: events written into time-bucketed files on disk.

A buck keeps one directory, C{DATA}::

    DATA/bucket-seconds       the bucket interval the files were written with
    DATA/buckets/YYYY/MM/DD/HH/MM.b   bucket files (L{logship.core.bucket} layout)
    DATA/incoming/*.part      whole-bucket uploads being received
    DATA/archived             uploads merged, receipts of files deleted once archived (L{ArchivedRecord})

L{BucketStore.write_batch} routes the events of a batch to the bucket of
their point and appends them (arrival order within a file); the writers
stay open in a bounded LRU so a steady stream costs one C{write} per batch
and file, and L{BucketStore.close_idle} closes the ones nobody wrote to
for a while.  Every batch is handed to the kernel before C{write_batch}
returns, and fsynced (files, and the directories of new files) when the
caller asks.

With several data directories (one per disk, C{--data} repeated), each
bucket's file is written on one disk chosen by a stable hash of its start
(L{disk_index}); uploads in progress and the archived record stay on the
first.  An error that says a disk cannot take more (EIO, ENOSPC, EROFS,
EDQUOT) takes that disk out of service: batches and uploads of its buckets
are refused (L{DiskOutOfService}, the tailer sends them to other bucks)
until a restart, while its files are still listed and read for the porter.

L{BucketStore.merge_bucket} merges a whole bucket file uploaded by a tailer
into the buck's own file for that interval: only records whose identity
(C{shn}, C{app}, C{point}, C{crc}) the file does not hold yet are appended,
so a re-upload adds nothing.

For the porter, L{BucketStore.listing} and L{BucketStore.read} show the
files as they are between two batches (whole records), and
L{BucketStore.delete_archived} deletes a file the porter archived, only if
it still has the size and SHA-256 the porter's receipt names.

Writes and merges take an optional C{allow} predicate on the events' host
names (a tailer's credential, L{logship.core.credentials.HostPatterns}):
one event of another host refuses the whole batch or upload
(L{HostNotAllowed}) before anything is written.

Everything here is synchronous file I/O, called from the reactor thread: a
batch is at most 4 MiB (the wire's limit), and a merge reads one bucket
file (see C{docs/buck.md} for its cost).
"""

from __future__ import annotations

import enum
import errno
import os
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from logship.buck.archived import ARCHIVED_FILE, ArchivedRecord, SignedReceipt
from logship.core.bucket import (
    BucketWriter,
    TornRecord,
    bucket_relpath,
    bucket_start,
    check_bucket_seconds,
    iter_records,
    list_buckets,
)
from logship.core.event import (
    CorruptEvent,
    check_event,
    decode,
    host_field,
    identity_key,
)
from logship.core.receipts import file_sha256

#: Writers kept open at most (least recently used ones are closed first).
DEFAULT_OPEN_BUCKETS = 64

#: Seconds after which a writer nobody wrote to is closed by L{close_idle}.
DEFAULT_IDLE_SECONDS = 120.0

BUCKETS = "buckets"
INCOMING = "incoming"
SECONDS_FILE = "bucket-seconds"


class StoreError(Exception):
    """
    The store cannot be opened or used (the message says why).
    """


class DiskOutOfService(StoreError):
    """
    A bucket's file is on a disk taken out of service (L{BucketStore}
    with several data directories); nothing of the batch was written.
    """


#: The errors that take a disk out of service: it cannot take more data.
DISK_FAILURES = frozenset({errno.EIO, errno.ENOSPC, errno.EROFS, errno.EDQUOT})


def disk_index(start: int, disks: int) -> int:
    """
    The disk of bucket C{start} among C{disks}: a stable hash (CRC-32 of
    its start), the same in every run and on every buck.
    """
    return zlib.crc32(b"%d" % start) % disks


class CorruptBatch(ValueError):
    """
    A batch holds an event that does not decode; nothing of it was written.

    @ivar index: the position of the first bad event in the batch.
    """

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(f"event {index} is corrupt: {reason}")
        self.index = index


class BadUpload(ValueError):
    """
    An uploaded bucket file cannot be merged (wrong interval, a record that
    does not decode, an event outside the bucket); nothing of it was merged.
    """


class HostNotAllowed(BadUpload):
    """
    A batch or an upload holds an event of a host its sender may not send
    for; nothing of it was written.

    @ivar host: the first such host.
    """

    def __init__(self, where: str, host: bytes) -> None:
        shown = host.decode("utf-8", "replace")
        super().__init__(f"{where}: host {shown!r} is not allowed for this sender")
        self.host = host


#: A predicate on an event's host name: may its sender send it?
HostCheck = Callable[[bytes], bool]


class ArchiveOutcome(enum.Enum):
    """
    What L{BucketStore.delete_archived} did with a file the porter archived.
    """

    #: It had the receipt's size and digest: deleted.
    DELETED = "deleted"
    #: There was no file (deleted already).
    ABSENT = "absent"
    #: It grew since the porter read it: kept for the next archive.
    GREW = "grew"
    #: Its size is the receipt's but not its digest: kept (not the copy the
    #: porter archived).
    DIFFERS = "differs"


@dataclass
class StoreStats:
    """
    Counters of a L{BucketStore}.

    @ivar batches: batches written.
    @ivar events_written: events appended by L{BucketStore.write_batch}.
    @ivar bytes_written: record bytes appended (batches and merges).
    @ivar rejected_batches: batches refused because an event was corrupt.
    @ivar fsyncs: C{fsync} calls (files and directories).
    @ivar files_opened: writers opened (a bucket file opened for appending).
    @ivar files_closed: writers closed (LRU, idle, shutdown, errors).
    @ivar recovered: torn tails cut off bucket files when they were opened.
    @ivar merges: uploads merged.
    @ivar merge_events: events in the uploads merged.
    @ivar merge_new: events of those that were new and appended.
    @ivar rejected_merges: uploads refused by L{BucketStore.merge_bucket}.
    @ivar write_errors: I/O errors while writing.
    @ivar archived_deleted: files deleted because the porter archived them.
    @ivar archived_refused: files kept because their digest differed from
        the porter's receipt.
    """

    batches: int = 0
    events_written: int = 0
    bytes_written: int = 0
    rejected_batches: int = 0
    fsyncs: int = 0
    files_opened: int = 0
    files_closed: int = 0
    recovered: int = 0
    merges: int = 0
    merge_events: int = 0
    merge_new: int = 0
    rejected_merges: int = 0
    write_errors: int = 0
    archived_deleted: int = 0
    archived_refused: int = 0


class _Open:
    """
    One open writer and when it was last used.
    """

    __slots__ = ("writer", "used")

    def __init__(self, writer: BucketWriter, used: float) -> None:
        self.writer = writer
        self.used = used


def prepare_data_dir(data: Path, seconds: int) -> None:
    """
    Create a buck's data directory (or check an existing one): its
    C{buckets} and C{incoming} directories, writable, and the bucket
    interval it was first used with recorded in C{DATA/bucket-seconds}.

    @param data: the data directory.
    @param seconds: the bucket interval.
    @raise StoreError: if it cannot be used, or holds buckets of another
        interval (their files would not line up).
    """
    try:
        (data / BUCKETS).mkdir(parents=True, exist_ok=True)
        (data / INCOMING).mkdir(parents=True, exist_ok=True)
        recorded = _recorded_seconds(data)
        if recorded is None:
            tmp = data / (SECONDS_FILE + ".tmp")
            tmp.write_text(f"{seconds}\n")
            os.replace(tmp, data / SECONDS_FILE)
        elif recorded != seconds:
            raise StoreError(
                f"{data} holds buckets of {recorded} seconds, not {seconds}:"
                f" use --bucket-seconds {recorded} or another data directory"
            )
        probe = data / INCOMING / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise StoreError(f"{e.filename or data}: {e.strerror}") from None


def _recorded_seconds(data: Path) -> int | None:
    path = data / SECONDS_FILE
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    try:
        return int(text)
    except ValueError:
        raise StoreError(f"{path}: not a number of seconds: {text[:40]!r}") from None


class BucketStore:
    """
    Bucket files under C{DATA/buckets} (of one or several disks), written
    batch by batch and merged upload by upload.

    @ivar data: the data directory.
    @ivar buckets: C{DATA/buckets}.
    @ivar incoming: C{DATA/incoming}, where uploads are received.
    @ivar disks: the data directories, one per disk (C{data} first).
    @ivar failed: the disks taken out of service, with why.
    @ivar seconds: the bucket interval.
    @ivar stats: the counters.
    @ivar archived: the buckets deleted because they were archived.
    """

    _log = Logger()

    def __init__(
        self,
        data: Path,
        seconds: int,
        clock: IReactorTime,
        *,
        open_buckets: int = DEFAULT_OPEN_BUCKETS,
        idle_seconds: float = DEFAULT_IDLE_SECONDS,
        fsync: Callable[[int], None] = os.fsync,
        more_data: Sequence[Path] = (),
        open_writer: Callable[[Path], BucketWriter] = BucketWriter,
    ) -> None:
        """
        Open (creating it if needed) the data directory C{data}, and the
        other disks' directories C{more_data}.

        Partial uploads left in C{DATA/incoming} by an earlier run are
        removed; a data directory written with another bucket interval is
        refused (its files would not line up).

        @param data: the data directory.
        @param seconds: the bucket interval; it must divide 3600.
        @param clock: gives the time writers were last used.
        @param open_buckets: how many writers to keep open at most.
        @param idle_seconds: L{close_idle} closes writers unused this long.
        @param fsync: called with a file descriptor to make it durable
            (L{os.fsync}; tests count the calls).
        @param more_data: more data directories, one per disk: each
            bucket's file is written on one of C{data} and these, chosen by
            L{disk_index}; uploads and the archived record stay on C{data}.
        @param open_writer: opens a bucket file for appending
            (L{BucketWriter}; tests give failing ones).
        @raise StoreError: if the directory cannot be used.
        @raise ValueError: if C{seconds} or C{open_buckets} are invalid.
        """
        self.seconds = check_bucket_seconds(seconds)
        if open_buckets < 1:
            raise ValueError(f"open_buckets must be at least 1, not {open_buckets}")
        self.data = data
        self.buckets = data / BUCKETS
        self.incoming = data / INCOMING
        self.disks = [data, *more_data]
        self.failed: dict[Path, str] = {}
        self._open_writer = open_writer
        self.stats = StoreStats()
        self._clock = clock
        self._open_buckets = open_buckets
        self._idle_seconds = idle_seconds
        self._fsync = fsync
        self._writers: OrderedDict[int, _Open] = OrderedDict()
        self._closed = False
        self._prepare()
        try:
            self.archived = ArchivedRecord(data / ARCHIVED_FILE, clock.seconds())
        except OSError as e:
            raise StoreError(f"{e.filename or data}: {e.strerror}") from None

    # -- opening

    def _prepare(self) -> None:
        for disk in self.disks:
            prepare_data_dir(disk, self.seconds)
        try:
            for stale in self.incoming.iterdir():
                stale.unlink()
                self._log.info(
                    "Removed an unfinished upload {path}", path=str(stale)
                )
        except OSError as e:
            raise StoreError(f"{e.filename or self.incoming}: {e.strerror}") from None

    def path_of(self, start: int) -> Path:
        """
        The bucket file of the bucket starting at C{start}: on its disk
        (L{disk_index}), unless another disk already holds a file of it
        (the disks were listed otherwise when it was written).
        """
        relative = bucket_relpath(start, self.seconds)
        chosen = self.disks[disk_index(start, len(self.disks))] / BUCKETS / relative
        if len(self.disks) == 1 or chosen.exists():
            return chosen
        for disk in self.disks:
            if (disk / BUCKETS / relative).exists():
                return disk / BUCKETS / relative
        return chosen

    def disk_of(self, path: Path) -> Path:
        """
        The data directory a bucket file C{path} is on.
        """
        return next(d for d in self.disks if path.is_relative_to(d / BUCKETS))

    def _check_disk(self, start: int) -> None:
        """
        @raise DiskOutOfService: if bucket C{start}'s file is on a disk
            taken out of service.
        """
        if self.failed:
            disk = self.disk_of(self.path_of(start))
            if disk in self.failed:
                raise DiskOutOfService(
                    f"its bucket's disk {disk} is out of service ({self.failed[disk]})"
                )

    def _disk_error(self, path: Path, error: OSError) -> None:
        """
        An I/O error writing C{path}: an error that says the disk cannot
        take more (L{DISK_FAILURES}) takes it out of service, if the buck
        has another.
        """
        if error.errno not in DISK_FAILURES or len(self.disks) == 1:
            return
        disk = self.disk_of(path)
        if disk in self.failed:
            return
        self.failed[disk] = os.strerror(error.errno)
        for start in [s for s, e in self._writers.items() if self.disk_of(e.writer.path) == disk]:
            self._close_writer(start, "disk out of service")
        self._log.error(
            "Disk {disk} taken out of service: {error} writing {path}; its buckets"
            " are refused until a restart, {left} of {disks} disks left",
            disk=str(disk),
            error=str(error),
            path=str(path),
            left=len(self.disks) - len(self.failed),
            disks=len(self.disks),
        )

    # -- writing batches

    def write_batch(
        self, events: Iterable[bytes], sync: bool, allow: HostCheck | None = None
    ) -> list[bytes]:
        """
        Append a batch of serialized events to their bucket files.

        Every event is checked (L{check_batch}: its layout and crc, and its
        host with C{allow}) before anything is written: a corrupt one, or
        one of a host not allowed, rejects the whole batch.  When this
        returns, the records are in the kernel (a crash of the buck loses
        nothing); with C{sync} they, and the directory entries of files
        this batch created, are on disk.

        @param events: serialized events (without record lengths).
        @param sync: fsync the files touched.
        @param allow: the hosts the sender may send for (any if C{None}).
        @return: the events written, in batch order (as given).
        @raise CorruptBatch: if an event does not decode; nothing written.
        @raise HostNotAllowed: if an event's host is not allowed; nothing
            written.
        @raise DiskOutOfService: if a bucket of the batch is on a disk out
            of service; nothing written.
        @raise StoreError: if the store is closed.
        @raise OSError: if writing failed (the writers involved are closed;
            reopening cuts any torn record off; an error saying the disk
            cannot take more takes it out of service).
        """
        self._check_open()
        groups: dict[int, list[bytes]] = {}
        seconds = self.seconds
        last_start = -1
        group: list[bytes] = []
        events = list(events)
        points = self.check_batch(events, allow)
        for point, data in zip(points, events):
            start = bucket_start(point, seconds)
            if start != last_start:
                group = groups.setdefault(start, [])
                last_start = start
            group.append(data)
        for start in groups:
            self._check_disk(start)
        created: list[Path] = []
        touched: list[BucketWriter] = []
        for start, records in groups.items():
            writer = self._writer(start, created)
            try:
                writer.append_all(records)
                writer.flush()
            except OSError as e:
                self._discard(start)
                self._disk_error(writer.path, e)
                raise
            self.stats.bytes_written += 2 * len(records) + sum(map(len, records))
            touched.append(writer)
        if sync:
            for writer in touched:
                self._sync_file(writer.path)
            self._sync_dirs(created)
        self.stats.batches += 1
        self.stats.events_written += len(events)
        return events

    def check_batch(self, events: list[bytes], allow: HostCheck | None = None) -> list[int]:
        """
        Check a batch as L{write_batch} does, without writing it (alone for
        C{live} batches): every event's layout and crc, as decoding would
        (L{check_event}, no L{Event} is made), and its host with C{allow}.

        @param events: serialized events.
        @param allow: the hosts the sender may send for (any if C{None}).
        @return: the events' points, in batch order.
        @raise CorruptBatch: if an event does not decode.
        @raise HostNotAllowed: if an event's host is not allowed.
        """
        points: list[int] = []
        append = points.append
        for index, data in enumerate(events):
            try:
                append(check_event(data))
            except CorruptEvent as e:
                self.stats.rejected_batches += 1
                raise CorruptBatch(index, str(e)) from None
            if allow is not None:
                host = host_field(data)
                if not allow(host):
                    self.stats.rejected_batches += 1
                    raise HostNotAllowed(f"event {index}", host)
        return points

    def _writer(self, start: int, created: list[Path]) -> BucketWriter:
        """
        The open writer of bucket C{start}, opening it (and closing the least
        recently used one) if needed; C{created} gets the path if the file
        is new.
        """
        now = self._clock.seconds()
        entry = self._writers.get(start)
        if entry is not None:
            entry.used = now
            self._writers.move_to_end(start)
            return entry.writer
        while len(self._writers) >= self._open_buckets:
            oldest = next(iter(self._writers))
            self._close_writer(oldest, "least recently used")
        path = self.path_of(start)
        if not path.exists():
            created.append(path)
        try:
            writer = self._open_writer(path)
        except OSError as e:
            self.stats.write_errors += 1
            self._log.error(
                "Cannot open bucket file {path}: {error}", path=str(path), error=str(e)
            )
            self._disk_error(path, e)
            raise
        self.stats.files_opened += 1
        recovery = writer.recovery
        if recovery.cut:
            self.stats.recovered += 1
            self._log.warn(
                "Cut a torn tail of {cut} bytes off {path} ({reason});"
                " kept {records} records",
                path=str(path),
                cut=recovery.cut,
                reason=recovery.reason,
                records=recovery.records,
            )
        self._writers[start] = _Open(writer, now)
        return writer

    def _sync_file(self, path: Path) -> None:
        """
        fsync a file through a descriptor of its own: all of the file's
        written data reaches the disk, whichever descriptor wrote it (an
        error may take its disk out of service).
        """
        try:
            fd = os.open(path, os.O_RDONLY)
            try:
                self._fsync(fd)
                self.stats.fsyncs += 1
            finally:
                os.close(fd)
        except OSError as e:
            self._disk_error(path, e)
            raise

    def _sync_dirs(self, created: list[Path]) -> None:
        """
        fsync the directories from each new file up to C{DATA/buckets}, so
        that the new files (and new directories) survive a power loss.
        """
        done: set[Path] = set()
        for path in created:
            directory = path.parent
            while directory not in done:
                done.add(directory)
                self._sync_file(directory)
                if directory.name == BUCKETS and directory.parent in self.disks:
                    break
                directory = directory.parent

    # -- closing writers

    def _close_writer(self, start: int, why: str) -> None:
        entry = self._writers.pop(start)
        try:
            entry.writer.close()
        except OSError as e:
            self.stats.write_errors += 1
            self._log.error(
                "Closing {path} failed: {error}",
                path=str(entry.writer.path),
                error=str(e),
            )
        self.stats.files_closed += 1
        self._log.debug(
            "Closed {path} ({why})", path=str(entry.writer.path), why=why
        )

    def _discard(self, start: int) -> None:
        self.stats.write_errors += 1
        if start in self._writers:
            self._close_writer(start, "write error")

    def close_idle(self, now: float) -> int:
        """
        Close the writers not used for the store's idle time.

        @param now: the current time (the clock's C{seconds()}).
        @return: how many were closed.
        """
        limit = now - self._idle_seconds
        idle = [start for start, entry in self._writers.items() if entry.used <= limit]
        for start in idle:
            self._close_writer(start, "idle")
        return len(idle)

    @property
    def open_files(self) -> int:
        """
        How many writers are open.
        """
        return len(self._writers)

    def close(self) -> None:
        """
        Flush and close every writer; the store refuses writes afterwards.
        """
        for start in list(self._writers):
            self._close_writer(start, "shutdown")
        self.archived.close()
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the store is closed")

    # -- merging uploads

    def merge_bucket(
        self,
        start: int,
        seconds: int,
        records_file: Path,
        sha256: bytes,
        allow: HostCheck | None = None,
    ) -> tuple[int, int]:
        """
        Merge a whole uploaded bucket file into this store's file of the
        same bucket: append, in upload order, the records whose identity
        the file does not hold yet (nor an earlier record of the upload).

        The upload is checked completely before anything is appended: every
        record must be whole, decode, have its point inside the bucket and
        its host allowed.  The file is fsynced after the merge, and then
        the upload is recorded as merged into it (L{ArchivedRecord}), so
        that the buck can later prove it archived.

        @param start: the bucket's start (epoch seconds).
        @param seconds: the uploader's bucket interval; it must be the
            store's.
        @param records_file: the uploaded file (records, as in a bucket file).
        @param sha256: the upload's SHA-256 (checked by the caller).
        @param allow: the hosts the uploader may send for (any if C{None}).
        @return: C{(events, new)}: how many events the upload held, and how
            many of them were appended.
        @raise BadUpload: if the upload cannot be merged (L{HostNotAllowed}
            for a host); nothing appended.
        @raise StoreError: if the store is closed.
        @raise OSError: if reading or writing failed.
        """
        self._check_open()
        try:
            names = self._check_upload(start, seconds, records_file, allow)
        except BadUpload:
            self.stats.rejected_merges += 1
            raise
        self._check_disk(start)
        created: list[Path] = []
        writer = self._writer(start, created)
        try:
            writer.flush()
            known = self._identities(writer.path, names)
            events = new = added = 0
            with open(records_file, "rb") as upload:
                for _, data in iter_records(upload):
                    events += 1
                    key = identity_key(data)
                    if key in known:
                        continue
                    known.add(key)
                    writer.append(data)
                    new += 1
                    added += 2 + len(data)
            writer.flush()
        except OSError as e:
            self._discard(start)
            self._disk_error(writer.path, e)
            raise
        self._sync_file(writer.path)
        self._sync_dirs(created)
        self.archived.merged(start, sha256)
        self.stats.merges += 1
        self.stats.merge_events += events
        self.stats.merge_new += new
        self.stats.bytes_written += added
        return events, new

    def _check_upload(
        self, start: int, seconds: int, records_file: Path, allow: HostCheck | None
    ) -> set[bytes]:
        """
        Check an upload completely (see L{merge_bucket}).

        @return: the distinct hosts (C{shn}) of its events.
        @raise BadUpload: if it cannot be merged.
        """
        if seconds != self.seconds:
            raise BadUpload(
                f"bucket interval {seconds} s differs from this buck's {self.seconds} s"
            )
        if start % seconds:
            raise BadUpload(f"bucket start {start} is not a multiple of {seconds} s")
        names: set[bytes] = set()
        try:
            with open(records_file, "rb") as upload:
                for offset, data in iter_records(upload):
                    try:
                        event = decode(data)
                    except CorruptEvent as e:
                        raise BadUpload(f"record at byte {offset}: {e}") from None
                    if bucket_start(event.point, seconds) != start:
                        raise BadUpload(
                            f"record at byte {offset}: point {event.point} is"
                            f" outside the bucket starting at {start}"
                        )
                    if allow is not None and not allow(event.shn):
                        raise HostNotAllowed(f"record at byte {offset}", event.shn)
                    names.add(event.shn)
        except TornRecord as e:
            raise BadUpload(f"{e}") from None
        return names

    def _identities(self, path: Path, names: set[bytes]) -> set[bytes]:
        """
        The identity keys of the records in bucket file C{path} (flushed)
        whose host is among C{names}: an upload comes from one tailer, so
        only its hosts' records can collide with it, and the set stays as
        small as the upload.
        """
        known: set[bytes] = set()
        add = known.add
        with open(path, "rb") as existing:
            try:
                for _, data in iter_records(existing):
                    if host_field(data) in names:
                        add(identity_key(data))
            except TornRecord as e:  # not after the writer recovered it
                raise OSError(f"{path}: {e}") from None
        return known

    # -- serving the porter

    def listing(self, since: int, limit: int) -> tuple[list[tuple[int, int]], bool]:
        """
        The bucket files that start at or after C{since}, with their sizes.

        @param limit: list at most this many.
        @return: C{([(start, size), ...] ascending, more)}; C{more} says
            the limit cut the list.
        """
        self._check_open()
        found: list[tuple[int, int]] = []
        starts = sorted({start for disk in self.disks for start, _ in list_buckets(disk / BUCKETS)})
        for start in starts:
            if start < since:
                continue
            if len(found) == limit:
                return found, True
            try:
                found.append((start, self.path_of(start).stat().st_size))
            except OSError:  # gone, or on a failed disk that cannot be read
                continue
        return found, False

    def read(self, start: int, offset: int, length: int) -> tuple[int, bytes]:
        """
        Read bytes of the file of bucket C{start}.

        Writers are flushed at the end of every batch and merge, all on
        the reactor thread, so the file ends with a whole record unless a
        crash tore it (a reader must stop at a torn record).

        @return: C{(size of the file now, up to C{length} bytes from
            C{offset})}; C{(0, b"")} if there is no such file.
        @raise OSError: if reading fails.
        """
        self._check_open()
        try:
            with open(self.path_of(start), "rb") as f:
                size = os.fstat(f.fileno()).st_size
                f.seek(offset)
                return size, f.read(length)
        except FileNotFoundError:
            return 0, b""

    def delete_archived(
        self, start: int, size: int, sha256: bytes, receipt: SignedReceipt
    ) -> ArchiveOutcome:
        """
        The porter archived this buck's file of bucket C{start} as it was
        at C{size} bytes hashing to C{sha256}: delete it if it still is
        exactly that, and keep C{receipt} as the proof for the uploads
        merged into it (L{ArchivedRecord}).

        @return: what was done.
        @raise OSError: if the file cannot be read or deleted.
        """
        self._check_open()
        if start in self._writers:
            self._close_writer(start, "archived")
        path = self.path_of(start)
        try:
            current = path.stat().st_size
        except FileNotFoundError:
            return ArchiveOutcome.ABSENT
        if current != size:
            return ArchiveOutcome.GREW
        if file_sha256(path) != sha256:
            self.stats.archived_refused += 1
            return ArchiveOutcome.DIFFERS
        path.unlink()
        self.stats.archived_deleted += 1
        self.archived.archived(start, receipt)
        return ArchiveOutcome.DELETED

    def stats_dict(self) -> dict[str, int]:
        """
        The counters, and the number of open files, as a dict.
        """
        return {**asdict(self.stats), "open_files": len(self._writers)}

