"""Tests for L{logship.core.pack}: the packed (columnar, compressed) bucket."""

from __future__ import annotations

import calendar
import gzip
import hashlib
import lzma
import re
import struct
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logship.core import pack as pack_module
from logship.core.event import Event, encode, pack_origin
from logship.core.pack import MAGIC, PACK_VERSION, CorruptPack, pack, unpack
from logship.core.points import PointSequencer
from tests import strategies
from tests.corpus import LOG_NAMES, corpus_file, corpus_lines

SECOND = 10**8

SAMPLE = [
    Event(1_796_885_746 * SECOND, 255, b"LabSZ", b"sshd", b"24200", b"Invalid user x"),
    Event(1_796_885_746 * SECOND + 1, 38, b"LabSZ", b"sshd", b"24200", b"", continued=True),
    Event(1_796_885_745 * SECOND + 747 * 10**5, 0, b"zk1", b"", None, b"a\nb", structured=True),
    Event(0, 255, b"", b"", None, b"\xff\x00 %s"),
    Event(2**64 - 1, 7, b"h" * 255, b"a" * 255, b"p" * 255, b"last"),
    Event(2**64 - 2, 7, b"h", b"a", b"1", b"50% of 10.0.0.1:80 %s\n\xff3 %%9"),
    Event(2**64 - 3, 7, b"h", b"a", b"1", b"50% of 10.0.0.2:80 %s\n\xff4 %%9"),
]


def test_round_trip_sample() -> None:
    """
    unpack(pack(events)) gives the same events in the same order.
    """
    data = pack(SAMPLE)
    assert data[:4] == MAGIC
    assert unpack(data) == SAMPLE
    assert unpack(memoryview(data)) == SAMPLE
    assert unpack(pack([])) == []
    assert unpack(pack(SAMPLE[:1], level=0)) == SAMPLE[:1]
    assert unpack(pack(SAMPLE, level=9)) == SAMPLE


def test_templates() -> None:
    """
    Messages are cut into literal pieces and variables (runs holding a
    digit); the last two SAMPLE events share one template.
    """
    templates, indexes, variables = pack_module._templates([e.message for e in SAMPLE[-2:]])
    assert indexes == b"\x00\x00"
    assert variables == b"50%\n50%\n10.0.0.1:80\n10.0.0.2:80\n3\n4\n%%9\n%%9\n"
    assert templates == b"\x01\x04" + b"".join(
        bytes([len(p)]) + p for p in [b"", b" of ", b" %s\n\xff", b" ", b""]
    )


def test_template_cut_is_linear() -> None:
    """
    Long runs of variable bytes without a digit (the worst case of a naive
    pattern) pack in linear time.
    """
    message = b"a" * 40960 + b" " + b"b." * 20480
    started = time.perf_counter()
    assert unpack(pack([Event(0, 0, b"", b"", None, message)])) == [
        Event(0, 0, b"", b"", None, message)
    ]
    assert time.perf_counter() - started < 2


@given(st.lists(strategies.events(strategies.messages(max_size=300)), max_size=30))
@settings(max_examples=200, deadline=None)
def test_round_trip(events: list[Event]) -> None:
    """
    Any list of events survives pack/unpack.
    """
    assert unpack(pack(events)) == events


@pytest.mark.parametrize(
    "event, reason",
    [
        (Event(-1, 0, b"", b"", None, b""), "point"),
        (Event(2**64, 0, b"", b"", None, b""), "point"),
        (Event(0, 256, b"", b"", None, b""), "pri"),
        (Event(0, 0, b"h" * 256, b"", None, b""), "shn"),
        (Event(0, 0, b"", b"a" * 256, None, b""), "app"),
        (Event(0, 0, b"", b"", b"", b""), "pid"),
        (Event(0, 0, b"", b"", b"p" * 256, b""), "pid"),
    ],
)
def test_pack_rejects(event: Event, reason: str) -> None:
    """
    Fields out of range raise ValueError.
    """
    with pytest.raises(ValueError, match=reason):
        pack([event])


def test_truncated() -> None:
    """
    Every proper prefix of a pack is rejected.
    """
    data = pack(SAMPLE)
    for n in range(len(data)):
        with pytest.raises(CorruptPack):
            unpack(data[:n])


def same_or_corrupt(data: bytes, events: list[Event]) -> None:
    """
    C{unpack(data)} raises L{CorruptPack} or gives exactly C{events}; any
    other exception fails the test.
    """
    try:
        got = unpack(data)
    except CorruptPack:
        return
    assert got == events


