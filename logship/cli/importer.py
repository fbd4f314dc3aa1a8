"""C{logship import}: read log files into time-bucketed files.

Synchronous and single-threaded: a command-line job, not a service.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path

from logship.core.bucket import BucketWriter, bucket_relpath, bucket_start
from logship.core.event import encode
from logship.core.ingest import FILE_TAG_HEAD, LineEncoder, file_source_tag, lines_at
from logship.core.multiline import MultilineRules, join_lines

_CHUNK = 1 << 20

#: At most this many bucket files are open at once while importing.
MAX_OPEN_BUCKETS = 64


@dataclass
class ImportSummary:
    """
    What an import did.

    @ivar lines: lines read.
    @ivar events: events written (a long line gives several, lines joined
        by multi-line rules one).
    @ivar buckets: distinct bucket files written to.
    @ivar bytes_in: bytes read from the input files.
    @ivar bytes_out: bytes appended to bucket files.
    """

    lines: int = 0
    events: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    bucket_paths: set[Path] = field(default_factory=set)

    @property
    def buckets(self) -> int:
        """
        The number of distinct bucket files written to.
        """
        return len(self.bucket_paths)


class _Buckets:
    """
    The bucket files an import appends to, a bounded number open at once.
    """

    def __init__(self, root: Path, bucket_seconds: int, summary: ImportSummary):
        self._root = root
        self._seconds = bucket_seconds
        self._summary = summary
        self._open: OrderedDict[int, BucketWriter] = OrderedDict()

    def append(self, point: int, data: bytes) -> None:
        start = bucket_start(point, self._seconds)
        writer = self._open.get(start)
        if writer is None:
            if len(self._open) >= MAX_OPEN_BUCKETS:
                self._close(self._open.popitem(last=False)[1])
            path = self._root / bucket_relpath(start, self._seconds)
            writer = self._open[start] = BucketWriter(path)
            self._summary.bucket_paths.add(path)
        else:
            self._open.move_to_end(start)
        writer.append(data)

    def _close(self, writer: BucketWriter) -> None:
        writer.close()
        self._summary.bytes_out += writer.written

    def close(self) -> None:
        while self._open:
            self._close(self._open.popitem()[1])


def import_files(
    paths: list[Path],
    root: Path,
    *,
    host: bytes,
    tz: tzinfo,
    year: int | None,
    bucket_seconds: int,
    now: float,
    hint: str | None = None,
    progress: Callable[[Path, int, int], None] = lambda path, done, total: None,
    multiline: MultilineRules | None = None,
) -> ImportSummary:
    """
    Parse log files and append their events to bucket files under C{root}.

    Lines without a timestamp get the time the import started, so that a
    file's headerless lines keep their order within one second.

    @param now: the time the import started (seconds since the epoch); it
        also places timestamps without a year.
    @param hint: the format of the lines (L{LineEncoder}), C{None}: guess.
    @param progress: called now and then with the current file, the bytes
        of it read so far, and its size.
    @param multiline: the rules joining lines into events, if any.
    @raise OSError: if a file cannot be read or a bucket written.
    """
    summary = ImportSummary()
    buckets = _Buckets(root, bucket_seconds, summary)
    try:
        for path in paths:
            total = path.stat().st_size
            with open(path, "rb") as f:
                source = file_source_tag(os.fsencode(path.resolve()), f.read(FILE_TAG_HEAD))
                f.seek(0)
                encoder = LineEncoder(host=host, tz=tz, year=year, source=source, hint=hint)
                done = 0

                def chunks() -> Iterator[bytes]:
                    nonlocal done
                    while chunk := f.read(_CHUNK):
                        done += len(chunk)
                        progress(path, done, total)
                        yield chunk

                if multiline is None:
                    for offset, line in lines_at(chunks()):
                        summary.lines += 1
                        for event in encoder.events(line, now, offset):
                            buckets.append(event.point, encode(event))
                            summary.events += 1
                else:
                    for joined in join_lines(lines_at(chunks()), multiline):
                        summary.lines += joined.lines
                        for event in encoder.events(
                            joined.data, now, joined.offset, first=joined.first
                        ):
                            buckets.append(event.point, encode(event))
                            summary.events += 1
            summary.bytes_in += done
    finally:
        buckets.close()
    return summary
