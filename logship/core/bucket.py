"""Bucket files: the time path layout, an append-only writer, a streaming reader.

A bucket holds the events whose point falls in one interval (default 60 s).
Its file path spells the interval's start in UTC, C{YYYY/MM/DD/HH/MM.b}
(C{MM-SS.b} when the interval is not a whole number of minutes).  A file is
a sequence of records, each a 2-byte big-endian length and one serialized
event, in arrival order.

A crash in the middle of an append leaves a torn last record: a length prefix
cut short, a record shorter than its length says, or a tail of zeros or
garbage.  L{recover} cuts such a tail off and keeps every complete record;
L{BucketWriter} recovers before it appends, so a torn record is never
followed by good ones.
"""

from __future__ import annotations

import calendar
import os
import re
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from logship.core.event import MAX_EVENT_SIZE, CorruptEvent, decode
from logship.core.parse import TICKS_PER_SECOND

#: The smallest serialized event: fixed fields plus five empty length fields.
MIN_EVENT_SIZE = 1 + 8 + 4 + 1 + 1 + 1 + 2 + 2 + 2

SUFFIX = ".b"

_LENGTH = struct.Struct(">H")
_READ_SIZE = 1 << 16
_NAME = re.compile(r"^(\d{2})(?:-(\d{2}))?\.b$")


class TornRecord(Exception):
    """
    A bucket file ends in an incomplete or invalid record.

    @ivar offset: where the torn record starts.
    @ivar size: how many bytes from there to the end of the file.
    @ivar reason: what is wrong with it.
    """

    def __init__(self, offset: int, size: int, reason: str) -> None:
        super().__init__(f"torn record at byte {offset} ({size} bytes): {reason}")
        self.offset = offset
        self.size = size
        self.reason = reason


def check_bucket_seconds(bucket_seconds: int) -> int:
    """
    Validate a bucket interval: it must divide an hour evenly.

    @return: C{bucket_seconds}.
    @raise ValueError: if it does not.
    """
    if not 1 <= bucket_seconds <= 3600 or 3600 % bucket_seconds:
        raise ValueError(
            f"bucket interval must divide 3600 seconds, not {bucket_seconds}"
        )
    return bucket_seconds


def bucket_start(point: int, bucket_seconds: int) -> int:
    """
    The start, in whole seconds since the epoch, of the bucket of C{point}.
    """
    seconds = point // TICKS_PER_SECOND
    return seconds - seconds % bucket_seconds


def bucket_relpath(start: int, bucket_seconds: int) -> str:
    """
    The path, relative to a bucket root, of the bucket starting at C{start}.

    >>> bucket_relpath(1795685820, 60)
    '2026/11/26/09/37.b'
    """
    t = time.gmtime(start)
    name = f"{t.tm_min:02d}" if bucket_seconds % 60 == 0 else (
        f"{t.tm_min:02d}-{t.tm_sec:02d}"
    )
    return (
        f"{t.tm_year:04d}/{t.tm_mon:02d}/{t.tm_mday:02d}/{t.tm_hour:02d}/"
        f"{name}{SUFFIX}"
    )


def start_of_relpath(relpath: str) -> int:
    """
    The start of the bucket whose path relative to its root is C{relpath}.

    @raise ValueError: if the path is not a bucket path.
    """
    parts = relpath.replace(os.sep, "/").split("/")
    match = _NAME.match(parts[-1]) if len(parts) == 5 else None
    if match is None or not all(p.isdigit() for p in parts[:4]):
        raise ValueError(f"not a bucket path: {relpath}")
    year, month, day, hour = (int(p) for p in parts[:4])
    minute, second = int(match.group(1)), int(match.group(2) or 0)
    return calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))


def list_buckets(root: Path) -> list[tuple[int, Path]]:
    """
    Every bucket file under C{root}, as C{(start, path)} in time order.

    A bucket path is recognised by its last five components
    (C{YYYY/MM/DD/HH/MM.b}), so C{root} may also be a directory holding
    several bucket trees (a tailer's spools, say).  Other files are ignored.
    """
    found = []
    for path in root.rglob("*" + SUFFIX):
        try:
            found.append((start_of_relpath("/".join(path.parts[-5:])), path))
        except ValueError:
            continue
    found.sort()
    return found


def encode_record(event_bytes: bytes) -> bytes:
    """
    Frame one serialized event as a bucket record.
    """
    return _LENGTH.pack(len(event_bytes)) + event_bytes


def count_records(path: Path, start: int, end: int) -> int:
    """
    How many records a bucket file holds between two record boundaries,
    hopping from length to length (only their headers are looked at).

    @param start: the offset of a record's start.
    @param end: the offset where counting stops (a record's start, or the
        file's end); a record reaching past it, or past the file's end, is
        not counted.
    """
    count = 0
    offset = start
    block_start, block = start, b""
    with open(path, "rb") as f:
        end = min(end, os.fstat(f.fileno()).st_size)
        while offset + 2 <= end:
            if offset + 2 > block_start + len(block):
                f.seek(offset)
                block_start, block = offset, f.read(min(_READ_SIZE, end - offset))
                if len(block) < 2:
                    break
            (length,) = _LENGTH.unpack_from(block, offset - block_start)
            offset += 2 + length
            if offset > end:
                break
            count += 1
    return count