@given(st.lists(strategies.events(strategies.messages(max_size=200)), max_size=8), st.data())
@settings(max_examples=300, deadline=None)
def test_corrupted_byte(events: list[Event], data: st.DataObject) -> None:
    """
    Changing any byte of any pack gives CorruptPack or the same events,
    never another exception.
    """
    packed = pack(events)
    i = data.draw(st.integers(0, len(packed) - 1))
    value = data.draw(st.integers(0, 255).filter(lambda v: v != packed[i]))
    same_or_corrupt(packed[:i] + bytes([value]) + packed[i + 1 :], events)


@given(st.lists(strategies.events(strategies.messages(max_size=200)), max_size=8), st.data())
@settings(max_examples=200, deadline=None)
def test_truncated_or_extended(events: list[Event], data: st.DataObject) -> None:
    """
    Cutting any pack short, or adding bytes, gives CorruptPack, never
    another exception (nor other events).
    """
    packed = pack(events)
    n = data.draw(st.integers(0, len(packed) - 1))
    with pytest.raises(CorruptPack):
        unpack(packed[:n])
    with pytest.raises(CorruptPack):
        unpack(packed + data.draw(st.binary(min_size=1, max_size=8)))


def test_every_byte_corrupted() -> None:
    """
    Each byte of the SAMPLE pack, changed in each bit, is detected (or, in
    a header byte that nothing depends on, gives the same events).
    """
    packed = pack(SAMPLE)
    for i in range(len(packed)):
        for bit in range(8):
            same_or_corrupt(packed[:i] + bytes([packed[i] ^ (1 << bit)]) + packed[i + 1 :], SAMPLE)


def compress(body: bytes, length: int | None = None) -> bytes:
    """
    A raw LZMA2 stream of C{body}, as L{pack} makes it for a declared
    length C{length} (default: the body's).
    """
    filters = pack_module._filters(len(body) if length is None else length, 6)
    return lzma.compress(body, format=lzma.FORMAT_RAW, filters=filters)


def rebuild(
    body: bytes, count: int, compressed: bytes | None = None, version: int = PACK_VERSION
) -> bytes:
    """
    A pack of a given body, with a correct checksum.
    """
    header = struct.pack(
        ">4sBII32s", MAGIC, version, count, len(body), hashlib.sha256(body).digest()
    )
    return header + (compress(body) if compressed is None else compressed)


def body_of(packed: bytes) -> bytes:
    """
    The body of a pack, decompressed without checks.
    """
    length = int.from_bytes(packed[9:13], "big")
    return lzma.decompress(
        packed[45:], format=lzma.FORMAT_RAW, filters=pack_module._filters(length)
    )


@pytest.mark.parametrize(
    "mutate, reason",
    [
        (lambda p: b"LSPX" + p[4:], "bad magic"),
        (lambda p: p[:4] + b"\x01" + p[5:], "unknown pack version 1"),
        (lambda p: p[:4] + b"\x04" + p[5:], "unknown pack version 4"),
        (lambda p: p + b"\x00", "trailing bytes"),
        (lambda p: p[:-3], "truncated"),
        (lambda p: p[:45] + b"\xff" * 10, "bad compressed data"),
        (lambda p: p[:13] + b"\x00" + p[14:], "checksum mismatch"),
        (lambda p: p[:9] + (len(body_of(p)) - 1).to_bytes(4, "big") + p[13:], "larger than"),
        (lambda p: p[:9] + (len(body_of(p)) + 1).to_bytes(4, "big") + p[13:], "body is"),
        (lambda p: p[:5] + (10**6).to_bytes(4, "big") + p[9:], "cannot fit"),
    ],
)
def test_bad_packs(mutate, reason: str) -> None:  # type: ignore[no-untyped-def]
    """
    Bad magic, version, checksum, sizes, truncation and trailing bytes are
    refused with a clear reason.
    """
    with pytest.raises(CorruptPack, match=reason):
        unpack(mutate(pack(SAMPLE)))


def test_decompression_bomb() -> None:
    """
    A body larger than declared, or a declared size over the limit, stops
    without inflating it all.
    """
    bomb = compress(b"\x00" * (64 << 20), 100)
    assert len(bomb) < 20_000
    started = time.perf_counter()
    with pytest.raises(CorruptPack, match="larger than"):
        unpack(rebuild(b"\x00" * 100, 1, compressed=bomb))
    assert time.perf_counter() - started < 1
    body = body_of(pack(SAMPLE))
    with pytest.raises(CorruptPack, match="exceeds the limit"):
        unpack(rebuild(body, len(SAMPLE)), max_size=len(body) - 1)
    assert unpack(rebuild(body, len(SAMPLE)), max_size=len(body)) == SAMPLE


