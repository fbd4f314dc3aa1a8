"""Counting in and out: what was written against what the cluster holds.

What was written is a list of L{Line}s; each becomes the events logship's
own L{LineEncoder} makes of it (one, or several parts of a long line), and
each event is counted by C{(host, message bytes)}.  What came out is read
with logship's own code: the recent index (L{SqliteStore}), the archive's
objects (L{unpack}), and the bucket files of the bucks and the tailers'
spools (L{iter_records}, L{decode}).

  - L{snapshot}, at a quiet moment (every tailer caught up): every event on
    a buck or in a spool is in the archive, or on at least 2 bucks, or in
    a spool and on 1 buck.  Files are read in the order spools, bucks,
    archive: a file deleted meanwhile was archived first, so the archive,
    read last, has its events.
  - L{account}, at the end: per key, how many the index holds against how
    many were written, and the archive against the index.  A shortfall is
    sorted into three causes:

      - I{downstream}: an identity seen on a buck, in a spool or in the
        archive that the index lacks (a real loss);
      - I{merged}: identical lines (same host, app, text and second) that
        the product made one event: what identity by text and time did
        before occurrence identity (issue 9); a regression now.  A line
        without a timestamp takes the tailer's clock, so identical ones may
        share any second;
      - I{other}: the rest (a real loss).

    Extra events are I{reread} when they are of lines without a timestamp
    (read again after a tailer restart, such a line takes the new reading's
    time, so another identity), I{extra} otherwise.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path

from logship.core.bucket import TornRecord, iter_records
from logship.core.event import CorruptEvent, Event, decode
from logship.core.ingest import LineEncoder
from logship.core.pack import unpack
from logship.core.parse import parse_line
from logship.core.query import Query
from logship.index.sqlite import SqliteStore
from tests.integration.chaos.inputs import Line

Key = tuple[bytes, bytes]
Identity = bytes


def key_of(event: Event) -> Key:
    return (event.shn, event.message)


def identity_of(event: Event) -> Identity:
    return event.identity


@dataclass
class Expected:
    """
    What the written lines should give.

    @ivar counts: events per key.
    @ivar lines: per key, the index in the written list of the line of
        each event, in writing order.
    @ivar groups: per key, how many distinct (app, second) the lines have:
        at least that many events survive even when identical lines at the
        same second merge (C{1} for lines without a timestamp).
    @ivar phases: the phase of each written line.
    @ivar timeless: the keys of lines without a timestamp (their events'
        points are the tailer's clock when it read them).
    """

    counts: Counter[Key] = field(default_factory=Counter)
    lines: dict[Key, list[int]] = field(default_factory=lambda: defaultdict(list))
    groups: dict[Key, int] = field(default_factory=dict)
    phases: list[int] = field(default_factory=list)
    timeless: set[Key] = field(default_factory=set)


def expected(written: list[Line], hosts: dict[str, bytes], tz: tzinfo) -> Expected:
    """
    The events of C{written}, made by logship's own encoder.

    @param hosts: the host of each file's tailer (for lines naming none).
    """
    result = Expected()
    bases: dict[Key, set[tuple[bytes, int] | None]] = defaultdict(set)
    now = time.time()
    for number, line in enumerate(written):
        result.phases.append(line.phase)
        host = hosts[line.file]
        events = LineEncoder(host=host, tz=tz, source=0).events(line.data, now, 0)
        parsed = parse_line(line.data, now=now, tz=tz)
        timeless = parse_line(line.data, now=now + 1, tz=tz).point != parsed.point
        base = None if timeless else (parsed.app, parsed.point)
        for event in events:
            key = key_of(event)
            if base is None:
                result.timeless.add(key)
            result.counts[key] += 1
            result.lines[key].append(number)
            bases[key].add(base)
    for key, found in bases.items():
        result.groups[key] = 1 if None in found else len(found)
    return result


def read_index(path: Path) -> list[Event]:
    """
    Every event of the sqlite index C{path} (C{DIR/recent.sqlite}).
    """
    if not path.exists():
        return []
    store = SqliteStore(path, create=False)
    try:
        found: list[Event] = []
        cursor = None
        while True:
            page = store.search(Query(limit=10_000, cursor=cursor), total=False)
            found.extend(page.events)
            cursor = page.next
            if cursor is None:
                return found
    finally:
        store.close()


def read_archive(root: Path) -> list[Event]:
    """
    Every event of every bucket object of the C{dir:} archive at C{root}.
    """
    return [e for path in sorted((root / "buckets").rglob("*.lsp"))
            for e in unpack(path.read_bytes())]


def read_buckets(root: Path) -> Iterator[Event]:
    """
    The events of every bucket file under C{root}, skipping a torn last
    record, a record that does not decode, and files deleted meanwhile.
    """
    for path in sorted(root.rglob("*.b")):
        try:
            with open(path, "rb") as f:
                try:
                    for _, record in iter_records(f):
                        try:
                            yield decode(record)
                        except CorruptEvent:
                            continue
                except TornRecord:
                    pass
        except FileNotFoundError:
            continue


@dataclass
class Snapshot:
    """
    What L{snapshot} found.

    @ivar seen: every identity found, by key.
    @ivar thin: identities held by too few copies, with where they were.
    """

    seen: dict[Key, set[Identity]]
    thin: list[tuple[Key, str]]


def snapshot(spools: Iterable[Path], bucks: list[Path], archive: Path) -> Snapshot:
    """
    Check that every event not archived yet is on at least 2 bucks, or in a
    spool and on 1 buck (see the module docstring).
    """
    seen: dict[Key, set[Identity]] = defaultdict(set)
    keys: dict[Identity, Key] = {}

    def note(events: Iterable[Event]) -> set[Identity]:
        found = set()
        for event in events:
            identity = identity_of(event)
            found.add(identity)
            keys[identity] = key_of(event)
        return found

    spooled = set().union(*(note(read_buckets(root)) for root in spools))
    held = [note(read_buckets(root)) for root in bucks]
    archived = note(read_archive(archive))
    for identity, key in keys.items():
        seen[key].add(identity)
    thin = []
    for identity in spooled.union(*held):
        copies = sum(identity in h for h in held)
        if identity in archived or copies >= 2 or (copies == 1 and identity in spooled):
            continue
        where = [f"buck{i}" for i, h in enumerate(held) if identity in h]
        where += ["spool"] if identity in spooled else []
        thin.append((keys[identity], "+".join(where) or "nowhere"))
    return Snapshot(seen, thin)


@dataclass
class Shortfall:
    """
    The lines of one key that are missing or extra.

    @ivar key: C{(host, message)}.
    @ivar lines: the written lines concerned (the last ones written for a
        shortfall: when identical lines merge, the first one stays).
    @ivar cause: C{"merged"}, C{"downstream"}, C{"other"} for a loss;
        C{"extra"} for more events than lines, C{"reread"} when they are
        of a line without a timestamp (read again after a restart, it gets
        the time of the new reading: another identity).
    """

    key: Key
    lines: list[int]
    cause: str


@dataclass
class Account:
    """
    The verdict on a run's output.

    @ivar written: events expected.
    @ivar indexed: events in the index.
    @ivar archived: events in the archive.
    @ivar shortfalls: every key with a loss or an extra, per cause.
    @ivar archive_mismatch: keys whose count in the archive differs from
        the index's: C{(key, in index, in archive)}.
    """

    written: int
    indexed: int
    archived: int
    shortfalls: list[Shortfall]
    archive_mismatch: list[tuple[Key, int, int]]

    def count(self, cause: str) -> int:
        return sum(len(s.lines) for s in self.shortfalls if s.cause == cause)

    @property
    def real_losses(self) -> int:
        return self.count("downstream") + self.count("other")


def account(
    want: Expected, index: list[Event], archive: list[Event] | None,
    seen: dict[Key, set[Identity]], phase_of: Callable[[Event], int | None] = lambda e: None,
) -> Account:
    """
    Compare the index (and the archive, when given: a settled run) with
    what was written.

    @param seen: identities found on the way (snapshots), by key.
    @param phase_of: the phase in which the tailer read an event of a line
        without a timestamp (from its point), or C{None}: extra events of
        such lines are put down to the phases that hold more of them than
        they wrote.  Other extras, and losses, are put down to the last
        lines written of their key.
    """
    indexed = Counter(key_of(e) for e in index)
    every_seen: dict[Key, set[Identity]] = defaultdict(set)
    for key, ids in seen.items():
        every_seen[key] |= ids
    for event in [*index, *(archive or [])]:
        every_seen[key_of(event)].add(identity_of(event))
    shortfalls = []
    for key in set(want.counts) | set(indexed):
        written, got = want.counts[key], indexed[key]
        lines = want.lines.get(key, [])
        if got > written:
            events = [e for e in index if key_of(e) == key] if key in want.timeless else []
            shortfalls.append(Shortfall(key, _extras(want, key, got - written, events, phase_of),
                                        "reread" if key in want.timeless else "extra"))
            continue
        lost = written - got
        if not lost:
            continue
        downstream = min(lost, max(0, len(every_seen[key]) - got))
        merged = min(lost - downstream, written - want.groups.get(key, written))
        other = lost - downstream - merged
        tail = lines[written - lost :]
        for cause, count in (("downstream", downstream), ("merged", merged), ("other", other)):
            if count:
                shortfalls.append(Shortfall(key, tail[:count], cause))
                tail = tail[count:]
    mismatch = []
    if archive is not None:
        archived = Counter(key_of(e) for e in archive)
        mismatch = [(k, indexed[k], archived[k]) for k in set(indexed) | set(archived)
                    if indexed[k] != archived[k]]
    return Account(sum(want.counts.values()), len(index),
                   -1 if archive is None else len(archive), shortfalls, mismatch)


def _extras(
    want: Expected, key: Key, surplus: int, events: list[Event],
    phase_of: Callable[[Event], int | None],
) -> list[int]:
    """
    The written lines to put C{surplus} extra events of C{key} down to
    (C{-1} for an event no line explains).
    """
    lines = want.lines.get(key, [])
    if not lines:
        return [-1] * surplus
    chosen: list[int] = []
    read = Counter(phase_of(e) for e in events)
    for phase, count in sorted(read.items(), key=lambda item: (item[0] is None, item[0] or 0)):
        if phase is None:
            continue
        mine = [n for n in lines if want.phases[n] == phase]
        chosen += (mine or lines)[-1:] * max(0, count - len(mine))
    chosen = chosen[:surplus]
    return chosen + lines[len(lines) - (surplus - len(chosen)) :] if len(chosen) < surplus else chosen