def iter_records(stream: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """
    Read records from a bucket file, streaming, in bounded memory.

    @param stream: a binary file positioned at the start of a record.
    @return: an iterator of C{(offset, serialized_event)}; the events are not
        decoded.  After the last complete record it raises L{TornRecord} if
        the file ends in a torn one.
    """
    offset = stream.tell()
    buffer = b""
    while True:
        chunk = stream.read(_READ_SIZE)
        if chunk:
            buffer = buffer + chunk if buffer else chunk
        position = 0
        end = len(buffer)
        while end - position >= 2:
            (length,) = _LENGTH.unpack_from(buffer, position)
            if length < MIN_EVENT_SIZE:
                raise TornRecord(
                    offset + position,
                    _remaining(stream, end - position),
                    f"record length {length} is below the minimum {MIN_EVENT_SIZE}",
                )
            if end - position - 2 < length:
                break
            yield offset + position, buffer[position + 2 : position + 2 + length]
            position += 2 + length
        buffer = buffer[position:]
        offset += position
        if not chunk:
            break
    if buffer:
        raise TornRecord(offset, len(buffer), "file ends inside a record")


def _remaining(stream: BinaryIO, buffered: int) -> int:
    """
    Bytes from a position in the buffer to the end of the file.
    """
    here = stream.tell()
    end = stream.seek(0, os.SEEK_END)
    stream.seek(here)
    return buffered + end - here


@dataclass(frozen=True)
class Recovery:
    """
    What L{recover} found in a bucket file.

    @ivar records: complete records kept.
    @ivar cut: bytes cut off the end (0 if the file was whole).
    @ivar reason: why they were cut, or C{None}.
    """

    records: int
    cut: int
    reason: str | None


def recover(path: Path) -> Recovery:
    """
    Cut a torn last record off a bucket file, keeping every complete one.

    Record framing is checked throughout; the last record is also decoded,
    so a tail of zeros or garbage that happens to frame correctly is cut too.

    @param path: the bucket file; it is truncated in place if torn.
    @return: what was kept and cut.
    """
    records = 0
    last: tuple[int, bytes] | None = None
    torn: TornRecord | None = None
    with open(path, "rb") as stream:
        try:
            for last in iter_records(stream):
                records += 1
        except TornRecord as e:
            torn = e
        end = stream.seek(0, os.SEEK_END)
    good_end = end if torn is None else torn.offset
    reason = None if torn is None else torn.reason
    if last is not None:
        try:
            decode(last[1])
        except CorruptEvent as e:
            records -= 1
            good_end = last[0]
            reason = f"last record does not decode: {e}"
    if good_end < end:
        os.truncate(path, good_end)
    return Recovery(records=records, cut=end - good_end, reason=reason)


class BucketWriter:
    """
    Appends records to one bucket file, after cutting a torn tail off it.

    @ivar path: the bucket file.
    @ivar recovery: what opening found (see L{recover}).
    @ivar written: bytes appended through this writer.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.recovery = recover(path) if path.exists() else Recovery(0, 0, None)
        self.written = 0
        self._file = open(path, "ab")

    def append(self, event_bytes: bytes) -> None:
        """
        Append one serialized event.

        @raise ValueError: if it is longer than a record can hold.
        """
        if len(event_bytes) > MAX_EVENT_SIZE:
            raise ValueError(f"event of {len(event_bytes)} bytes is too long")
        self._file.write(_LENGTH.pack(len(event_bytes)))
        self._file.write(event_bytes)
        self.written += 2 + len(event_bytes)

    def append_all(self, events: list[bytes]) -> None:
        """
        Append serialized events, framed in one buffer and written at once
        (what a buck does with a batch).

        @raise ValueError: if one is longer than a record can hold (nothing
            of them is written).
        """
        pack = _LENGTH.pack
        parts: list[bytes] = []
        for event_bytes in events:
            if len(event_bytes) > MAX_EVENT_SIZE:
                raise ValueError(f"event of {len(event_bytes)} bytes is too long")
            parts.append(pack(len(event_bytes)))
            parts.append(event_bytes)
        data = b"".join(parts)
        self._file.write(data)
        self.written += len(data)

    def flush(self, sync: bool = False) -> None:
        """
        Hand buffered records to the kernel, and to the disk if C{sync}.
        """
        self._file.flush()
        if sync:
            os.fsync(self._file.fileno())

    def close(self) -> None:
        """
        Flush and close the file.
        """
        self._file.close()