def make_body(**columns: bytes) -> bytes:
    """
    A body for one event, with some columns replaced.
    """
    body = {
        "seconds": b"\x00",
        "exponents": b"\x00",
        "mantissas": b"\x00",
        "pri": b"\x00",
        "flags": b"\x00",
        "hosts": b"\x01\x01h",
        "host_index": b"\x00",
        "apps": b"\x01\x01a",
        "app_index": b"\x00",
        "pid_lengths": b"\x00",
        "pids": b"",
        "origins": b"\x00",
        "templates": b"\x01\x00\x07message",
        "template_index": b"\x00",
        "variables": b"",
    }
    body.update(columns)
    return b"".join(body.values())


def test_make_body() -> None:
    """
    The body helper makes a valid body.
    """
    assert unpack(rebuild(make_body(), 1)) == [Event(0, 0, b"h", b"a", None, b"message")]
    assert unpack(rebuild(make_body(pid_lengths=b"\x02", pids=b"42"), 1))[0].pid == b"42"
    two_slots = make_body(templates=b"\x01\x02\x01a\x01b\x00", variables=b"1\n2\n")
    assert unpack(rebuild(two_slots, 1))[0].message == b"a1b2"
    with_origin = make_body(flags=b"\x01", origins=ORIGIN_COLUMNS)
    assert unpack(rebuild(with_origin, 1))[0].origin == pack_origin(7, 1, 2)


#: The origin columns of one event with origin (7, 1, 2): a source
#: dictionary of one 4-byte tag, index 0, file 1, offset delta +2.
ORIGIN_COLUMNS = b"\x01\x04\x00\x00\x00\x07" + b"\x00" + b"\x01" + b"\x04"


def test_version_2_reads() -> None:
    """
    A pack of version 2 (no origin columns, written before origins) still
    reads, its events without origins; an origin flag there is refused.
    """
    body = make_body(origins=b"")
    assert unpack(rebuild(body, 1, version=2)) == [Event(0, 0, b"h", b"a", None, b"message")]
    with pytest.raises(CorruptPack, match="origin flag in a pack of version 2"):
        unpack(rebuild(make_body(flags=b"\x01", origins=b""), 1, version=2))


@pytest.mark.parametrize(
    "columns, count, reason",
    [
        ({"seconds": b"\x80" * 10 + b"\x01"}, 1, "overlong varint in the point second"),
        ({"exponents": b"\x09"}, 1, "exponent is larger than 8"),
        ({"hosts": b"\x01\x05h"}, 1, "."),
        ({"hosts": b"\x7f"}, 1, "impossible host dictionary size"),
        ({"app_index": b"\x01"}, 1, "outside its dictionary"),
        ({"pid_lengths": b"\x7f"}, 1, "body ends inside the pid column"),
        ({"templates": b"\x7f"}, 1, "impossible template count"),
        ({"templates": b"\x01\x7f"}, 1, "impossible template slot count"),
        ({"templates": b"\x01\x00\x09ab"}, 1, "body ends inside the template column"),
        ({"template_index": b"\x01"}, 1, "template index is outside its dictionary"),
        ({"variables": b"1\n"}, 1, "1 variables, the templates need 0"),
        ({"variables": b"1"}, 1, "0 variables, the templates need 0"),
        ({"templates": b"\x01\x01\x00\x00", "variables": b""}, 1, "need 1"),
        ({"templates": b"\x01\x00\x07message" + b"\x00" * 30}, 3, "."),
        ({"seconds": b"\x01"}, 1, "point out of range"),
        ({"flags": b"\x01", "origins": ORIGIN_COLUMNS[:6] + b"\x01" + ORIGIN_COLUMNS[7:]}, 1,
         "source index is outside its dictionary"),
        ({"flags": b"\x01", "origins": b"\x01\x02\x00\x07" + ORIGIN_COLUMNS[6:]}, 1,
         "source tag of 2 bytes"),
        ({"flags": b"\x01", "origins": ORIGIN_COLUMNS[:-1] + b"\x01"}, 1, "out of range"),
        ({"mantissas": b"\xfe\xff\xff\xff\x0f"}, 1, "point out of range"),
    ],
)
def test_malformed_body(columns: dict[str, bytes], count: int, reason: str) -> None:
    """
    A body with a correct checksum but malformed columns is refused.
    """
    with pytest.raises(CorruptPack, match=reason):
        unpack(rebuild(make_body(**columns), count))


