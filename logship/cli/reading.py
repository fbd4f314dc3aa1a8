"""Reading logship's files and archives for the commands that show, check or reload them.

Shared by C{cat}, C{verify}, C{export} and C{reindex}:

  - local files: bucket files (C{.b}) and archive objects (packed buckets,
    C{.lsp}), told apart by their first bytes (L{logship.core.sniff}), so
    that a file of another kind is named for what it is;
  - directories of them (a buck's data, a tailer's spool, an import, the
    root of a C{dir:} archive), in time order;
  - archives (C{dir:PATH}, C{s3://...}): the bucket objects of a time
    range, or named by key, each read and checked.

Every problem is one line naming the file or object (and, in a bucket
file, the byte offset of the record).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from logship.archive import ArchiveError, IArchive, MissingObject, check_key, open_archive
from logship.archive.dirstore import DirArchive
from logship.core.bucket import TornRecord, iter_records, list_buckets, start_of_relpath
from logship.core.event import CorruptEvent, Event, decode
from logship.core.pack import CorruptPack, unpack
from logship.core.parse import TICKS_PER_SECOND
from logship.core.sniff import HEAD_SIZE, Kind, not_logship, sniff

#: The archive's bucket objects are under this prefix, with this suffix
#: (L{logship.porter.service.archive_key}).
BUCKETS_PREFIX = "buckets/"
OBJECT_SUFFIX = ".lsp"

#: The longest bucket interval (L{logship.core.bucket.check_bucket_seconds}):
#: a bucket starting this long before a range may hold events in it.
MAX_BUCKET_SECONDS = 3600

#: The URL schemes of archives, as the commands tell them from paths.
ARCHIVE_SCHEMES = ("dir:", "s3://")


class Unreadable(Exception):
    """
    A file or an archive object that cannot be read as a whole; the
    message is one line naming it and saying why.
    """


def is_archive_url(text: str) -> bool:
    """
    Whether C{text} names an archive (C{dir:PATH}, C{s3://...}) rather
    than a local path.
    """
    return text.startswith(ARCHIVE_SCHEMES)


def open_existing_archive(url: str, reactor: Any) -> IArchive:
    """
    Open the archive C{url} to read it: a C{dir:} archive must exist (the
    backend would make an empty one).

    @raise ValueError: a bad URL, or a C{dir:} directory that does not exist.
    @raise ArchiveError: no credentials for C{s3://}.
    """
    archive = open_archive(url, reactor)
    if isinstance(archive, DirArchive) and not archive.root.is_dir():
        raise ValueError(f"{url}: no such archive directory")
    return archive


def bucket_files(paths: Sequence[Path]) -> list[Path]:
    """
    The files named by C{paths}: files as given, and directories searched
    for bucket files and archive objects (by their bucket paths,
    C{YYYY/MM/DD/HH/MM.b} or C{.lsp}), each directory's in time order.

    @raise FileNotFoundError: a path does not exist (the message names it).
    """
    files: list[Path] = []
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file or directory")
        if path.is_dir():
            found = list_buckets(path) + _packed_buckets(path)
            files.extend(p for _, p in sorted(found))
        else:
            files.append(path)
    return files


def _packed_buckets(root: Path) -> list[tuple[int, Path]]:
    found = []
    for path in root.rglob("*" + OBJECT_SUFFIX):
        start = relpath_start("/".join(path.parts[-5:]))
        if start is not None:
            found.append((start, path))
    return found


def relpath_start(relpath: str) -> int | None:
    """
    The start of the bucket of a packed object's path relative to the
    archive's C{buckets/} (C{2026/11/26/09/37.lsp}), or C{None} if it is
    not one.
    """
    if not relpath.endswith(OBJECT_SUFFIX):
        return None
    try:
        return start_of_relpath(relpath[: -len(OBJECT_SUFFIX)] + ".b")
    except ValueError:
        return None


def read_bucket(path: Path, report: Callable[[str], None]) -> list[Event]:
    """
    The events of one bucket file in point order; problems (a corrupt
    record, a torn last record, a read error) go to C{report}, and the
    events that could be read are returned.
    """
    events = []
    try:
        with open(path, "rb") as f:
            for offset, data in iter_records(f):
                try:
                    events.append(decode(data))
                except CorruptEvent as e:
                    report(f"{path}: record at byte {offset}: {e}")
    except TornRecord as e:
        report(f"{path}: {e} (ignored)")
    except OSError as e:
        report(f"{path}: {e.strerror}")
    events.sort(key=lambda e: e.point)
    return events


def read_file(path: Path, report: Callable[[str], None]) -> list[Event]:
    """
    The events of a bucket file or an archive object, in point order.

    @param report: gets the problems of a bucket file (see L{read_bucket}).
    @raise Unreadable: the file is neither, an archive object that is
        corrupt, or a file that cannot be read.
    """
    try:
        with open(path, "rb") as f:
            sniffed = sniff(f.read(HEAD_SIZE))
    except OSError as e:
        raise Unreadable(f"{path}: {e.strerror}") from None
    if not sniffed.readable:
        raise Unreadable(not_logship(str(path), sniffed))
    if sniffed.kind is Kind.BUCKET:
        return read_bucket(path, report)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise Unreadable(f"{path}: {e.strerror}") from None
    return sorted(unpacked(str(path), data), key=lambda e: e.point)


def unpacked(name: str, data: bytes) -> list[Event]:
    """
    The events of an archive object, in their packed order.

    @param name: the object's name (a key or a path), for the message.
    @raise Unreadable: it is not a readable archive object.
    """
    try:
        return unpack(data)
    except CorruptPack as e:
        sniffed = sniff(data[:HEAD_SIZE])
        if sniffed.kind is not Kind.PACK or not sniffed.readable:
            raise Unreadable(not_logship(name, sniffed)) from None
        raise Unreadable(f"{name}: corrupt archive object ({len(data)} bytes): {e}") from None


def object_key(text: str) -> str:
    """
    The key of a bucket object as a person may give it: the key
    (C{buckets/2026/11/26/09/37.lsp}), or the bucket's path with or without
    a suffix (C{2026/11/26/09/37}, C{2026/11/26/09/37.b}).

    @raise ValueError: it names no bucket.
    """
    path = text.strip("/")
    if path.startswith(BUCKETS_PREFIX):
        path = path[len(BUCKETS_PREFIX) :]
    for suffix in (OBJECT_SUFFIX, ".b"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
    key = BUCKETS_PREFIX + path + OBJECT_SUFFIX
    if relpath_start(key[len(BUCKETS_PREFIX) :]) is None:
        raise ValueError(f"{text!r} names no bucket: give its key, like"
                         " buckets/2026/11/26/09/37.lsp, or its path, like 2026/11/26/09/37")
    return check_key(key)


async def archive_bucket_keys(
    archive: IArchive, start: int | None, end: int | None
) -> list[tuple[int, str]]:
    """
    The archive's bucket objects that may hold events in C{[start, end)},
    as C{(bucket start, key)} in time order.

    @param start: the first point, or C{None} for the beginning.
    @param end: the point after the last, or C{None} for no end.
    """
    first = None if start is None else start // TICKS_PER_SECOND - MAX_BUCKET_SECONDS
    last = None if end is None else -(-end // TICKS_PER_SECOND)
    found = []
    for key in await archive.keys(BUCKETS_PREFIX):
        bucket = relpath_start(key[len(BUCKETS_PREFIX) :])
        if bucket is None:
            continue
        if (first is None or first <= bucket) and (last is None or bucket < last):
            found.append((bucket, key))
    found.sort()
    return found


async def read_object(archive: IArchive, key: str) -> list[Event]:
    """
    The events of the archive object C{key}, in their packed order.

    @raise Unreadable: it is missing, cannot be read, or is corrupt.
    """
    try:
        data = await archive.get(key)
    except MissingObject:
        raise Unreadable(f"{key}: no such object in the archive") from None
    except ArchiveError as e:
        raise Unreadable(f"{key}: {e}") from None
    return unpacked(key, data)


def in_range(events: Iterable[Event], start: int | None, end: int | None) -> list[Event]:
    """
    The events with a point in C{[start, end)} (either bound may be C{None}).
    """
    return [e for e in events
            if (start is None or start <= e.point) and (end is None or e.point < end)]
