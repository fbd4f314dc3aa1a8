"""C{logship export}: events of an index written back out as bucket files or archive objects.

    logship export --index URL [--name recent] --from T [--to T]
        --out DIR|dir:PATH|s3://BUCKET... [--bucket-seconds 60] [--quiet]

The incident tool of docs/design.md ("ES -> individual messages ->
archive"): the events of C{[--from, --to)} are read from the index
(C{sqlite:DIR} or C{elasticsearch:URL}), grouped by bucket, and written

  - to a directory as bucket files (C{DIR/YYYY/MM/DD/HH/MM.b}, records in
    point order), which C{logship cat}, C{verify} and a buck read; or
  - to an archive (C{dir:PATH}, C{s3://...}) as packed bucket objects
    (C{buckets/YYYY/MM/DD/HH/MM.lsp}) with the hour's manifest object, the
    layout the porter writes, which C{logship reindex}, C{cat} and
    history read.

Both index backends keep every field of an event (time, priority, host,
app, pid, message byte for byte, the continuation and structured flags,
and the origin that makes its identity), though not its serialized bytes:
each event is encoded again, which gives the bytes the tailer wrote as
long as the tokenizer is the same (an event written by an older tokenizer
gets the same fields, message and identity, in today's layout).  A
re-import (C{reindex}, or loading the bucket files) therefore adds nothing
to an index that has the events.

A file or object that exists already is merged with the export (one event
per identity, as the porter merges), never overwritten with less.  Each is
written whole under a temporary name, then renamed (a C{dir:} archive and a
bucket directory) or stored and read back (S3), so an interrupted export
leaves whole files: run it again.  Export into an archive that no running
porter writes: the porter rewrites the manifest objects from its own state.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, BinaryIO, TextIO

from logship.archive import ArchiveError, IArchive, MissingObject, open_archive, sha256_hex
from logship.archive.dirstore import DirArchive, inline
from logship.cli.exits import DATA_ERROR, USAGE_ERROR
from logship.cli.progress import Progress
from logship.cli.reading import Unreadable, is_archive_url, unpacked
from logship.cli.timerange import add_index_arguments, add_range_arguments, parse_range
from logship.core.bucket import bucket_relpath, bucket_start, check_bucket_seconds, encode_record
from logship.core.event import Event, decode_all, encode
from logship.core.pack import pack
from logship.core.parse import TICKS_PER_SECOND
from logship.core.query import MAX_LIMIT, Query
from logship.index import IIndex, IndexUnavailable, check_name, check_url, open_index
from logship.plumbing.onreactor import run_on_reactor
from logship.porter.merge import split_records
from logship.porter.service import archive_key, manifest_key
from logship.porter.state import ManifestEntry


class ExportFailed(Exception):
    """
    The export cannot go on; the message is one line.
    """


def add_export_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """
    Add the C{export} subcommand to C{subparsers}; it runs L{run_export}.
    """
    text = "write the events of an index back out as bucket files or archive objects"
    sub = subparsers.add_parser("export", help=text, description=text)
    sub.set_defaults(run=run_export)
    add_index_arguments(sub)
    add_range_arguments(sub, from_required=True, to_default="now")
    sub.add_argument("--out", required=True, metavar="DIR|ARCHIVE",
                     help="a directory for bucket files, or an archive for packed objects:"
                     " dir:PATH or s3://BUCKET[/PREFIX]?endpoint=URL")
    sub.add_argument("--bucket-seconds", type=int, default=60, metavar="S",
                     help="the bucket interval, dividing an hour (default: 60)")
    sub.add_argument("--quiet", action="store_true", help="no progress bar")
    return sub


@dataclass
class Exported:
    """
    What an export did.

    @ivar events: events read from the index.
    @ivar files: bucket files or objects written.
    @ivar merged: of those, how many were merged with one already there.
    @ivar added: events not in the files or objects before.
    """

    events: int = 0
    files: int = 0
    merged: int = 0
    added: int = 0


class Target:
    """
    Where an export writes: bucket files in a directory, or packed objects
    (and manifest objects) in an archive; both behind L{IArchive}, whose
    puts write whole objects under a temporary name.
    """

    def __init__(self, out: str, seconds: int, now: float, reactor: Any) -> None:
        """
        @param out: a directory, or an archive URL.
        @param seconds: the bucket interval.
        @param now: the time of the export, for the manifest entries.
        @raise ValueError: a bad archive URL.
        """
        # another URL scheme is a mistake, not a directory name
        self.archived = is_archive_url(out) or "://" in out
        self.seconds = seconds
        self._now = now
        self.store: IArchive = (open_archive(out, reactor) if self.archived
                                else DirArchive(out, run=inline))
        self._hours: dict[int, list[ManifestEntry]] = {}

    def key(self, start: int) -> str:
        """
        The key of the bucket starting at C{start}.
        """
        return archive_key(start, self.seconds) if self.archived else bucket_relpath(start, self.seconds)

    def encode(self, events: Sequence[Event]) -> bytes:
        """
        The file or object of a bucket's events (in point order).
        """
        if self.archived:
            return pack(events)
        return b"".join(encode_record(encode(e)) for e in events)

    def decode(self, key: str, data: bytes) -> list[Event]:
        """
        The events of a file or object already there.

        @raise ExportFailed: it does not read cleanly (it is not
            overwritten: move it away).
        """
        if self.archived:
            try:
                return unpacked(key, data)
            except Unreadable as e:
                raise ExportFailed(f"{e}; it was left as it is: move it away") from None
        records = split_records(data)
        decoded = decode_all(records.events)
        if decoded.corrupt or records.consumed != len(data):
            problem = decoded.first_error or f"torn record at byte {records.consumed}"
            raise ExportFailed(f"{key} exists and does not read cleanly ({problem});"
                               " it was left as it is: move it away")
        return decoded.events

    def wrote(self, start: int, key: str, events: int, data: bytes) -> None:
        """
        Note an object written, for its hour's manifest.
        """
        entry = ManifestEntry(start, key, events, len(data), sha256_hex(data), self._now)
        self._hours.setdefault(start - start % 3600, []).append(entry)

    async def write_manifests(self) -> None:
        """
        Write the manifest objects of the hours written since the last
        call, merged with the entries they had (archives only).

        @raise ExportFailed: a manifest there is for another bucket interval.
        """
        hours, self._hours = self._hours, {}
        if not self.archived:
            return
        for hour, entries in sorted(hours.items()):
            key = manifest_key(hour)
            try:
                document = json.loads(await self.store.get(key))
            except MissingObject:
                document = {"bucket_seconds": self.seconds, "buckets": []}
            except ValueError:
                raise ExportFailed(f"manifest object {key} is not JSON: move it away") from None
            if document.get("bucket_seconds") != self.seconds:
                raise ExportFailed(
                    f"the archive's buckets of that hour are of {document.get('bucket_seconds')}"
                    f" seconds ({key}), not {self.seconds}: give --bucket-seconds"
                    f" {document.get('bucket_seconds')}")
            by_start = {fields["start"]: fields for fields in document.get("buckets", [])}
            by_start.update((entry.start, asdict(entry)) for entry in entries)
            document["buckets"] = [by_start[s] for s in sorted(by_start)]
            await self.store.put(key, json.dumps(document, indent=1, sort_keys=True).encode())


async def write_bucket(target: Target, start: int, events: list[Event], done: Exported) -> None:
    """
    Write one bucket's events, merged with what its file or object holds.
    """
    key = target.key(start)
    unique = {e.identity: e for e in events}
    try:
        old = target.decode(key, await target.store.get(key))
    except MissingObject:
        old = []
    else:
        done.merged += 1
    before = {e.identity for e in old}
    unique.update((e.identity, e) for e in old)
    merged = sorted(unique.values(), key=lambda e: (e.point, e.identity))
    data = target.encode(merged)
    await target.store.put(key, data)
    target.wrote(start, key, len(merged), data)
    done.files += 1
    done.added += len(unique) - len(before)


async def export(
    index: IIndex,
    target: Target,
    start: int,
    end: int,
    progress: Callable[[str, int, int, str], None],
) -> Exported:
    """
    Write the events of C{[start, end)} of C{index} to C{target}.

    The index gives them newest first, a page at a time; a bucket is
    written once the pages have gone more than a second below its start
    (sqlite orders within about 21 ms; a late event would only merge into
    the file again).
    """
    done = Exported()
    query = Query(start=start, end=end, limit=MAX_LIMIT)
    total = await index.count(query)
    pending: dict[int, list[Event]] = {}

    async def flush(below: int | None) -> None:
        for bucket in sorted(b for b in pending if below is None or b * TICKS_PER_SECOND > below):
            await write_bucket(target, bucket, pending.pop(bucket), done)
        await target.write_manifests()

    while True:
        page = await index.search(query)
        for event in page.events:
            pending.setdefault(bucket_start(event.point, target.seconds), []).append(event)
        done.events += len(page.events)
        if page.events:
            oldest = min(e.point for e in page.events)
            await flush(oldest + TICKS_PER_SECOND)
            progress(target.key(bucket_start(oldest, target.seconds)), done.events, total,
                     f"{done.events:,} events")
        if page.next is None:
            break
        query = replace(query, cursor=page.next)
    await flush(None)
    return done


def run_export(args: argparse.Namespace, out: BinaryIO, now: float,
               err: TextIO | None = None) -> int:
    """
    Run C{logship export}.

    @return: the exit status: 0, 1 (the index or the output failed), 2
        (bad arguments).
    """
    err = sys.stderr if err is None else err
    try:
        check_url(args.index)
        check_name(args.name)
        check_bucket_seconds(args.bucket_seconds)
        start, end = parse_range(args, now)
    except ValueError as e:
        err.write(f"logship export: {e}\n")
        return USAGE_ERROR
    assert start is not None and end is not None
    progress = Progress(err, quiet=args.quiet)
    began = time.monotonic()

    async def work(reactor: Any) -> Exported:
        target = Target(args.out, args.bucket_seconds, now, reactor)
        index = open_index(args.index, args.name, reactor, create=False)
        try:
            return await export(index, target, start, end, progress)
        finally:
            await index.close()
            await target.store.close()

    try:
        done = run_on_reactor(work)
    except ValueError as e:
        err.write(f"logship export: {e}\n")
        return USAGE_ERROR
    except (IndexUnavailable, ArchiveError, ExportFailed) as e:
        err.write(f"logship export: {e}\n")
        return DATA_ERROR
    finally:
        progress.done()
    kind = "objects" if is_archive_url(args.out) else "bucket files"
    err.write(
        f"logship export: {done.events} events into {done.files} {kind}"
        f" ({done.merged} merged with one there, {done.added} events added) in {args.out};"
        f" {time.monotonic() - began:.1f} s\n"
    )
    return 0