# ---------------------------------------------------------------------------
# Compression on the corpus.  These events come from a crude split of the
# corpus lines, good enough to measure the layout (the parser has its own
# tests); the year is 2026 where a line gives none, times are UTC.

_MONTHS = {m: i for i, m in enumerate(b"Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}
_SEVERITY = {b"error": 3, b"ERROR": 3, b"WARN": 4, b"warn": 4, b"notice": 5, b"INFO": 6}
_SYSLOG = re.compile(rb"^(\w{3}) ([ \d]\d) (\d\d):(\d\d):(\d\d) (\S+) ([^:\[]+)(?:\[(\d+)\])?: (.*)$")
_APACHE = re.compile(rb"^\[\w{3} (\w{3}) (\d\d) (\d\d):(\d\d):(\d\d) (\d{4})\] \[(\w+)\] (.*)$")
_HDFS = re.compile(rb"^(\d\d)(\d\d)(\d\d) (\d\d)(\d\d)(\d\d) (\d+) (\w+) ([^:]+): (.*)$")
_ZOOKEEPER = re.compile(
    rb"^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d),(\d{3}) - (\w+) +(.*)$"
)


def _ticks(*fields: int) -> int:
    return calendar.timegm((*fields, 0, 0, 0)) * SECOND


def crude_event(name: str, line: bytes, sequencer: PointSequencer) -> Event:
    """
    An event from one corpus line, split crudely by the file's format.
    """
    if m := _SYSLOG.match(line):
        point = _ticks(2026, _MONTHS[m[1]], int(m[2]), int(m[3]), int(m[4]), int(m[5]))
        return Event(sequencer.next(point, SECOND), 255, m[6], m[7], m[8], m[9])
    if m := _APACHE.match(line):
        point = _ticks(int(m[6]), _MONTHS[m[1]], int(m[2]), int(m[3]), int(m[4]), int(m[5]))
        pri = 8 + _SEVERITY.get(m[7], 6)
        return Event(sequencer.next(point, SECOND), pri, b"web1", b"httpd", None, m[8])
    if m := _HDFS.match(line):
        point = _ticks(2000 + int(m[1]), *(int(m[i]) for i in range(2, 7)))
        pri = 8 + _SEVERITY.get(m[8], 6)
        return Event(sequencer.next(point, SECOND), pri, b"dn1", m[9], m[7], m[10])
    if m := _ZOOKEEPER.match(line):
        point = _ticks(*(int(m[i]) for i in range(1, 7))) + int(m[7]) * 10**5
        pri = 8 + _SEVERITY.get(m[8], 6)
        return Event(sequencer.next(point, 10**5), pri, b"zk1", b"zookeeper", None, m[9])
    return Event(sequencer.next(1_796_885_746 * SECOND, SECOND), 255, b"", b"", None, line)


def ratios(name: str) -> dict[str, float]:
    """
    Sizes relative to C{gzip -6} of the raw file: of the append-only record
    file (gzip -6 too), and of the packed bucket of the events sorted by
    point, as the porter archives them.
    """
    raw = corpus_file(name).read_bytes()
    sequencer = PointSequencer()
    events = [crude_event(name, line, sequencer) for line in corpus_lines(name)]
    events.sort(key=lambda e: e.point)
    records = b"".join(len(d).to_bytes(2, "big") + d for d in map(encode, events))
    packed = pack(events)
    assert unpack(packed) == events
    gzip_raw = len(gzip.compress(raw, 6, mtime=0))
    return {
        "records": len(gzip.compress(records, 6, mtime=0)) / gzip_raw,
        "pack": len(packed) / gzip_raw,
    }


@pytest.mark.parametrize("name", LOG_NAMES)
def test_pack_beats_gzip(name: str) -> None:
    """
    On each corpus log, the packed bucket is at most 0.7 times C{gzip -6}
    of the raw lines (the aim of issue 4), and the record file is larger
    than the raw lines, gzipped.
    """
    got = ratios(name)
    assert got["pack"] <= 0.7 < 1 < got["records"]


def test_varint_fast_path() -> None:
    """
    Columns of small values take the one-byte path; large ones round-trip.
    """
    assert pack_module._varints([0, 1, 127]) == b"\x00\x01\x7f"
    assert pack_module._varints([128, 2**64 - 1]) == b"\x80\x01" + b"\xff" * 9 + b"\x01"
    reader = pack_module._Reader(pack_module._varints([5, 300, 2**64 - 1]))
    assert reader.varints(3, "x") == [5, 300, 2**64 - 1]
    reader.done()
