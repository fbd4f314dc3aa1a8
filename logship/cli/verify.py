"""C{logship verify}: compare log files with what logship stored of them.

The check an operator runs after an incident: were all the lines of these
files stored, and nothing else?  The files are parsed as the tailer parses
them (the same host, time zone and year options as C{logship parse}), each
line becoming one C{(host, message)}.  The target is read in the time range
the files' lines cover (widened by C{--slack}), for the hosts they name:

  - a bucket directory or file (a buck's data, a tailer's spool, an import);
  - an index, C{sqlite:DIR} or C{elasticsearch:URL} (C{--name}, default
    C{recent});
  - an archive, C{dir:PATH} or C{s3://BUCKET...}.

Copies of one occurrence (the same identity: a re-read after a crash, an
upload of events already delivered) count once, as the porter keeps one;
how many there were is reported.  Long lines stored in parts are joined
again on both sides.  The two lists are compared as multisets: a line with
no event is I{missing} (printed with its file and line number), an event
that no line accounts for is I{extra} (printed as C{logship cat} shows
it).  The same line twice in a file must be stored twice: identical lines
are distinct occurrences.

Lines are parsed as of the time of the check: a year missing from a
timestamp is inferred from it, as the tailer inferred it when it read the
line.  Lines without a timestamp are timed now (the tailer timed them when
it read them), so the range reaches to now, and they are matched by host
and message whatever their stored time.
Other files of the same hosts stored in the same range show as extra: give
all of a host's files, or read the extra list with that in mind.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import tzinfo
from itertools import chain
from pathlib import Path
from typing import Any, BinaryIO

from logship.cli.reading import (
    Unreadable,
    archive_bucket_keys,
    bucket_files,
    is_archive_url,
    open_existing_archive,
    read_file,
    read_object,
)
from logship.core.event import Event, join_parts
from logship.core.ingest import FILE_TAG_HEAD, LineEncoder, file_source_tag, lines_at
from logship.core.parse import TICKS_PER_SECOND
from logship.core.query import MAX_LIMIT, Query
from logship.core.render import event_text, whole_lines
from logship.index import open_index

#: A line or an event, as compared: C{(host, message)}.
Key = tuple[bytes, bytes]


@dataclass(frozen=True)
class Line:
    """
    One line of a log file, as compared.

    @ivar where: C{FILE:LINE} (1-based), for the report.
    @ivar key: its host and message.
    @ivar point: its time (from the line, else the time of the check).
    """

    where: str
    key: Key
    point: int


def file_lines(
    path: Path,
    *,
    host: bytes,
    tz: tzinfo,
    year: int | None,
    now: float,
    hint: str | None = None,
) -> Iterator[Line]:
    """
    The lines of one log file, parsed as the tailer parses them at C{now}
    (the time of lines without one, and what a year is inferred from).

    @raise OSError: the file cannot be read.
    """
    with open(path, "rb") as f:
        head = f.read(FILE_TAG_HEAD)
        source = file_source_tag(os.fsencode(path.resolve()), head)
        encoder = LineEncoder(host=host, tz=tz, year=year, source=source, hint=hint)
        chunks = iter(lambda: f.read(1 << 16), b"")
        for number, (at, raw) in enumerate(lines_at(chain((head,), chunks)), 1):
            parts = encoder.events(raw, now, at)
            message = parts[0].message if len(parts) == 1 else join_parts(parts)
            yield Line(f"{path}:{number}", (parts[0].shn, message), parts[0].point)


@dataclass(frozen=True)
class Window:
    """
    What of the target to read: a time range and the hosts.

    @ivar start: the first point included.
    @ivar end: the first point excluded.
    @ivar hosts: the hosts of the files' lines.
    """

    start: int
    end: int
    hosts: frozenset[bytes]

    def holds(self, event: Event) -> bool:
        """
        Whether C{event} is in this window.
        """
        return self.start <= event.point < self.end and event.shn in self.hosts


def window_of(lines: Sequence[Line], slack: float) -> Window:
    """
    The range the lines cover, widened by C{slack} seconds on each side.
    """
    margin = int(slack * TICKS_PER_SECOND)
    return Window(
        max(0, min(line.point for line in lines) - margin),
        max(line.point for line in lines) + margin + 1,
        frozenset(line.key[0] for line in lines),
    )


def target_events(
    target: str,
    name: str,
    window: Window,
    run: Callable[[Callable[[Any], Any]], Any],
) -> tuple[list[Event], int]:
    """
    The events of C{target} in C{window}, one per identity, long lines
    joined; and how many more copies of them there were.

    @param target: a bucket path, an index URL or an archive URL.
    @param name: the index name (for an index).
    @param run: runs a coroutine function of the reactor to its end (for
        an index or an archive).
    @raise ValueError: a bad URL.
    @raise OSError: a bucket path cannot be read.
    @raise Unreadable: an archive object is missing or corrupt.
    """
    if target.startswith(("sqlite:", "elasticsearch:")):
        events = run(lambda reactor: _index_events(target, name, window, reactor))
    elif is_archive_url(target):
        events = run(lambda reactor: _archive_events(target, window, reactor))
    else:
        events = _bucket_events(Path(target), window)
    unique = {e.identity: e for e in events}
    ordered = sorted(unique.values(), key=lambda e: (e.shn, e.point, e.identity))
    return [e for e in whole_lines(ordered) if window.holds(e)], len(events) - len(unique)


def _bucket_events(path: Path, window: Window) -> list[Event]:
    def report(problem: str) -> None:
        print(f"logship verify: {problem}", file=sys.stderr)

    events: list[Event] = []
    for file in bucket_files([path]):
        try:
            events += (e for e in read_file(file, report) if e.shn in window.hosts)
        except Unreadable as e:
            report(str(e))
    return events


async def _index_events(url: str, name: str, window: Window, reactor: Any) -> list[Event]:
    index = open_index(url, name, reactor, create=False)
    query = Query(start=window.start, end=window.end, hosts=tuple(window.hosts), limit=MAX_LIMIT)
    events: list[Event] = []
    try:
        while True:
            page = await index.search(query)
            events += page.events
            if page.next is None:
                return events
            query = replace(query, cursor=page.next)
    finally:
        await index.close()


async def _archive_events(url: str, window: Window, reactor: Any) -> list[Event]:
    archive = open_existing_archive(url, reactor)
    events: list[Event] = []
    try:
        for _, key in await archive_bucket_keys(archive, window.start, window.end):
            events += (e for e in await read_object(archive, key) if e.shn in window.hosts)
        return events
    finally:
        await archive.close()


@dataclass
class Comparison:
    """
    What L{compare} found.

    @ivar lines: lines in the files.
    @ivar events: events of the target in the window.
    @ivar missing: lines no event accounts for, in file order.
    @ivar extra: events no line accounts for, in time order.
    @ivar copies: copies of an occurrence beyond the first in the target
        (they collapse in the porter).
    """

    lines: int
    events: int
    missing: list[Line]
    extra: list[Event]
    copies: int = 0


def compare(lines: Sequence[Line], events: Sequence[Event], copies: int = 0) -> Comparison:
    """
    Compare lines and events as multisets of C{(host, message)}.

    A line is matched first with an event of the same key in the same
    second, then (a line without a timestamp, timed by the file) with any
    event of its key left; so when a message recurs, the lines reported
    missing are those at the times that have no event.

    @param copies: how many copies were collapsed (for the report).
    """
    # for each key, the seconds of its events not matched yet
    unmatched: dict[Key, Counter[int]] = {}
    for event in events:
        unmatched.setdefault((event.shn, event.message), Counter())[
            event.point // TICKS_PER_SECOND] += 1
    aside = []
    for line in lines:
        seconds = unmatched.get(line.key)
        second = line.point // TICKS_PER_SECOND
        if seconds is not None and seconds[second] > 0:
            seconds[second] -= 1
        else:
            aside.append(line)
    missing = []
    for line in aside:
        seconds = unmatched.get(line.key, Counter())
        left = next((s for s, n in seconds.items() if n > 0), None)
        if left is None:
            missing.append(line)
        else:
            seconds[left] -= 1
    extra = []
    for event in sorted(events, key=lambda e: e.point):
        seconds = unmatched[(event.shn, event.message)]
        if seconds[event.point // TICKS_PER_SECOND] > 0:
            seconds[event.point // TICKS_PER_SECOND] -= 1
            extra.append(event)
    return Comparison(len(lines), len(events), missing, extra, copies)


def report(result: Comparison, out: BinaryIO, show: int) -> None:
    """
    Write the missing and extra lines (at most C{show} of each) and a
    summary line.
    """
    for line in result.missing[:show]:
        out.write(b"missing %s: %s\n" % (line.where.encode(), line.key[1]))
    if len(result.missing) > show:
        out.write(b"... and %d more missing\n" % (len(result.missing) - show))
    for event in result.extra[:show]:
        out.write(b"extra: %s\n" % event_text(event))
    if len(result.extra) > show:
        out.write(b"... and %d more extra\n" % (len(result.extra) - show))
    out.write(
        b"%d lines, %d events in range (%d more copies collapsed): %d missing, %d extra\n"
        % (result.lines, result.events, result.copies, len(result.missing), len(result.extra))
    )


def run_verify(
    args: argparse.Namespace,
    out: BinaryIO,
    run: Callable[[Callable[[Any], Any]], Any],
    now: float,
) -> int:
    """
    Run C{logship verify}.

    @param run: runs a coroutine function of the reactor to its end
        (L{logship.plumbing.onreactor.run_on_reactor}).
    @param now: the time of the check.
    @return: 0 when every line is stored once and nothing else, 1 if not.
    @raise OSError: a file or the bucket path cannot be read.
    @raise ValueError: a bad target URL, or files without lines.
    """
    lines = [
        line for path in args.files
        for line in file_lines(
            path, host=args.host, tz=args.tz, year=args.year, now=now, hint=args.format
        )
    ]
    if not lines:
        raise ValueError("the files hold no lines")
    window = window_of(lines, args.slack)
    events, copies = target_events(args.against, args.name, window, run)
    result = compare(lines, events, copies)
    report(result, out, args.show)
    return 1 if result.missing or result.extra else 0
