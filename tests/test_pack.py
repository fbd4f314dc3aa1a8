"""Tests for L{logship.pack}: the packed (columnar, compressed) bucket."""

from __future__ import annotations

import calendar
import hashlib
import re
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logship import pack as pack_module
from logship.event import Event, encode
from logship.pack import MAGIC, CorruptPack, pack, unpack
from logship.points import PointSequencer
from tests import strategies
from tests.corpus import LOG_NAMES, corpus_file, corpus_lines

SECOND = 10**8

SAMPLE = [
    Event(1_796_885_746 * SECOND, 255, b"LabSZ", b"sshd", b"24200", b"Invalid user x"),
    Event(1_796_885_746 * SECOND + 1, 38, b"LabSZ", b"sshd", b"24200", b"", continued=True),
    Event(1_796_885_745 * SECOND + 747 * 10**5, 0, b"zk1", b"", None, b"a\nb", structured=True),
    Event(0, 255, b"", b"", None, b"\xff\x00 %s"),
    Event(2**64 - 1, 7, b"h" * 255, b"a" * 255, b"p" * 255, b"last"),
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
    no_newline = [e for e in SAMPLE if b"\n" not in e.message]
    assert unpack(pack(no_newline, level=9)) == no_newline


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


@given(st.data())
@settings(max_examples=200)
def test_corrupted_byte(data: st.DataObject) -> None:
    """
    Changing any byte of a pack is detected.
    """
    packed = pack(SAMPLE)
    i = data.draw(st.integers(0, len(packed) - 1))
    value = data.draw(st.integers(0, 255).filter(lambda v: v != packed[i]))
    with pytest.raises(CorruptPack):
        unpack(packed[:i] + bytes([value]) + packed[i + 1 :])


def rebuild(body: bytes, count: int, compressed: bytes | None = None) -> bytes:
    """
    A pack of a given body, with a correct checksum.
    """
    header = struct.pack(">4sBII32s", MAGIC, 1, count, len(body), hashlib.sha256(body).digest())
    return header + (zlib.compress(body) if compressed is None else compressed)


def body_of(packed: bytes) -> bytes:
    return zlib.decompress(packed[45:])


@pytest.mark.parametrize(
    "mutate, reason",
    [
        (lambda p: b"LSPX" + p[4:], "bad magic"),
        (lambda p: p[:4] + b"\x02" + p[5:], "unknown pack version 2"),
        (lambda p: p + b"\x00", "trailing bytes"),
        (lambda p: p[:-3], "truncated"),
        (lambda p: p[:45] + b"\x00" * 10, "bad compressed data"),
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
    bomb = zlib.compress(b"\x00" * (64 << 20), 9)
    with pytest.raises(CorruptPack, match="larger than"):
        unpack(rebuild(b"\x01" + b"\x00" * 100, 1, compressed=bomb))
    body = body_of(pack(SAMPLE))
    with pytest.raises(CorruptPack, match="exceeds the limit"):
        unpack(rebuild(body, len(SAMPLE)), max_size=len(body) - 1)
    assert unpack(rebuild(body, len(SAMPLE)), max_size=len(body)) == SAMPLE


def make_body(**columns: bytes) -> bytes:
    """
    A body for one event, with some columns replaced.
    """
    body = {
        "layout": b"\x01",
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
        "text": b"message",
    }
    body.update(columns)
    return b"".join(body.values())


def test_make_body() -> None:
    """
    The body helper makes a valid body.
    """
    assert unpack(rebuild(make_body(), 1)) == [Event(0, 0, b"h", b"a", None, b"message")]
    assert unpack(rebuild(make_body(pid_lengths=b"\x02", pids=b"42"), 1))[0].pid == b"42"


@pytest.mark.parametrize(
    "columns, count, reason",
    [
        ({"layout": b"\x05"}, 1, "unknown body layout 5"),
        ({"seconds": b"\x80" * 10 + b"\x01"}, 1, "overlong varint in the point second"),
        ({"exponents": b"\x09"}, 1, "exponent is larger than 8"),
        ({"hosts": b"\x01\x05h"}, 1, "."),
        ({"hosts": b"\x7f"}, 1, "impossible host dictionary size"),
        ({"app_index": b"\x01"}, 1, "outside its dictionary"),
        ({"pid_lengths": b"\x09"}, 1, "pid"),
        ({"text": b"a\nb"}, 1, "2 messages for 1 events"),
        ({"layout": b"\x00", "text": b"\x09ab"}, 1, "body ends inside the message column"),
        ({"layout": b"\x00", "text": b"\x01abc"}, 1, "2 bytes left over"),
        ({"text": b"message" + b"\x00" * 30}, 3, "."),
        ({"seconds": b"\x01"}, 1, "point out of range"),
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
    zlib-6 sizes relative to the raw file: of the raw lines, of the
    append-only record file, and of the packed bucket.
    """
    raw = corpus_file(name).read_bytes()
    sequencer = PointSequencer()
    events = [crude_event(name, line, sequencer) for line in corpus_lines(name)]
    records = b"".join(len(d).to_bytes(2, "big") + d for d in map(encode, events))
    packed = pack(events, 6)
    assert unpack(packed) == events
    return {
        "raw": len(zlib.compress(raw, 6)) / len(raw),
        "records": len(zlib.compress(records, 6)) / len(raw),
        "pack": len(packed) / len(raw),
    }


@pytest.mark.parametrize("name", LOG_NAMES)
def test_pack_beats_raw_lines(name: str) -> None:
    """
    On each corpus log, the packed bucket (zlib 6) is no larger than zlib 6
    of the raw lines, and smaller than zlib 6 of the record file.
    """
    got = ratios(name)
    assert got["pack"] <= got["raw"] < got["records"]


def test_varint_fast_path() -> None:
    """
    Columns of small values take the one-byte path; large ones round-trip.
    """
    assert pack_module._varints([0, 1, 127]) == b"\x00\x01\x7f"
    assert pack_module._varints([128, 2**64 - 1]) == b"\x80\x01" + b"\xff" * 9 + b"\x01"
    reader = pack_module._Reader(pack_module._varints([5, 300, 2**64 - 1]))
    assert reader.varints(3, "x") == [5, 300, 2**64 - 1]
    reader.done()
